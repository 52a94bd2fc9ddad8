"""Blend the heads per fold: the weighted sum of their predictions (values, or class probabilities),
weights >= 0 summing to one, chosen on the fold's out-of-fold rows by the task's metric.

With two heads (the fine-tuned MLP and the kernel head) the weight on the first is searched on a grid
of 0.01; with more, the simplex is searched on a grid of SIMPLEX_STEP. Honest CV: with `blend.weight:
auto` the weights applied to the fold's test rows are fitted on all of its OOF rows, but the OOF rows
themselves are blended with weights cross-fitted inside the fold (each inner part gets the weights
fitted on the fold's other OOF rows). The `blend` column that the CV reports is therefore never scored
on the rows that chose its weights; the in-sample figure is kept as `blend_in_sample`, labelled as
the optimistic one. Folds stay independent.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .io import read_csv, write_csv, write_json
from .logs import log
from .task import Task

HEADS = {  # the heads a blend can combine (config `heads`), and the stage whose predictions each one is
    "mlp": "the MLP head fine-tuned with the backbone (embed: mlp_oof.csv)",
    "svr": "the kernel head on the frozen features, an SVR or calibrated SVCs (svr: svr_oof.csv)",
    "frozen_mlp": "an MLP trained on the same frozen features (frozen_mlp: frozen_mlp_oof.csv)",
}
INNER_SPLITS = 5
SIMPLEX_STEP = 0.05  # the weight grid with three or more heads


def mix(weights, preds: list[np.ndarray]):
    """The blend formula: sum over heads of weight x prediction, the weights one number per head (or one
    row of them per prediction row). The pipeline's blend and the Kaggle notebook both compute it here."""
    out = None
    for i, p in enumerate(preds):
        w = weights[i] if np.ndim(weights) == 1 else np.asarray(weights)[:, i]
        if np.ndim(w) == 1 and np.ndim(p) == 2:
            w = w[:, None]
        out = w * p if out is None else out + w * p
    return out


def weight_grid(n_heads: int) -> np.ndarray:
    """Candidate weights (rows summing to one): (w, 1 - w) for w in 0, 0.01, ..., 1 with two heads."""
    if n_heads == 1:
        return np.ones((1, 1))
    if n_heads == 2:
        w = np.round(np.arange(0.0, 1.0 + 0.01 / 2, 0.01), 10)
        return np.stack([w, 1 - w], axis=1)
    steps = round(1 / SIMPLEX_STEP)
    parts = [c for c in itertools.product(range(steps + 1), repeat=n_heads - 1) if sum(c) <= steps]
    return np.round(np.array([[*c, steps - sum(c)] for c in parts]) / steps, 10)


def best_weights(preds: list[np.ndarray], target: np.ndarray, task: Task) -> np.ndarray:
    """The grid's weights with the best score of the task's metric on these rows (the first among equals)."""
    grid = weight_grid(len(preds))
    return grid[task.scorer.best([task.score(target, mix(w, preds)) for w in grid])]


def inner_parts(n: int, seed: int, splits: int = INNER_SPLITS) -> np.ndarray:
    """A seeded assignment of n rows to `splits` nearly equal parts."""
    parts = np.arange(n) % min(splits, max(n, 1))
    return np.random.default_rng(seed).permutation(parts)


def cross_fit_weights(preds: list[np.ndarray], target: np.ndarray, task: Task, seed: int) -> np.ndarray:
    """Per-row weights (rows x heads), each row's fitted on the other inner parts' rows only."""
    parts = inner_parts(len(target), seed)
    weights = np.empty((len(target), len(preds)))
    for p in np.unique(parts):
        fit = parts != p
        chosen = best_weights([x[fit] for x in preds], target[fit], task) if fit.any() else None
        weights[~fit] = chosen if chosen is not None else np.full(len(preds), 1 / len(preds))
    return weights


def merge_heads(frames: dict[str, pd.DataFrame], task: Task, what: str) -> pd.DataFrame:
    """The heads' predictions side by side on Id: each head's `pred` column(s) renamed to its name; the
    first frame's other columns (fold, target) and the kernel head's per-set components kept."""
    merged = None
    for head, frame in frames.items():
        keep = {c: c.replace("pred", head, 1) for c in task.columns_for("pred")}
        if merged is None:
            merged = frame.rename(columns=keep)
            continue
        extra = [c for c in frame.columns if c.startswith("svr[")]
        part = frame[["Id", *keep, *extra]].rename(columns=keep)
        merged = merged.merge(part, on="Id", how="outer", indicator=True)  # rows sorted by Id, as before
        if (merged["_merge"] != "both").any():
            bad = merged.loc[merged["_merge"] != "both", "Id"].tolist()[:5]
            raise ValueError(f"{what}: the heads' predictions cover different ids (e.g. {bad}); rerun the fold")
        merged = merged.drop(columns="_merge")
    return merged


@dataclass(frozen=True)
class BlendJob:
    """The blend rule's inputs (each head's OOF and test predictions, by head) and outputs for one fold."""

    fold: int
    oof: dict[str, str]
    test: dict[str, str]
    out_oof: str
    out_test: str
    out_json: str
    task: str  # task.json


def blend_fold(job: BlendJob, weight: str | float, seed: int) -> dict:
    task = Task.load(job.task)
    heads = list(job.oof)
    oof = merge_heads({h: read_csv(p) for h, p in job.oof.items()}, task, f"fold {job.fold} OOF")
    test = merge_heads({h: read_csv(job.test[h]) for h in heads}, task, f"fold {job.fold} test")
    target = task.encode(oof[task.target])
    preds = [task.get(oof, h) for h in heads]
    auto = weight == "auto"
    if auto:
        w = best_weights(preds, target, task)
        w_rows = cross_fit_weights(preds, target, task, seed * 1000 + job.fold)
    else:  # a fixed weight on the first head, the rest shared equally
        rest = (1 - float(weight)) / (len(heads) - 1) if len(heads) > 1 else 0.0
        w = np.array([float(weight), *[rest] * (len(heads) - 1)])
        w_rows = np.tile(w, (len(oof), 1))
    task.put(oof, "blend", mix(w_rows, preds))
    task.put(oof, "blend_in_sample", mix(w, preds))
    task.put(test, "blend", mix(w, [task.get(test, h) for h in heads]))
    summary = {
        "fold": job.fold,
        "heads": heads,
        "weights": dict(zip(heads, map(float, w), strict=True)),
        "weight_mode": "auto" if auto else "fixed",
        "cross_fit_weights": sorted({tuple(np.round(r, 4).tolist()) for r in w_rows}),
        "n_oof": len(oof),
        "scores": {h: task.score(target, task.get(oof, h)) for h in [*heads, "blend", "blend_in_sample"]},
    }
    write_csv(oof, job.out_oof)
    write_csv(test, job.out_test)
    write_json(summary, job.out_json)
    scores = ", ".join(f"{h} {v:.4f}" for h, v in summary["scores"].items())
    weights = ", ".join(f"{h} {v:.2f}" for h, v in summary["weights"].items())
    log.info("fold %d: blend weights %s; OOF %s %s (blend cross-fitted)", job.fold, weights, task.scorer.label, scores)
    return summary
