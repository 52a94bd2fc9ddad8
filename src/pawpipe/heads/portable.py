"""A fitted kernel head as plain arrays: saved without pickle, predicted with numpy, or torch or CuPy on
a GPU, so neither cuML nor a particular scikit-learn is needed where the model is used (the Kaggle
notebook), and loading runs no code (`np.load(..., allow_pickle=False)` reads arrays and nothing else).

A head is one standardisation of its inputs (mean, scale), units (each a support vector machine's
decision function: support vectors, dual coefficients, intercept, read from a fitted scikit-learn or
cuML estimator, which expose the same attributes) sharing one kernel, and an output layer over the
units' values:

- identity: the value (an SVR);
- affine: each unit's value x scale + offset (an SVR per standardised target);
- softmax: softmax(values @ weights + bias) over the classes (calibrated SVCs; binary: the positive
  class's probability);
- sigmoid: sigmoid(value x weight + bias) per unit (a calibrated SVC per label).

The svr rule writes it as `svr.npz` (format FORMAT); `load_kernel_head` reads it.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io import atomic_path

FORMAT = "pawpipe-kernel/1"
OLD_FORMATS = ("pawpipe-svr/1", "pawpipe-svc/1")
KERNELS = ("rbf", "linear", "poly", "sigmoid")
OUTPUTS = ("identity", "affine", "softmax", "sigmoid")


class KernelFileError(ValueError):
    pass


def to_numpy(x) -> np.ndarray:
    """An array as numpy, whichever library holds it (numpy, cupy, cuML's CumlArray, torch)."""
    if hasattr(x, "to_output"):  # cuML's CumlArray
        x = x.to_output("numpy")
    if hasattr(x, "get"):  # cupy
        x = x.get()
    if hasattr(x, "detach"):  # torch
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def resolved_gamma(model, n_features: int, var: np.ndarray) -> float:
    """The gamma the estimator used. scikit-learn (and cuML) keep it as `_gamma` after fitting; else it
    is recomputed from its definition on standardised features (column variances 1, or 0 if constant)."""
    fitted = getattr(model, "_gamma", None)
    if fitted is not None:
        return float(to_numpy(fitted))
    gamma = model.gamma
    if gamma == "auto":
        return 1.0 / n_features
    if gamma == "scale":
        spread = float(np.mean(var > 0)) or 1.0
        return 1.0 / (n_features * spread)
    return float(gamma)


@dataclass
class Unit:
    """One support vector machine's decision function: sum of dual_coef * K(support_vector, x) + intercept."""

    support_vectors: np.ndarray
    dual_coef: np.ndarray
    intercept: float

    @classmethod
    def from_fitted(cls, model) -> Unit:
        return cls(
            to_numpy(model.support_vectors_).astype(np.float64),
            to_numpy(model.dual_coef_).astype(np.float64).ravel(),
            float(to_numpy(model.intercept_).ravel()[0]),
        )


@dataclass
class Kernel:
    name: str
    gamma: float
    degree: int = 3
    coef0: float = 0.0

    @classmethod
    def from_fitted(cls, model, n_features: int, var) -> Kernel:
        name = getattr(model, "kernel", "rbf")
        if name not in KERNELS:
            raise ValueError(f"kernel {name!r} cannot be saved portably; use one of {KERNELS}")
        return cls(name, resolved_gamma(model, n_features, to_numpy(var)), int(getattr(model, "degree", 3)),
                   float(getattr(model, "coef0", 0.0)))  # fmt: skip

    def __call__(self, xs, sv, lib):
        dot = xs @ sv.T
        if self.name == "linear":
            return dot
        if self.name == "poly":
            return (self.gamma * dot + self.coef0) ** self.degree
        if self.name == "sigmoid":
            return lib.tanh(self.gamma * dot + self.coef0)
        sq = (xs * xs).sum(1)[:, None] + (sv * sv).sum(1)[None, :] - 2 * dot
        return lib.exp(-self.gamma * lib.clip(sq, 0, None))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def array_lib(x, device: str | None):
    """(xp, asarray) where a prediction computes: CuPy for CuPy input, torch on a CUDA `device`, numpy
    otherwise: the one GPU dispatch of every kernel head's prediction."""
    if hasattr(x, "__cuda_array_interface__") and not hasattr(x, "detach"):
        import cupy as cp

        return cp, cp.asarray
    if device and str(device).startswith("cuda"):
        # torch only where a CUDA device is named: the notebook's path (its image has torch); the svr rule's
        # RAPIDS env has no torch and never names one, so the import is not one of that env's needs.
        torch = importlib.import_module("torch")
        return torch, lambda a: torch.as_tensor(a, device=device)
    return np, np.asarray


@dataclass
class PortableKernel:
    """A kernel head from its arrays; predict() gives float64 values or probabilities."""

    mean: np.ndarray
    scale: np.ndarray
    kernel: Kernel
    units: list[Unit]
    output: str = "identity"
    weights: np.ndarray | None = None  # softmax: (units, classes); sigmoid and affine: (units,)
    bias: np.ndarray | None = None  # softmax: (classes,); sigmoid and affine: (units,)
    positive_only: bool = False  # softmax over two classes from one unit: the positive class's probability
    meta: dict = field(default_factory=dict)

    @property
    def feature_sets(self) -> list[str]:
        return list(self.meta.get("feature_sets", ["embedding"]))

    def standardised(self, x, xp, asarray):
        """As the fit saw them: (x - mean) / scale in float64, then float32 (the estimators' input dtype)."""
        if isinstance(x, np.ndarray) or not hasattr(x, "__cuda_array_interface__"):
            return ((np.asarray(x, np.float64) - self.mean) / self.scale).astype(np.float32).astype(np.float64)
        return ((x.astype("float64") - asarray(self.mean)) / asarray(self.scale)).astype("float32").astype("float64")

    def values(self, x, device: str | None = None, chunk: int = 2048) -> np.ndarray:
        """Each unit's decision value for the rows of x, (n, units), computed in float64 as libsvm does,
        where array_lib says."""
        xp, asarray = array_lib(x, device)
        xs = self.standardised(x, xp, asarray)
        out = []
        for u in self.units:
            sv, coef = asarray(u.support_vectors), asarray(u.dual_coef)
            parts = [to_numpy(self.kernel(asarray(xs[i : i + chunk]), sv, xp) @ coef) for i in range(0, len(xs), chunk)]
            out.append((np.concatenate(parts) if parts else np.zeros(0)) + u.intercept)
        return np.stack(out, axis=1)

    def predict(self, x, device: str | None = None) -> np.ndarray:
        """Values (n,) or (n, targets), or probabilities: the positive class's (n,), or (n, classes | labels)."""
        v = self.values(x, device)
        if self.output == "identity":
            return v[:, 0] if v.shape[1] == 1 else v
        if self.output == "affine":
            return v * self.weights + self.bias
        if self.output == "sigmoid":
            return 1 / (1 + np.exp(-(v * self.weights + self.bias)))
        probs = softmax(v @ self.weights + self.bias)
        return probs[:, 1] if self.positive_only else probs

    def save(self, path: str | Path) -> None:
        k = self.kernel
        header = {"format": FORMAT, "kernel": k.name, "gamma": k.gamma, "degree": k.degree, "coef0": k.coef0,
                  "intercepts": [u.intercept for u in self.units], "output": self.output,
                  "positive_only": self.positive_only, **self.meta}  # fmt: skip
        arrays = {"mean": self.mean, "scale": self.scale}
        if self.weights is not None:
            arrays |= {"weights": np.asarray(self.weights, float), "bias": np.asarray(self.bias, float)}
        for i, u in enumerate(self.units):
            arrays |= {f"support_vectors_{i}": u.support_vectors, f"dual_coef_{i}": u.dual_coef}
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, header=np.array(json.dumps(header)), **arrays)

    @classmethod
    def load(cls, path: str | Path) -> PortableKernel:
        header, arrays = read_arrays(path)
        kernel = Kernel(header.pop("kernel"), header.pop("gamma"), header.pop("degree"), header.pop("coef0"))
        units = [Unit(arrays[f"support_vectors_{i}"], arrays[f"dual_coef_{i}"], b)
                 for i, b in enumerate(header.pop("intercepts"))]  # fmt: skip
        output, positive = header.pop("output"), header.pop("positive_only")
        return cls(arrays["mean"], arrays["scale"], kernel, units, output, arrays.get("weights"), arrays.get("bias"),
                   positive, meta=header)  # fmt: skip


def read_arrays(path: str | Path) -> tuple[dict, dict]:
    """(header, arrays) of a kernel head file; no pickle is ever loaded."""
    path = Path(path)
    rerun = "rerun the svr stage (snakemake refits it as svr.npz)"
    if path.suffix == ".pkl":
        raise KernelFileError(
            f"{path}: a pickled SVR; pawpipe no longer loads pickles (they run code when loaded). {rerun[0].upper()}"
            f"{rerun[1:]}"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        header = json.loads(str(arrays.pop("header")))
    except (OSError, ValueError, KeyError) as exc:
        raise KernelFileError(f"{path}: not a pawpipe kernel head file ({exc}); {rerun}") from None
    found = header.pop("format", None)
    if found != FORMAT:
        older = " (written by an earlier pawpipe)" if found in OLD_FORMATS else ""
        raise KernelFileError(f"{path}: format {found!r}{older}, expected {FORMAT!r}; {rerun}")
    return header, arrays


def load_kernel_head(path: str | Path) -> PortableKernel:
    """The kernel head saved in svr.npz."""
    return PortableKernel.load(path)
