"""SVR on frozen embeddings: cuML on a CUDA GPU, scikit-learn otherwise, same outputs either way."""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from .data import TARGET
from .io import atomic_path, write_csv
from .logs import log


@dataclass
class SVRConfig:
    backend: str = "auto"
    C: float = 20.0
    epsilon: float = 1.0
    kernel: str = "rbf"
    gamma: str | float = "scale"
    cache_size: float = 1024.0


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

    def save(self, path: str) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            pickle.dump(
                {"backend": self.backend, "config": self.cfg.__dict__, "scaler": self.scaler, "model": self.model}, fh
            )

    @classmethod
    def load(cls, path: str) -> SVRHead:
        with open(path, "rb") as fh:
            try:
                saved = pickle.load(fh)
            except ModuleNotFoundError as exc:
                raise RuntimeError(
                    f"{path} holds a {exc.name} model; run where {exc.name} is installed "
                    f"(a cuML SVR needs RAPIDS and a GPU) or refit with svr.backend: sklearn"
                ) from None
        head = cls.__new__(cls)
        head.backend, head.cfg = saved["backend"], SVRConfig(**saved["config"])
        head.scaler, head.model = saved["scaler"], saved["model"]
        return head

    def predict(self, x: np.ndarray) -> np.ndarray:
        out = self.model.predict(self._to_device(self.scaler.transform(x).astype(np.float32)))
        if hasattr(out, "get"):  # cupy array
            out = out.get()
        return np.asarray(out, dtype=np.float64).ravel()


def fit_fold(
    *, embeddings: str, folds_csv: str, fold: int, cfg: SVRConfig, out_model: str, out_oof: str, out_test: str
) -> dict[str, Any]:
    emb = np.load(embeddings)
    folds = pd.read_csv(folds_csv, dtype={"Id": str})
    if not np.array_equal(emb["train_ids"], folds["Id"].to_numpy(str)):
        raise ValueError(f"{embeddings} rows do not match {folds_csv}; rerun the embed rule for fold {fold}")
    ok, why = cuml_status() if cfg.backend != "sklearn" else (False, "not requested")
    backend = choose_backend(cfg.backend, ok, why)
    log.info(
        "fold %d: SVR backend %s (requested %s%s)",
        fold,
        backend,
        cfg.backend,
        "" if backend == "cuml" or cfg.backend == "sklearn" else f"; cuML unavailable: {why}",
    )
    val = folds["fold"].to_numpy() == fold
    y = folds[TARGET].to_numpy(np.float64)

    t0 = time.perf_counter()
    head = SVRHead(backend, cfg).fit(emb["train"][~val], y[~val])
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    oof_pred, test_pred = head.predict(emb["train"][val]), head.predict(emb["test"])
    predict_s = time.perf_counter() - t0

    oof = folds.loc[val, ["Id", "fold", TARGET]].assign(pred=oof_pred)
    rmse = float(np.sqrt(np.mean((oof_pred - y[val]) ** 2)))
    head.save(out_model)
    write_csv(oof, out_oof)
    write_csv(pd.DataFrame({"Id": emb["test_ids"], "pred": test_pred}), out_test)
    log.info(
        "fold %d: SVR fit %.2fs on %s, predict %.2fs; OOF RMSE %.4f",
        fold,
        fit_s,
        emb["train"][~val].shape,
        predict_s,
        rmse,
    )
    return {"backend": backend, "rmse": rmse, "fit_s": fit_s, "predict_s": predict_s}
