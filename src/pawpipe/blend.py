"""Blend the MLP head and the SVR per fold: w * mlp + (1 - w) * svr.

Honest CV: with `blend.weight: auto` the weight applied to the fold's test rows is fitted on all of
its OOF rows, but the OOF rows themselves are blended with weights cross-fitted inside the fold
(each inner part gets the weight fitted on the fold's other OOF rows). The `blend` column that the
CV reports is therefore never scored on the rows that chose its weight; the in-sample figure is kept
as `blend_in_sample`, labelled as the optimistic one. Folds stay independent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data import TARGET
from .io import read_csv, write_csv, write_json
from .logs import log
from .metrics import rmse

INNER_SPLITS = 5


def mix(w, mlp, svr):
    """The blend formula: weight w on the MLP head, 1 - w on the SVR (w a number or one per row). The
    pipeline's blend and the Kaggle notebook both compute it here."""
    return w * mlp + (1 - w) * svr


def best_weight(mlp: np.ndarray, svr: np.ndarray, target: np.ndarray, step: float = 0.01) -> float:
    """The weight on the MLP head in [0, 1] (grid of `step`) with the lowest RMSE on these rows."""
    grid = np.round(np.arange(0.0, 1.0 + step / 2, step), 10)
    scores = [rmse(mix(w, mlp, svr), target) for w in grid]
    return float(grid[int(np.argmin(scores))])


def inner_parts(n: int, seed: int, splits: int = INNER_SPLITS) -> np.ndarray:
    """A seeded assignment of n rows to `splits` nearly equal parts."""
    parts = np.arange(n) % min(splits, max(n, 1))
    return np.random.default_rng(seed).permutation(parts)


def cross_fit_weights(mlp: np.ndarray, svr: np.ndarray, target: np.ndarray, seed: int) -> np.ndarray:
    """Per-row weight on the MLP head, each fitted on the other inner parts' rows only."""
    parts = inner_parts(len(target), seed)
    weights = np.empty(len(target))
    for p in np.unique(parts):
        fit = parts != p
        weights[~fit] = best_weight(mlp[fit], svr[fit], target[fit]) if fit.any() else 0.5
    return weights


def _merge(mlp: pd.DataFrame, svr: pd.DataFrame, what: str) -> pd.DataFrame:
    merged = mlp.rename(columns={"pred": "mlp"}).merge(
        svr[["Id", "pred", *[c for c in svr.columns if c.startswith("svr[")]]].rename(columns={"pred": "svr"}),
        on="Id",
        how="outer",
        indicator=True,
    )
    if (merged["_merge"] != "both").any():
        bad = merged.loc[merged["_merge"] != "both", "Id"].tolist()[:5]
        raise ValueError(f"{what}: MLP and SVR predictions cover different Ids (e.g. {bad}); rerun the fold")
    return merged.drop(columns="_merge")


@dataclass(frozen=True)
class BlendJob:
    """The blend rule's inputs and outputs for one fold."""

    fold: int
    mlp_oof: str
    svr_oof: str
    mlp_test: str
    svr_test: str
    out_oof: str
    out_test: str
    out_json: str


def blend_fold(job: BlendJob, weight: str | float, seed: int) -> dict:
    read = lambda p: read_csv(p)  # noqa: E731
    oof = _merge(read(job.mlp_oof), read(job.svr_oof), f"fold {job.fold} OOF")
    test = _merge(read(job.mlp_test), read(job.svr_test), f"fold {job.fold} test")
    target, mlp, svr = (oof[c].to_numpy(float) for c in (TARGET, "mlp", "svr"))
    auto = weight == "auto"
    w = best_weight(mlp, svr, target) if auto else float(weight)
    w_rows = cross_fit_weights(mlp, svr, target, seed * 1000 + job.fold) if auto else np.full(len(oof), w)
    oof["blend"] = mix(w_rows, mlp, svr)
    oof["blend_in_sample"] = mix(w, mlp, svr)
    test["blend"] = mix(w, test["mlp"], test["svr"])
    summary = {
        "fold": job.fold,
        "weight_mlp": w,
        "weight_mode": "auto" if auto else "fixed",
        "cross_fit_weights": sorted(set(np.round(w_rows, 4).tolist())) if auto else [w],
        "n_oof": len(oof),
        "rmse": {h: rmse(oof[h], target) for h in ("mlp", "svr", "blend", "blend_in_sample")},
    }
    write_csv(oof, job.out_oof)
    write_csv(test, job.out_test)
    write_json(summary, job.out_json)
    log.info(
        "fold %d: blend weight on MLP %.2f; OOF RMSE mlp %.4f, svr %.4f, blend %.4f (cross-fitted; in-sample %.4f)",
        job.fold, w, *summary["rmse"].values(),
    )  # fmt: skip
    return summary
