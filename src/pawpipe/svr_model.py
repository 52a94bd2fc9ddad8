"""A fitted kernel head as plain arrays: saved without pickle, predicted with numpy, or torch or cupy on a
GPU. PortableSVR is one support vector machine's decision function (the regression head); PortableSVC
is the classification head: one such function per class (one-vs-rest; one for binary) and a softmax
calibration of their values into probabilities. `load_portable` reads either.

The SVR stage writes `svr.npz`: the standardisation (mean, scale), the support vectors, their dual
coefficients, the intercept and the kernel's parameters, read from a fitted scikit-learn or cuML
estimator (both expose the same attributes). Predicting needs numpy only (torch or CuPy on a GPU), so
neither cuML nor a particular scikit-learn is needed where the model is used, and loading runs
no code: `np.load(..., allow_pickle=False)` reads arrays and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .io import atomic_path

FORMAT = "pawpipe-svr/1"
SVC_FORMAT = "pawpipe-svc/1"
KERNELS = ("rbf", "linear", "poly", "sigmoid")


class SVRFileError(ValueError):
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
class PortableSVR:
    """Standardise, then sum of dual_coef * K(support_vector, x) plus the intercept."""

    mean: np.ndarray
    scale: np.ndarray
    support_vectors: np.ndarray
    dual_coef: np.ndarray
    intercept: float
    kernel: str
    gamma: float
    degree: int = 3
    coef0: float = 0.0
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_fitted(cls, scaler, model, meta: dict | None = None) -> PortableSVR:
        kernel = getattr(model, "kernel", "rbf")
        if kernel not in KERNELS:
            raise ValueError(f"SVR kernel {kernel!r} cannot be saved portably; use one of {KERNELS}")
        mean, scale = to_numpy(scaler.mean_).astype(np.float64), to_numpy(scaler.scale_).astype(np.float64)
        return cls(
            mean=mean,
            scale=scale,
            support_vectors=to_numpy(model.support_vectors_).astype(np.float64),
            dual_coef=to_numpy(model.dual_coef_).astype(np.float64).ravel(),
            intercept=float(to_numpy(model.intercept_).ravel()[0]),
            kernel=kernel,
            gamma=resolved_gamma(model, len(mean), to_numpy(scaler.var_)),
            degree=int(getattr(model, "degree", 3)),
            coef0=float(getattr(model, "coef0", 0.0)),
            meta=dict(meta or {}),
        )

    def save(self, path: str | Path) -> None:
        header = {
            "format": FORMAT,
            "kernel": self.kernel,
            "gamma": self.gamma,
            "degree": self.degree,
            "coef0": self.coef0,
            "intercept": self.intercept,
            **self.meta,
        }
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(
                fh,
                header=np.array(json.dumps(header)),
                mean=self.mean,
                scale=self.scale,
                support_vectors=self.support_vectors,
                dual_coef=self.dual_coef,
            )

    @classmethod
    def load(cls, path: str | Path) -> PortableSVR:
        header, arrays = read_arrays(path, FORMAT)
        fixed = {k: header.pop(k) for k in ("kernel", "gamma", "degree", "coef0", "intercept")}
        return cls(**arrays, **fixed, meta=header)

    @property
    def feature_sets(self) -> list[str]:
        return list(self.meta.get("feature_sets", ["embedding"]))

    def standardise(self, x: np.ndarray) -> np.ndarray:
        """As the fit saw them: StandardScaler's transform, then float32 (the estimators' input dtype)."""
        return ((np.asarray(x, np.float64) - self.mean) / self.scale).astype(np.float32)

    def _kernel(self, xs, sv, lib):
        dot = xs @ sv.T
        if self.kernel == "linear":
            return dot
        if self.kernel == "poly":
            return (self.gamma * dot + self.coef0) ** self.degree
        if self.kernel == "sigmoid":
            return lib.tanh(self.gamma * dot + self.coef0)
        sq = (xs * xs).sum(1)[:, None] + (sv * sv).sum(1)[None, :] - 2 * dot
        return lib.exp(-self.gamma * lib.clip(sq, 0, None))

    def predict(self, x: np.ndarray, xp=np, asarray=np.asarray, chunk: int = 2048) -> np.ndarray:
        """Predictions (float64, shape (n,)) for the rows of x, computed in float64 as libsvm does.

        `xp` is the array library (numpy; or torch or cupy, whose functions used here have numpy's
        names) and `asarray` puts a float64 numpy array where it computes (e.g. on a GPU)."""
        if isinstance(x, np.ndarray) or not hasattr(x, "__cuda_array_interface__"):
            xs = self.standardise(x).astype(np.float64)
        else:  # already on the GPU (CuPy): standardised there, no round trip through the host
            xs = ((x.astype("float64") - asarray(self.mean)) / asarray(self.scale)).astype("float32").astype("float64")
        sv, coef = asarray(self.support_vectors), asarray(self.dual_coef)
        out = [to_numpy(self._kernel(asarray(xs[i : i + chunk]), sv, xp) @ coef) for i in range(0, len(xs), chunk)]
        return (np.concatenate(out) if out else np.zeros(0)) + self.intercept


def read_arrays(path: str | Path, expected: str) -> tuple[dict, dict]:
    """(header, arrays) of a portable kernel head file of format `expected`; no pickle is ever loaded."""
    path = Path(path)
    if path.suffix == ".pkl":
        raise SVRFileError(
            f"{path}: a pickled SVR; pawpipe no longer loads pickles (they run code when loaded). "
            f"Rerun the svr stage (snakemake refits it as svr.npz)"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        header = json.loads(str(arrays.pop("header")))
    except (OSError, ValueError, KeyError) as exc:
        raise SVRFileError(f"{path}: not a pawpipe SVR file ({exc}); rerun the svr stage") from None
    if header.get("format") != expected:
        raise SVRFileError(f"{path}: format {header.get('format')!r}, expected {expected!r}; rerun the svr stage")
    header.pop("format")
    return header, arrays


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class PortableSVC:
    """Calibrated support vector classifiers: each unit's decision value (a PortableSVR's sum of kernel
    terms), then probabilities softmax(values @ weights + bias) over the classes. Binary: one unit, two
    classes, and the positive class's probability is predicted."""

    units: list[PortableSVR]
    weights: np.ndarray  # (units, classes)
    bias: np.ndarray  # (classes,)
    meta: dict = field(default_factory=dict)

    @property
    def feature_sets(self) -> list[str]:
        return list(self.meta.get("feature_sets", ["embedding"]))

    def decision(self, x, xp=np, asarray=np.asarray) -> np.ndarray:
        return np.stack([u.predict(x, xp, asarray) for u in self.units], axis=1)

    def predict(self, x, xp=np, asarray=np.asarray) -> np.ndarray:
        """Probabilities (float64): the positive class's, (n,), for binary; (n, classes) for multiclass."""
        probs = softmax(self.decision(x, xp, asarray) @ self.weights + self.bias)
        return probs[:, 1] if len(self.bias) == 2 and len(self.units) == 1 else probs

    def save(self, path: str | Path) -> None:
        first = self.units[0]
        header = {"format": SVC_FORMAT, "kernel": first.kernel, "gamma": first.gamma, "degree": first.degree,
                  "coef0": first.coef0, "intercepts": [u.intercept for u in self.units], **self.meta}  # fmt: skip
        arrays = {"mean": first.mean, "scale": first.scale, "weights": self.weights, "bias": self.bias}
        for i, u in enumerate(self.units):
            arrays |= {f"support_vectors_{i}": u.support_vectors, f"dual_coef_{i}": u.dual_coef}
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, header=np.array(json.dumps(header)), **arrays)

    @classmethod
    def load(cls, path: str | Path) -> PortableSVC:
        header, arrays = read_arrays(path, SVC_FORMAT)
        shared = {k: header.pop(k) for k in ("kernel", "gamma", "degree", "coef0")}
        units = [
            PortableSVR(
                arrays["mean"],
                arrays["scale"],
                arrays[f"support_vectors_{i}"],
                arrays[f"dual_coef_{i}"],
                intercept,
                **shared,
            )  # fmt: skip
            for i, intercept in enumerate(header.pop("intercepts"))
        ]
        return cls(units, arrays["weights"], arrays["bias"], meta=header)


def load_portable(path: str | Path) -> PortableSVR | PortableSVC:
    """The kernel head saved in svr.npz, whichever kind it is (the file's format says)."""
    return PortableSVC.load(path) if _format(path) == SVC_FORMAT else PortableSVR.load(path)


def _format(path: str | Path) -> str | None:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return json.loads(str(npz["header"])).get("format")
    except (OSError, ValueError, KeyError):
        return None  # PortableSVR.load says what is wrong with the file
