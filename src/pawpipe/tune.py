"""Choose the SVR's C and epsilon per experiment on out-of-fold RMSE over a grid from config."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from .data import TARGET
from .features import combine, fold_feature_sets
from .io import write_json
from .logs import log
from .svr import SVRConfig, SVRHead, fit_target, select_backend


def tune_svr(
    *,
    embeddings: list[str],
    folds_csv: str,
    cfg: SVRConfig,
    out_json: str,
    train_table: str | None = None,
    test_table: str | None = None,
    logits: str | None = None,
) -> dict:
    folds = pd.read_csv(folds_csv, dtype={"Id": str})
    fold_ids = sorted(folds["fold"].unique())
    y = folds[TARGET].to_numpy(np.float64)
    features = []
    for k, path in zip(fold_ids, embeddings, strict=True):
        sets = fold_feature_sets(
            embeddings=path,
            folds=folds,
            fold=k,
            use=cfg.features,
            train_table=train_table,
            test_table=test_table,
            logits=logits,
        )
        features.append(combine(sets)[0])
    backend = select_backend(cfg, -1)
    results = []
    t0 = time.perf_counter()
    for C, epsilon in itertools.product(cfg.grid["C"], cfg.grid["epsilon"]):
        trial = replace(cfg, C=float(C), epsilon=float(epsilon))
        oof = np.empty(len(folds))
        for k, x in zip(fold_ids, features, strict=True):
            val = folds["fold"].to_numpy() == k
            oof[val] = SVRHead(backend, trial).fit(x[~val], fit_target(y[~val], trial)).predict(x[val])
        rmse = float(np.sqrt(np.mean((oof - y) ** 2)))
        results.append({"C": float(C), "epsilon": float(epsilon), "oof_rmse": rmse})
        log.info("SVR C=%g epsilon=%g: OOF RMSE %.4f", C, epsilon, rmse)
    best = min(results, key=lambda r: r["oof_rmse"])
    summary = {
        "best": best,
        "grid": results,
        "backend": backend,
        "fits": len(results) * len(fold_ids),
        "seconds": time.perf_counter() - t0,
    }
    write_json(summary, out_json)
    log.info(
        "SVR tuning: best C=%g epsilon=%g (OOF RMSE %.4f) from %d fits",
        best["C"],
        best["epsilon"],
        best["oof_rmse"],
        summary["fits"],
    )
    return summary
