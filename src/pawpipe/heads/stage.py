"""The svr rule: one fold's kernel head on its feature sets together (saved), and for the report on each
set alone; its out-of-fold and test predictions."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ..features import FeatureInputs, combine, load_feature_sets
from ..frames import lib_for
from ..io import read_csv, read_json, write_csv, write_json
from ..logs import log
from ..task import Task
from .backend import SVRConfig, run_fits, select_backend


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


def oof_frame(folds: pd.DataFrame, rows: np.ndarray, task: Task) -> pd.DataFrame:
    """The out-of-fold rows of a head's predictions table: Id, fold and the target columns."""
    return folds.loc[rows, ["Id", "fold", *task.target_columns]].copy()


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
    y = task.encode(folds)
    components = {"pred": combine(sets, lib)}
    if alone:
        components.update({f"svr[{name}]": pair for name, pair in sets.items()})
    tasks = [(cfg, x[~val], y[~val_host], x[val], x_test) for x, x_test in components.values()]
    fits = dict(zip(components, run_fits(backend, cfg.threads, task.kernel, tasks), strict=True))
    oof = oof_frame(folds, val_host, task)
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
        "fold %d: kernel head (%s units) on %s (%d features) fit %.2fs, predict %.2fs; OOF %s %.4f",
        job.fold, task.kernel.unit.upper(), "+".join(sets), components["pred"][0].shape[1], main["fit_s"],
        main["predict_s"], task.scorer.label, score,
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
