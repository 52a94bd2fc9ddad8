"""Where the kernel head fits: cuML on a CUDA GPU, scikit-learn otherwise (the same outputs either way),
decided for a job by the rule that also sized its GPU request (svr_backend); the estimators by
name; and many fits at once (in processes with scikit-learn, one after the other on the GPU)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from ..logs import log


@dataclass
class SVRConfig:
    """The `svr` block of the validated config (its defaults live in the schema): the kernel head's."""

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
    # Whether the job holds a GPU slot (its rule's gpu resource, from svr_backend); None outside the
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


def svr_backend(requested: str, may_use_gpu: bool, has_cuml: bool) -> str:
    """The kernel head's backend (svr.backend), decided once for a job's GPU request (cluster.gpus) and
    for the job itself (choose_backend), so that a cuML fit always holds a GPU slot and never runs outside
    the cap: sklearn and cuml as asked; auto is cuML where it is installed and the job may take a GPU
    (train.device is not cpu, and a GPU is visible or train.device names one), scikit-learn otherwise."""
    if requested in ("sklearn", "cuml"):
        return requested
    if requested != "auto":
        raise ValueError(f"svr.backend must be auto, cuml or sklearn, not {requested!r}")
    return "cuml" if has_cuml and may_use_gpu else "sklearn"


def choose_backend(requested: str, cuml_ok: bool, why: str = "", gpu: bool | None = None) -> str:
    """The backend a job fits with: svr_backend's choice for a job that holds a GPU slot (`gpu`)
    or not, then what runs: an explicit cuml request fails loudly where cuML cannot run, auto falls back
    to scikit-learn. `gpu` None (outside the workflow): cuML where it runs here."""
    wanted = svr_backend(requested, True if gpu is None else gpu, True)
    if wanted == "cuml" and not cuml_ok:
        if requested == "cuml":
            raise RuntimeError(
                f"svr.backend: cuml requested but {why}; install RAPIDS on a CUDA machine or set svr.backend: auto"
            )
        return "sklearn"
    return wanted


def select_backend(cfg: SVRConfig, where: str) -> str:
    ok, why = cuml_status() if cfg.backend != "sklearn" and cfg.gpu is not False else (False, "not requested")
    backend = choose_backend(cfg.backend, ok, why, cfg.gpu)
    if backend == "cuml" or cfg.backend == "sklearn":
        reason = ""
    elif cfg.gpu is False:
        reason = "; the job holds no GPU (train.device: cpu, or no GPU visible when the run started)"
    else:
        reason = f"; cuML unavailable: {why}"
    log.info("%s: kernel head backend %s (requested %s%s)", where, backend, cfg.backend, reason)
    return backend


def make_estimator(unit: str, backend: str, cfg: SVRConfig):
    """The backend's estimator for one unit (`svr` or `svc`) with the config's C, epsilon, kernel, gamma
    and kernel cache: the one constructor the pipeline and the benchmark use."""
    kwargs = dict(C=cfg.C, kernel=cfg.kernel, gamma=cfg.gamma, cache_size=cfg.cache_size)
    if unit == "svr":
        kwargs["epsilon"] = cfg.epsilon
    if backend == "cuml":
        from cuml import svm
    else:
        from sklearn import svm
    return {"svr": svm.SVR, "svc": svm.SVC}[unit](**kwargs)


def fit_predict(backend: str, spec, cfg: SVRConfig, x_fit, y_fit, *x_predict, keep_head: bool = True) -> dict[str, Any]:
    """Fit one kernel head (of KernelSpec `spec`) and predict each of `x_predict`; with timings and the
    worker's process id (and the fitted head unless keep_head is false: a search needs only predictions)."""
    from .kernel import KernelHead

    t0 = time.perf_counter()
    head = KernelHead(backend, cfg, spec).fit(x_fit, y_fit)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    preds = [head.predict(x) for x in x_predict]
    result = {"preds": preds, "fit_s": fit_s, "predict_s": time.perf_counter() - t0, "pid": os.getpid()}
    return {"head": head, **result} if keep_head else result


def run_fits(backend: str, threads: int, spec, tasks: list[tuple], keep_heads: bool = True) -> list[dict[str, Any]]:
    """fit_predict(backend, spec, *task) for every task (cfg, x_fit, y_fit, *x_predict): in `threads`
    processes with scikit-learn (each fit is single-threaded), one after the other with cuML (one GPU)."""
    if backend == "cuml" or threads <= 1 or len(tasks) <= 1:
        return [fit_predict(backend, spec, *task, keep_head=keep_heads) for task in tasks]
    from joblib import Parallel, delayed

    jobs = (delayed(fit_predict)(backend, spec, *task, keep_head=keep_heads) for task in tasks)
    return Parallel(n_jobs=min(threads, len(tasks)))(jobs)
