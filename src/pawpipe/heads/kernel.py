"""The kernel head on frozen features: support vector machines (cuML on a GPU, scikit-learn elsewhere,
pawpipe.heads.backend) on the standardised features, one unit per output, saved and predicted as plain
arrays (pawpipe.heads.portable). The task type says what it fits (Task.kernel, a KernelSpec):

- `svr` units on `value` (the target, clipped at svr.clip_target): a regression's SVR;
- `svr` units on `columns`: an SVR per target column, each target standardised on the fold's training
  rows (svr.epsilon in its standard deviations), the output undoing the standardisation;
- `svc` units on `classes`: one classifier per class against the rest (one for binary), their decision
  values calibrated into probabilities by a softmax layer (multinomial logistic regression);
- `svc` units on `labels`: one classifier per label column, each calibrated by its own sigmoid;
- `svc` units on `argmax`: one classifier per class against the rest on each row's largest share, the
  softmax layer calibrated on the soft targets themselves (soft labels).

Calibration is fitted on out-of-sample decision values: each training row's value comes from units
fitted without it (CALIBRATION_FOLDS inner folds, stratified, seeded), so the calibration sees values
like the ones test rows get; the units are then refitted on every training row. Everything predicts
through the portable arrays, as the Kaggle notebook does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from ..frames import lib_for, standardise
from .portable import Kernel, PortableKernel, Unit, softmax, to_numpy

CALIBRATION_FOLDS = 3
CALIBRATION_L2 = 1e-3  # a little weight decay: a separable fold must not push the softmax to infinity


@dataclass(frozen=True)
class KernelSpec:
    """What a task's kernel head fits (see the module's docstring)."""

    unit: str  # svr | svc
    targets: str  # value | columns | classes | labels | argmax
    output: str  # identity | affine | softmax | sigmoid
    n_outputs: int = 1


def inner_folds(y: np.ndarray, k: int = CALIBRATION_FOLDS, seed: int = 0) -> np.ndarray:
    """A stratified, seeded assignment of rows to k inner folds."""
    fold = np.empty(len(y), int)
    rng = np.random.default_rng(seed)
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        fold[rows] = np.arange(len(rows)) % k
    return fold


def fit_calibration(values: np.ndarray, targets: np.ndarray, unit_classes: list[int], n_classes: int):
    """(weights, bias) of softmax(values @ weights + bias) minimising the log loss of `targets` (class
    indices, or rows of class probabilities), starting from "each unit's value for its own class"."""
    n, units = values.shape
    soft = targets.ndim == 2
    onehot = targets if soft else np.eye(n_classes)[targets]

    def loss(theta):
        w, b = theta[: units * n_classes].reshape(units, n_classes), theta[units * n_classes :]
        p = softmax(values @ w + b)
        grad = (p - onehot) / n
        if soft:
            nll = -np.mean((onehot * np.log(np.clip(p, 1e-15, None))).sum(1))
        else:
            nll = -np.mean(np.log(np.clip((p * onehot).sum(1), 1e-15, None)))
        gw = values.T @ grad + 2 * CALIBRATION_L2 * w
        return nll + CALIBRATION_L2 * (w**2).sum(), np.concatenate([gw.ravel(), grad.sum(0)])

    start = np.zeros((units, n_classes))
    start[np.arange(units), unit_classes] = 1.0
    start = np.concatenate([start.ravel(), np.zeros(n_classes)])
    res = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return res.x[: units * n_classes].reshape(units, n_classes), res.x[units * n_classes :]


class _Scaler:
    """A fitted standardisation of x (StandardScaler's attribute names) and x standardised by it."""

    def __init__(self, lib, x):
        self.mean_, self.scale_, (self.xs,) = standardise(lib, x)
        self.var_ = lib.xp.asarray(x, dtype=lib.xp.float64).var(axis=0)


def checked_unit(model, scaler: _Scaler, kernel: Kernel) -> Unit:
    """One fitted classifier's unit, its value checked against the estimator's decision function on a few
    training rows (the sign convention of dual_coef_ is the library's; a flipped one is turned)."""
    unit = Unit.from_fitted(model)
    rows = scaler.xs[: min(64, len(scaler.xs))]
    expected = to_numpy(model.decision_function(rows)).astype(np.float64).ravel()
    plain = PortableKernel(np.zeros(rows.shape[1]), np.ones(rows.shape[1]), kernel, [unit])  # rows are standardised
    got = plain.values(to_numpy(rows))[:, 0]
    tol = 1e-3 * (1 + np.abs(expected).max())
    if np.abs(got - expected).max() <= tol:
        return unit
    if np.abs(got + expected).max() <= tol:
        return Unit(unit.support_vectors, -unit.dual_coef, -unit.intercept)
    raise RuntimeError(
        f"the SVC's support vectors do not reproduce its decision function (max difference "
        f"{np.abs(got - expected).max():.3g}); the {type(model).__module__} version is not one pawpipe knows"
    )


class KernelHead:
    """Standardise the features, fit the spec's units, then its output layer; predict() from the portable
    arrays (values, or probabilities), computed where the features are (CuPy on the GPU, numpy).

    Features come as arrays of the backend's library (pawpipe.frames): CuPy for cuML, so a GPU fit
    standardises and fits where the features already are; numpy for scikit-learn."""

    def __init__(self, backend: str, cfg, spec: KernelSpec):
        self.backend, self.cfg, self.spec = backend, cfg, spec
        self.feature_sets: list[str] = ["embedding"]

    # -- units --
    def _fit_units(self, x, unit_targets: list[np.ndarray], lib) -> tuple[_Scaler, Kernel, list[Unit]]:
        """Standardise x on its own rows and fit one unit per target vector."""
        from .backend import make_estimator

        scaler, units, kernel = _Scaler(lib, x), [], None
        for t in unit_targets:
            model = make_estimator(self.spec.unit, self.backend, self.cfg).fit(
                scaler.xs, lib.asarray(t, lib.xp.float32)
            )
            kernel = kernel or Kernel.from_fitted(model, len(to_numpy(scaler.mean_)), scaler.var_)
            units.append(checked_unit(model, scaler, kernel) if self.spec.unit == "svc" else Unit.from_fitted(model))
        return scaler, kernel, units

    def _portable(self, scaler, kernel, units, **output) -> PortableKernel:
        mean, scale = to_numpy(scaler.mean_).astype(np.float64), to_numpy(scaler.scale_).astype(np.float64)
        return PortableKernel(mean, scale, kernel, units, **output)

    # -- fits --
    def fit(self, x, y) -> KernelHead:
        lib = lib_for(self.backend)
        fit = {"value": self._fit_value, "columns": self._fit_columns, "classes": self._fit_classes,
               "labels": self._fit_labels, "argmax": self._fit_argmax}[self.spec.targets]  # fmt: skip
        self.portable = fit(x, y, lib)
        self.portable.meta = {"backend": self.backend, "config": dict(self.cfg.__dict__)}
        return self

    def _fit_value(self, x, y, lib) -> PortableKernel:
        y = np.asarray(y)
        if self.cfg.clip_target is not None:  # the rare very high scores are mostly noise
            y = np.minimum(y, self.cfg.clip_target)
        return self._portable(*self._fit_units(x, [y], lib))

    def _fit_columns(self, x, y, lib) -> PortableKernel:
        y = np.asarray(y, np.float64)
        center, spread = y.mean(axis=0), y.std(axis=0)
        spread = np.where(spread > 0, spread, 1.0)
        fitted = self._fit_units(x, [(y[:, k] - center[k]) / spread[k] for k in range(y.shape[1])], lib)
        return self._portable(*fitted, output="affine", weights=spread, bias=center)

    def _calibration(self, x, hard: np.ndarray, targets: np.ndarray, unit_classes: list[int], lib):
        """(weights, bias) of a softmax over the spec's classes on the out-of-sample values of units for
        `unit_classes` (each class of `hard` against the rest), fitted against `targets` (class indices,
        or distributions)."""
        inner = inner_folds(hard)
        values = np.empty((len(hard), len(unit_classes)))
        for k in range(CALIBRATION_FOLDS):
            rows = inner != k
            unit_targets = [hard[rows] == c for c in unit_classes]
            part = self._portable(*self._fit_units(x[lib.asarray(rows)], unit_targets, lib))
            values[~rows] = part.values(x[lib.asarray(~rows)])
        return fit_calibration(values, targets, unit_classes, max(self.spec.n_outputs, 2))

    def _fit_classes(self, x, y, lib) -> PortableKernel:
        y = np.asarray(y, np.int64)
        unit_classes = [1] if self.spec.n_outputs == 2 else list(range(self.spec.n_outputs))
        weights, bias = self._calibration(x, y, y, unit_classes, lib)
        fitted = self._fit_units(x, [y == c for c in unit_classes], lib)
        return self._portable(
            *fitted, output="softmax", weights=weights, bias=bias, positive_only=len(unit_classes) == 1
        )

    def _fit_argmax(self, x, y, lib) -> PortableKernel:
        y = np.asarray(y, np.float64)
        hard = y.argmax(axis=1)
        unit_classes = [c for c in range(y.shape[1]) if 0 < (hard == c).sum() < len(hard)]
        weights, bias = self._calibration(x, hard, y, unit_classes, lib)
        fitted = self._fit_units(x, [hard == c for c in unit_classes], lib)
        return self._portable(*fitted, output="softmax", weights=weights, bias=bias)

    def _fit_labels(self, x, y, lib) -> PortableKernel:
        """A calibrated classifier per label column, each with its own inner folds and a 2-class softmax,
        which is a sigmoid of its value (weight w1 - w0, bias b1 - b0)."""
        y = np.asarray(y, np.int64)
        weights, bias = np.empty(y.shape[1]), np.empty(y.shape[1])
        for j in range(y.shape[1]):
            w, b = self._calibration(x, y[:, j], y[:, j], [1], lib)
            weights[j], bias[j] = w[0, 1] - w[0, 0], b[1] - b[0]
        fitted = self._fit_units(x, [y[:, j] == 1 for j in range(y.shape[1])], lib)
        return self._portable(*fitted, output="sigmoid", weights=weights, bias=bias)

    def predict(self, x, device: str | None = None) -> np.ndarray:
        """From the portable arrays, as the Kaggle notebook predicts, so that both give the same numbers."""
        self.portable.meta["feature_sets"] = list(self.feature_sets)
        return self.portable.predict(x, device)

    def save(self, path: str) -> None:
        """Plain arrays in an .npz (no pickle): loads and predicts without cuML or scikit-learn."""
        self.portable.meta["feature_sets"] = list(self.feature_sets)
        self.portable.save(path)
