"""The kernel head on frozen features: an SVR for a regression, calibrated SVCs for a classification
(pawpipe.svc); cuML on a CUDA GPU, scikit-learn otherwise, the same outputs either way.

Either fit is saved and predicted as plain arrays (pawpipe.svr_model), never as a pickle."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from .features import FeatureInputs, combine, load_feature_sets
from .frames import lib_for, standardise
from .io import read_csv, read_json, write_csv, write_json
from .logs import log
from .svr_model import PortableSVR
from .task import Task


@dataclass
class SVRConfig:
    """The `svr` block of the validated config (its defaults live in the schema)."""

    backend: str
    threads: int
    C: float
    epsilon: float
    kernel: str
    gamma: str | float
    cache_size: float
    clip_target: float | None
    features: dict
    select: dict
    grid: dict | None
    # Whether the job holds a GPU slot (its rule's gpu resource, from cluster.svr_backend); None outside the
    # workflow (the benchmark, a notebook): then this machine decides, by the same rule.
    gpu: bool | None = None


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


def choose_backend(requested: str, cuml_ok: bool, why: str = "", gpu: bool | None = None) -> str:
    """The backend a job fits with: cluster.svr_backend's choice for a job that holds a GPU slot (`gpu`)
    or not, then what runs: an explicit cuml request fails loudly where cuML cannot run, auto falls back
    to scikit-learn. `gpu` None (outside the workflow): cuML where it runs here."""
    from .cluster import svr_backend

    wanted = svr_backend(requested, "auto" if gpu is None else ("cuda" if gpu else "cpu"), True, True)
    if wanted == "cuml" and not cuml_ok:
        if requested == "cuml":
            raise RuntimeError(
                f"svr.backend: cuml requested but {why}; install RAPIDS on a CUDA machine or set svr.backend: auto"
            )
        return "sklearn"
    return wanted


def make_svr(backend: str, cfg: SVRConfig):
    """The backend's SVR estimator with the config's C, epsilon, kernel, gamma and kernel cache: the one
    constructor the pipeline and the benchmark use."""
    kwargs = dict(C=cfg.C, epsilon=cfg.epsilon, kernel=cfg.kernel, gamma=cfg.gamma, cache_size=cfg.cache_size)
    if backend == "cuml":
        from cuml.svm import SVR
    else:
        from sklearn.svm import SVR
    return SVR(**kwargs)


@dataclass
class Standardisation:
    """A fitted standardisation, with StandardScaler's attribute names (read by PortableSVR)."""

    mean_: object
    scale_: object
    var_: object

    def transform(self, x):
        """Standardised x (float64), in x's own array library."""
        return (x - self.mean_) / self.scale_


class SVRHead:
    """Standardise features, then SVR; predictions as float64 numpy arrays on the 1..100 scale.

    Features come as arrays of the backend's library (pawpipe.frames): CuPy for cuML, so a GPU fit
    standardises and fits where the features already are; numpy for scikit-learn."""

    def __init__(self, backend: str, cfg: SVRConfig):
        self.backend, self.cfg = backend, cfg
        self.model = make_svr(backend, cfg)

    def fit(self, x, y) -> SVRHead:
        lib = lib_for(self.backend)
        mean, scale, (xs,) = standardise(lib, x)
        self.scaler = Standardisation(mean, scale, lib.xp.asarray(x, dtype=lib.xp.float64).var(axis=0))
        self.model.fit(xs, lib.asarray(y, lib.xp.float32))
        self._portable = None
        self._portable = self.portable()  # read once: every later prediction uses these arrays
        return self

    def portable(self) -> PortableSVR:
        """The fitted scaler and SVR as plain arrays (see pawpipe.svr_model), whichever the backend."""
        if getattr(self, "_portable", None) is not None:
            self._portable.meta["feature_sets"] = getattr(self, "feature_sets", self._portable.feature_sets)
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

    def predict(self, x) -> np.ndarray:
        """From the portable arrays, as the Kaggle notebook predicts, so that both give the same numbers;
        computed where the features are: on the GPU (CuPy) for CuPy features, with numpy otherwise. The
        backend that fitted the file does not decide it: a cuML fit predicts on a machine without CuPy."""
        if hasattr(x, "__cuda_array_interface__"):
            import cupy as cp

            return self.portable().predict(x, xp=cp, asarray=cp.asarray)
        return self.portable().predict(x)


def select_backend(cfg: SVRConfig, where: str) -> str:
    ok, why = cuml_status() if cfg.backend != "sklearn" and cfg.gpu is not False else (False, "not requested")
    backend = choose_backend(cfg.backend, ok, why, cfg.gpu)
    if backend == "cuml" or cfg.backend == "sklearn":
        reason = ""
    elif cfg.gpu is False:
        reason = "; the job holds no GPU (train.device: cpu, or no GPU visible when the run started)"
    else:
        reason = f"; cuML unavailable: {why}"
    log.info("%s: SVR backend %s (requested %s%s)", where, backend, cfg.backend, reason)
    return backend


def fit_target(y: np.ndarray, cfg: SVRConfig, task: Task | None = None) -> np.ndarray:
    """The target the kernel head fits: a regression's optionally clipped (the rare very high scores are
    mostly noise); a classification's classes as they are."""
    if task is not None and task.classification:
        return y
    return np.minimum(y, cfg.clip_target) if cfg.clip_target is not None else y


def make_head(backend: str, cfg: SVRConfig, n_classes: int = 0):
    """The kernel head for a task: an SVR (n_classes 0: a regression), or calibrated SVCs."""
    if n_classes:
        from .svc import SVCHead

        return SVCHead(backend, cfg, n_classes)
    return SVRHead(backend, cfg)


def fit_predict(
    backend: str, cfg: SVRConfig, x_fit, y_fit, *x_predict, keep_head: bool = True, n_classes: int = 0
) -> dict[str, Any]:
    """Fit one kernel head and predict each of `x_predict`; with timings and the worker's process id (and
    the fitted head unless keep_head is false: a selection needs only the predictions)."""
    t0 = time.perf_counter()
    head = make_head(backend, cfg, n_classes).fit(x_fit, y_fit)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    preds = [head.predict(x) for x in x_predict]
    result = {"preds": preds, "fit_s": fit_s, "predict_s": time.perf_counter() - t0, "pid": os.getpid()}
    return {"head": head, **result} if keep_head else result


def run_fits(
    backend: str, threads: int, tasks: list[tuple], keep_heads: bool = True, n_classes: int = 0
) -> list[dict[str, Any]]:
    """fit_predict(backend, *task) for every task: in `threads` processes with scikit-learn (each fit
    is single-threaded), one after the other with cuML (one GPU). n_classes: see make_head."""
    kw = {"keep_head": keep_heads, "n_classes": n_classes}
    if backend == "cuml" or threads <= 1 or len(tasks) <= 1:
        return [fit_predict(backend, *task, **kw) for task in tasks]
    from joblib import Parallel, delayed

    jobs = (delayed(fit_predict)(backend, *task, **kw) for task in tasks)
    return Parallel(n_jobs=min(threads, len(tasks)))(jobs)


@dataclass(frozen=True)
class SVRJob:
    """The svr rule's inputs and outputs for one fold (the frozen_mlp rule's too: the same features)."""

    fold: int
    folds_csv: str
    inputs: FeatureInputs
    out_model: str
    out_oof: str
    out_test: str
    out_summary: str
    task: str  # task.json
    tuning: str | None = None
    selection: str | None = None  # svr_selection.json, with svr.select.enabled


def fold_feature_sets(job, folds: pd.DataFrame, features: dict, lib) -> tuple[dict, bool]:
    """The fold's feature sets (svr.features): all enabled ones, or those forward selection chose for this
    fold on the other folds' OOF rows; and whether to fit each set alone for the report (not after a
    selection, whose first step already scored each set alone). `job` holds inputs, fold and selection."""
    sets = load_feature_sets(job.inputs, folds, features, lib)
    if not job.selection:
        return sets, len(sets) > 1
    chosen = read_json(job.selection)["folds"][str(job.fold)]["sets"]
    log.info("fold %d: feature sets %s, chosen on the other folds' OOF rows (%s)", job.fold, chosen, job.selection)
    return {name: sets[name] for name in chosen}, False


def classes_of(task: Task) -> int:
    """make_head's n_classes for a task: 0 for a regression."""
    return len(task.classes) if task.classification else 0


def fit_fold(job: SVRJob, cfg: SVRConfig) -> dict[str, Any]:
    """The kernel head on the fold's feature sets together (saved), and for the report on each set alone."""
    task = Task.load(job.task)
    folds = read_csv(job.folds_csv)
    if job.tuning:
        best = read_json(job.tuning)["best"]
        cfg = replace(cfg, C=best["C"], epsilon=best["epsilon"])
        log.info("fold %d: C=%g, epsilon=%g from %s", job.fold, cfg.C, cfg.epsilon, job.tuning)
    backend = select_backend(cfg, f"fold {job.fold}")
    lib = lib_for(backend)
    sets, alone = fold_feature_sets(job, folds, cfg.features, lib)
    val_host = folds["fold"].to_numpy() == job.fold
    val = lib.asarray(val_host)
    y = task.encode(folds[task.target])
    components = {"pred": combine(sets, lib)}
    if alone:
        components.update({f"svr[{name}]": pair for name, pair in sets.items()})
    y_fit = fit_target(y[~val_host], cfg, task)
    tasks = [(cfg, x[~val], y_fit, x[val], x_test) for x, x_test in components.values()]
    fits = dict(zip(components, run_fits(backend, cfg.threads, tasks, n_classes=classes_of(task)), strict=True))
    oof = folds.loc[val_host, ["Id", "fold", task.target]].copy()
    test = pd.DataFrame({"Id": np.load(job.inputs.embeddings)["test_ids"]})
    for name, fit in fits.items():
        task.put(oof, name, fit["preds"][0])
        task.put(test, name, fit["preds"][1])
    main = fits["pred"]
    main["head"].feature_sets = list(sets)
    main["head"].save(job.out_model)
    write_csv(oof, job.out_oof)
    write_csv(test, job.out_test)
    score = task.score(y[val_host], task.get(oof, "pred"))
    log.info(
        "fold %d: %s on %s (%d features) fit %.2fs, predict %.2fs; OOF %s %.4f",
        job.fold, "SVC" if task.classification else "SVR", "+".join(sets), components["pred"][0].shape[1],
        main["fit_s"], main["predict_s"], task.scorer.label, score,
    )  # fmt: skip
    summary = {
        "fold": job.fold,
        "backend": backend,
        "arrays": lib.name,
        "score": score,
        "fit_s": main["fit_s"],
        "predict_s": main["predict_s"],
        "C": cfg.C,
        "epsilon": cfg.epsilon,
        "features": list(sets),
        "workers": len({f["pid"] for f in fits.values()}),
    }
    write_json(summary, job.out_summary)
    return summary
