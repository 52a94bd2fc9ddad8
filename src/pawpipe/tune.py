"""Choose the kernel head's C and epsilon per experiment on the out-of-fold metric over a grid from config."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace

import numpy as np

from .features import FeatureInputs, combine, load_feature_sets
from .frames import lib_for
from .io import read_csv, write_json
from .logs import log
from .svr import SVRConfig, classes_of, fit_target, run_fits, select_backend
from .task import Task


def tune_svr(fold_inputs: list[FeatureInputs], folds_csv: str, cfg: SVRConfig, out_json: str, task: Task) -> dict:
    """Every (C, epsilon) of svr.grid fitted on every fold (`fold_inputs` in fold order), one trial at a
    time: its folds' fits (in parallel over svr.threads processes with scikit-learn) keep only their
    predictions, so memory holds one trial's models, not the grid's."""
    folds = read_csv(folds_csv)
    fold_of = folds["fold"].to_numpy()
    fold_ids = sorted(np.unique(fold_of).tolist())
    y = task.encode(folds[task.target])
    backend = select_backend(cfg, "tuning")
    lib = lib_for(backend)
    features = [combine(load_feature_sets(inputs, folds, cfg.features, lib), lib)[0] for inputs in fold_inputs]
    trials = [
        replace(cfg, C=float(C), epsilon=float(e)) for C, e in itertools.product(cfg.grid["C"], cfg.grid["epsilon"])
    ]
    t0, results = time.perf_counter(), []
    for trial in trials:
        tasks = []
        for k, x in zip(fold_ids, features, strict=True):
            val = fold_of == k
            mask = lib.asarray(val)
            tasks.append((trial, x[~mask], fit_target(y[~val], trial, task), x[mask]))
        oof = np.empty((len(folds), task.n_outputs) if task.n_outputs > 1 else len(folds))
        for k, fit in zip(fold_ids, run_fits(backend, cfg.threads, tasks, keep_heads=False, n_classes=classes_of(task)),
                          strict=True):  # fmt: skip
            oof[fold_of == k] = fit["preds"][0]
        results.append({"C": trial.C, "epsilon": trial.epsilon, "oof_score": task.score(y, oof)})
        log.info("C=%g epsilon=%g: OOF %s %.4f", trial.C, trial.epsilon, task.scorer.label, results[-1]["oof_score"])
    best = results[task.scorer.best([r["oof_score"] for r in results])]
    summary = {
        "metric": task.metric,
        "best": best,
        "grid": results,
        "backend": backend,
        "fits": len(trials) * len(fold_ids),
        "seconds": time.perf_counter() - t0,
    }
    write_json(summary, out_json)
    log.info(
        "kernel head tuning: best C=%g epsilon=%g (OOF %s %.4f) from %d fits in %.1f s",
        best["C"], best["epsilon"], task.scorer.label, best["oof_score"], summary["fits"], summary["seconds"],
    )  # fmt: skip
    return summary
