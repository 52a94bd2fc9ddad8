"""(i) The RAPIDS write-up's head-to-head on one frozen embedding matrix: scikit-learn's SVR, cuML's SVR
and a PyTorch MLP head (pawpipe.heads.frozen_mlp, on the GPU where there is one), warmed, in one process. Fit
and predict seconds, each as a ratio to scikit-learn's SVR, and each head's RMSE on held-out rows.

The matrix is a fold's size (8,921 rows by the backbone's width): the fit rows, a validation slice (the
MLP stops early on it; the SVRs ignore it) and as many held-out rows again, scored by every head.
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch

from ..heads.backend import SVRConfig, cuml_status
from ..heads.frozen_mlp import FrozenMLPConfig, fit_frozen_mlp
from ..heads.kernel import KernelHead
from ..metrics import rmse
from ..task import Task


def synthetic(rows: int, dim: int, seed: int = 0):
    """Embeddings with a weak signal in a few columns and a Pawpularity-like noisy target (as section c)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, dim)).astype(np.float32)
    y = np.clip(38 + 10 * x[:, :8].mean(1) * np.sqrt(8) + rng.normal(0, 15, rows), 1, 100)
    return x, y


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def time_svr(backend: str, cfg: SVRConfig, spec, x_fit, y_fit, x_held) -> dict:
    if backend == "cuml":  # warm-up: the CUDA context and kernels, as every later fit of a job has them
        KernelHead(backend, cfg, spec).fit(x_fit[:500], y_fit[:500]).predict(x_held[:50])
    t0 = time.perf_counter()
    head = KernelHead(backend, cfg, spec).fit(x_fit, y_fit)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = head.predict(x_held)
    return {"fit_s": fit_s, "predict_s": time.perf_counter() - t0, "pred": pred}


def time_mlp(cfg: FrozenMLPConfig, task: Task, x_fit, y_fit, x_val, y_val, x_held, device: str) -> dict:
    warm = FrozenMLPConfig(**{**cfg.__dict__, "epochs": 1})
    fit_frozen_mlp(x_fit[:512], y_fit[:512], x_val[:64], y_val[:64], task, warm, seed=0, device=device)
    _sync()
    t0 = time.perf_counter()
    fitted, info = fit_frozen_mlp(x_fit, y_fit, x_val, y_val, task, cfg, seed=0, device=device)
    _sync()
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = fitted.predict(x_held, device)
    _sync()
    return {"fit_s": fit_s, "predict_s": time.perf_counter() - t0, "pred": pred, "epochs": info["epochs_run"],
            "best_epoch": info["best_epoch"]}  # fmt: skip


def bench_heads(rows: int, dim: int, config: dict) -> tuple[list[dict], dict]:
    """Each head's fit and predict seconds and held-out RMSE on the same matrix; rows as printed."""
    n_val = rows // 9
    x, y = synthetic(rows + n_val, dim)
    fit, val, held = slice(0, rows - n_val), slice(rows - n_val, rows), slice(rows, rows + n_val)
    svr_cfg = SVRConfig(**{**config["svr"], "backend": "sklearn", "C": 20.0, "epsilon": 1.0})
    task = Task.from_config(config["task"])
    out = []
    ok, why = cuml_status()
    for backend in ("sklearn", "cuml"):
        name = f"{'scikit-learn' if backend == 'sklearn' else 'cuML'} SVR"
        if backend == "cuml" and not ok:
            out.append({"head": name, "missing": why})
            continue
        r = time_svr(backend, svr_cfg, task.kernel, x[fit], y[fit], x[held])
        out.append({"head": name, **r})
    device = "cuda" if torch.cuda.is_available() else "cpu"
    mlp_cfg = FrozenMLPConfig(**config["frozen_mlp"])
    out.append({"head": f"PyTorch MLP ({device})", **time_mlp(mlp_cfg, task, x[fit], y[fit], x[val], y[val],
                                                           x[held], device)})  # fmt: skip
    base = out[0]
    for r in out:
        if "pred" in r:
            r["held_out_rmse"] = rmse(y[held], r.pop("pred"))
            r["fit_vs_sklearn"] = base["fit_s"] / r["fit_s"]
            r["predict_vs_sklearn"] = base["predict_s"] / r["predict_s"]
    return out, {"fit_rows": rows - n_val, "val_rows": n_val, "held_out": n_val, "dim": dim}


def bench_stack(rows: int, components: int, config: dict, devices: list[str]) -> list[dict]:
    """(j): the stacker's cost: one outer fold's XGBoost fit (early stopping included) and predict on
    `components` OOF prediction columns plus the 12 Pawpularity flags, per device XGBoost runs on here."""
    from ..stack import StackSettings, fit_stacker, predict_stacker

    rng = np.random.default_rng(0)
    y = np.clip(38 + 20 * rng.normal(size=rows), 1, 100)
    x = np.concatenate([(y[:, None] + rng.normal(0, 10, (rows, components))), rng.integers(0, 2, (rows, 12))], axis=1)
    x = x.astype(np.float32)
    s = config["stack"]
    settings = {k: v for k, v in s.items() if k not in ("name", "experiments", "device", "threads")}
    task = Task.from_config(config["task"])
    out = []
    for device in devices:
        cfg = StackSettings(**settings, device=device, threads=os.cpu_count() or 1)
        fit_stacker(task, x[:256], y[:256], StackSettings(**{**cfg.__dict__, "n_estimators": 5}), 0)  # warm-up
        t0 = time.perf_counter()
        booster = fit_stacker(task, x, y, cfg, 0)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        pred = predict_stacker(booster, x)
        out.append({"device": device, "fit_s": fit_s, "predict_s": time.perf_counter() - t0,
                    "rounds": int(booster.best_iteration + 1), "held_out_rmse": rmse(y, pred)})  # fmt: skip
    return out
