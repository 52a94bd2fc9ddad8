"""SVR on frozen embeddings: cuML on a CUDA GPU, scikit-learn otherwise, same outputs either way.

Either fit is saved and predicted as plain arrays (pawpipe.svr_model), never as a pickle."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from .data import TARGET
from .io import write_csv
from .logs import log
from .svr_model import PortableSVR


@dataclass
class SVRConfig:
    backend: str = "auto"
    C: float = 20.0
    epsilon: float = 1.0
    kernel: str = "rbf"
    gamma: str | float = "scale"
    cache_size: float = 1024.0
    clip_target: float | None = None
    features: dict = field(
        default_factory=lambda: {"embedding": True, "metadata": False, "logits": False, "experiments": []}
    )
    grid: dict | None = None


def cuml_status() -> tuple[bool, str]:
    """Whether cuML's SVR can run here, and why not when it cannot."""
    try:
        import cuml  # noqa: F401
        import cupy
    except Exception as exc:  # ImportError, or a CUDA library failing to load
        return False, f"cuML does not import ({type(exc).__name__}: {exc})"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return False, f"no CUDA device ({exc})"
    return (n > 0), ("ok" if n > 0 else "no CUDA device")


def choose_backend(requested: str, cuml_ok: bool, why: str = "") -> str:
    """auto -> cuml when usable, else sklearn; an explicit cuml request fails loudly when it is not."""
    if requested == "sklearn":
        return "sklearn"
    if requested == "cuml":
        if not cuml_ok:
            raise RuntimeError(
                f"svr.backend: cuml requested but {why}; install RAPIDS on a CUDA machine or set svr.backend: auto"
            )
        return "cuml"
    if requested == "auto":
        return "cuml" if cuml_ok else "sklearn"
    raise ValueError(f"svr.backend must be auto, cuml or sklearn, not {requested!r}")


def _make_svr(backend: str, cfg: SVRConfig):
    kwargs = dict(C=cfg.C, epsilon=cfg.epsilon, kernel=cfg.kernel, gamma=cfg.gamma, cache_size=cfg.cache_size)
    if backend == "cuml":
        from cuml.svm import SVR
    else:
        from sklearn.svm import SVR
    return SVR(**kwargs)


class SVRHead:
    """Standardise features, then SVR; predictions as float64 numpy arrays on the 1..100 scale."""

    def __init__(self, backend: str, cfg: SVRConfig):
        self.backend, self.cfg = backend, cfg
        self.scaler = StandardScaler()
        self.model = _make_svr(backend, cfg)

    def _to_device(self, x: np.ndarray):
        if self.backend == "cuml":
            import cupy as cp  # stay on the GPU from here to the prediction: no round trips

            return cp.asarray(x, dtype=cp.float32)
        return x

    def fit(self, x: np.ndarray, y: np.ndarray) -> SVRHead:
        xs = self.scaler.fit_transform(x).astype(np.float32)
        self.model.fit(self._to_device(xs), self._to_device(np.asarray(y, np.float32)))
        return self

    def portable(self) -> PortableSVR:
        """The fitted scaler and SVR as plain arrays (see pawpipe.svr_model), whichever the backend."""
        if getattr(self, "_portable", None) is not None:
            return self._portable
        meta = {
            "backend": self.backend,
            "config": self.cfg.__dict__,
            "feature_sets": getattr(self, "feature_sets", ["embedding"]),
        }
        return PortableSVR.from_fitted(self.scaler, self.model, meta)

    def save(self, path: str) -> None:
        """Plain arrays in an .npz (no pickle): loads and predicts without cuML or scikit-learn."""
        self.portable().save(path)

    @classmethod
    def load(cls, path: str) -> SVRHead:
        portable = PortableSVR.load(path)
        head = cls.__new__(cls)
        head.backend = portable.meta.get("backend", "unknown")
        head.cfg = SVRConfig(**portable.meta.get("config", {}))
        head.feature_sets = portable.feature_sets
        head._portable = portable
        return head

    def predict(self, x: np.ndarray) -> np.ndarray:
        """From the portable arrays, as the Kaggle notebook predicts, so that both give the same numbers;
        computed on the GPU (CuPy) where cuML fitted it."""
        if self.backend == "cuml":
            import cupy as cp

            return self.portable().predict(x, xp=cp, asarray=cp.asarray)
        return self.portable().predict(x)


def select_backend(cfg: SVRConfig, fold: int) -> str:
    ok, why = cuml_status() if cfg.backend != "sklearn" else (False, "not requested")
    backend = choose_backend(cfg.backend, ok, why)
    fallback = "" if backend == "cuml" or cfg.backend == "sklearn" else f"; cuML unavailable: {why}"
    log.info("fold %d: SVR backend %s (requested %s%s)", fold, backend, cfg.backend, fallback)
    return backend


def fit_target(y: np.ndarray, cfg: SVRConfig) -> np.ndarray:
    """The target the SVR fits: optionally clipped (the rare very high scores are mostly noise)."""
    return np.minimum(y, cfg.clip_target) if cfg.clip_target is not None else y


def fit_fold(
    *,
    embeddings: str,
    folds_csv: str,
    fold: int,
    cfg: SVRConfig,
    out_model: str,
    out_oof: str,
    out_test: str,
    train_table: str | None = None,
    test_table: str | None = None,
    tuning: str | None = None,
    logits: str | None = None,
) -> dict[str, Any]:
    from .features import combine, fold_feature_sets
    from .io import read_json

    folds = pd.read_csv(folds_csv, dtype={"Id": str})
    sets = fold_feature_sets(
        embeddings=embeddings,
        folds=folds,
        fold=fold,
        use=cfg.features,
        train_table=train_table,
        test_table=test_table,
        logits=logits,
    )
    if tuning:
        best = read_json(tuning)["best"]
        cfg = replace(cfg, C=best["C"], epsilon=best["epsilon"])
        log.info("fold %d: C=%g, epsilon=%g from %s", fold, cfg.C, cfg.epsilon, tuning)
    backend = select_backend(cfg, fold)
    val = folds["fold"].to_numpy() == fold
    y = folds[TARGET].to_numpy(np.float64)
    y_fit = fit_target(y[~val], cfg)
    test_ids = np.load(embeddings)["test_ids"]

    # The SVR on all enabled sets together, and (for the report) on each set alone.
    components = {"pred": combine(sets)}
    if len(sets) > 1:
        components.update({f"svr[{name}]": pair for name, pair in sets.items()})
    oof = folds.loc[val, ["Id", "fold", TARGET]].copy()
    test = pd.DataFrame({"Id": test_ids})
    timings = {}
    for name, (x_train, x_test) in components.items():
        t0 = time.perf_counter()
        head = SVRHead(backend, cfg).fit(x_train[~val], y_fit)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        oof[name], test[name] = head.predict(x_train[val]), head.predict(x_test)
        timings[name] = (fit_s, time.perf_counter() - t0)
        if name == "pred":
            head.feature_sets = list(sets)
            head.save(out_model)
    rmse = float(np.sqrt(np.mean((oof["pred"] - y[val]) ** 2)))
    write_csv(oof, out_oof)
    write_csv(test, out_test)
    fit_s, predict_s = timings["pred"]
    log.info(
        "fold %d: SVR on %s (%d features) fit %.2fs, predict %.2fs; OOF RMSE %.4f",
        fold,
        "+".join(sets),
        components["pred"][0].shape[1],
        fit_s,
        predict_s,
        rmse,
    )
    return {
        "backend": backend,
        "rmse": rmse,
        "fit_s": fit_s,
        "predict_s": predict_s,
        "C": cfg.C,
        "epsilon": cfg.epsilon,
        "features": list(sets),
    }
