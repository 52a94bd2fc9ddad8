"""The kernel head for classification: support vector classifiers (cuML where it runs, scikit-learn
elsewhere) with calibrated probabilities, saved and predicted as plain arrays (svr_model.PortableSVC).

One classifier per class against the rest (one for a binary task), on the standardised features with
the config's C, kernel, gamma and kernel cache. Their decision values become probabilities through a
softmax layer (multinomial logistic regression) fitted on out-of-sample values: each training row's
value comes from classifiers fitted without it (CALIBRATION_FOLDS inner folds, stratified, seeded),
so the calibration sees values like the ones test rows get. The classifiers are then refitted on every
training row. Everything predicts through the portable arrays, as the Kaggle notebook does.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from .frames import lib_for, standardise
from .svr_model import PortableSVC, PortableSVR, softmax, to_numpy

CALIBRATION_FOLDS = 3
CALIBRATION_L2 = 1e-3  # a little weight decay: a separable fold must not push the softmax to infinity


def make_svc(backend: str, cfg):
    kwargs = dict(C=cfg.C, kernel=cfg.kernel, gamma=cfg.gamma, cache_size=cfg.cache_size)
    if backend == "cuml":
        from cuml.svm import SVC
    else:
        from sklearn.svm import SVC
    return SVC(**kwargs)


def inner_folds(y: np.ndarray, k: int = CALIBRATION_FOLDS, seed: int = 0) -> np.ndarray:
    """A stratified, seeded assignment of rows to k inner folds."""
    fold = np.empty(len(y), int)
    rng = np.random.default_rng(seed)
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        fold[rows] = np.arange(len(rows)) % k
    return fold


def fit_calibration(values: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(weights, bias) of softmax(values @ weights + bias) minimising the log loss of classes y."""
    n, units = values.shape
    onehot = np.eye(n_classes)[y]

    def loss(theta):
        w, b = theta[: units * n_classes].reshape(units, n_classes), theta[units * n_classes :]
        p = softmax(values @ w + b)
        grad = (p - onehot) / n
        value = -np.mean(np.log(np.clip((p * onehot).sum(1), 1e-15, None))) + CALIBRATION_L2 * (w**2).sum()
        gw = values.T @ grad + 2 * CALIBRATION_L2 * w
        return value, np.concatenate([gw.ravel(), grad.sum(0)])

    start = np.zeros(units * n_classes + n_classes)
    if units == n_classes:  # one-vs-rest: start from "each class's own value"
        start[: units * n_classes] = np.eye(n_classes).ravel()
    else:  # binary: one value for the positive class
        start[: units * n_classes] = [0.0, 1.0]
    res = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return res.x[: units * n_classes].reshape(units, n_classes), res.x[units * n_classes :]


class SVCHead:
    """Calibrated support vector classifiers on standardised features; predict() gives probabilities:
    the positive class's (n,) for binary, (n, classes) for multiclass."""

    def __init__(self, backend: str, cfg, n_classes: int):
        self.backend, self.cfg, self.n_classes = backend, cfg, n_classes

    def _units(self, y: np.ndarray) -> list[np.ndarray]:
        """Each classifier's 0/1 labels: the positive class (binary), or each class against the rest."""
        classes = [1] if self.n_classes == 2 else range(self.n_classes)
        return [(y == c).astype(np.float32) for c in classes]

    def _fit_units(self, x, y: np.ndarray, lib) -> list[PortableSVR]:
        """Standardise x on its own rows and fit each classifier; each unit standardises as it was fitted."""
        mean, scale, (xs,) = standardise(lib, x)
        scaler = _Scaler(mean, scale, lib.xp.asarray(x, dtype=lib.xp.float64).var(axis=0))
        units = []
        for labels in self._units(y):
            model = make_svc(self.backend, self.cfg).fit(xs, lib.asarray(labels, lib.xp.float32))
            units.append(checked_unit(model, xs, scaler, self.cfg.kernel))
        return units

    def fit(self, x, y) -> SVCHead:
        lib = lib_for(self.backend)
        y = np.asarray(y, np.int64)
        inner = inner_folds(y)
        values = np.empty((len(y), len(self._units(y))))
        for k in range(CALIBRATION_FOLDS):
            units = self._fit_units(x[lib.asarray(inner != k)], y[inner != k], lib)
            held = x[lib.asarray(inner == k)]
            values[inner == k] = np.stack([_predict(u, held) for u in units], axis=1)
        weights, bias = fit_calibration(values, y, self.n_classes)
        units = self._fit_units(x, y, lib)
        self._portable = PortableSVC(units, weights, bias, {"backend": self.backend, "config": self.cfg.__dict__})
        return self

    def portable(self) -> PortableSVC:
        self._portable.meta["feature_sets"] = getattr(self, "feature_sets", self._portable.feature_sets)
        return self._portable

    def save(self, path: str) -> None:
        self.portable().save(path)

    def predict(self, x) -> np.ndarray:
        """From the portable arrays (see SVRHead.predict: computed where the features are)."""
        return _predict(self.portable(), x)


class _Scaler:
    def __init__(self, mean, scale, var):
        self.mean_, self.scale_, self.var_ = mean, scale, var


def _predict(portable, x) -> np.ndarray:
    if hasattr(x, "__cuda_array_interface__"):
        import cupy as cp

        return portable.predict(x, xp=cp, asarray=cp.asarray)
    return portable.predict(x)


def checked_unit(model, xs, scaler, kernel: str) -> PortableSVR:
    """One fitted classifier as a PortableSVR whose value is the estimator's decision function, checked
    on a few training rows (the sign convention of dual_coef_ is the library's; a flipped one is turned)."""
    unit = PortableSVR.from_fitted(scaler, model, {})
    rows = xs[: min(64, len(xs))]
    expected = to_numpy(model.decision_function(rows)).astype(np.float64).ravel()
    mean, scale = unit.mean, unit.scale
    got = PortableSVR(np.zeros_like(mean), np.ones_like(scale), unit.support_vectors, unit.dual_coef,
                      unit.intercept, kernel, unit.gamma, unit.degree, unit.coef0).predict(to_numpy(rows))  # fmt: skip
    tol = 1e-3 * (1 + np.abs(expected).max())
    if np.abs(got - expected).max() <= tol:
        return unit
    if np.abs(got + expected).max() <= tol:
        unit.dual_coef, unit.intercept = -unit.dual_coef, -unit.intercept
        return unit
    raise RuntimeError(
        f"the SVC's support vectors do not reproduce its decision function (max difference "
        f"{np.abs(got - expected).max():.3g}); the {type(model).__module__} version is not one pawpipe knows"
    )
