"""The one blend core, shared by the per-fold blend of the heads (the blend rule, below) and the
cross-experiment ensemble (pawpipe.ensemble): one formula (`mix`: weights >= 0 summing to one times
the components' predictions: values, or probabilities per class or label), one mean over folds
(`fold_mean`), one weight fitter driven by the metric's entry (`fit_weights`) and one cross-fit
(`cross_fit`).

fit_weights searches an exhaustive grid where it is small (two components: steps of 0.01; three: the
simplex in steps of SIMPLEX_STEP); with more, it minimises a metric that has a differentiable objective
in the weights (RMSE, log loss: metrics.Metric.objective) directly on the simplex (SLSQP), and for any
other metric it runs greedy ensemble selection with replacement (Caruana et al.: the component whose
addition scores best is added, STEPS times; the weights are the counts). It is never worse than the
best single component on the rows it is fitted on.

Honest CV: weights applied to test rows are fitted on all the OOF rows they may see, but OOF rows are
blended with weights cross-fitted on other rows only (cross_fit: within a fold's OOF rows in INNER_SPLITS
seeded parts for the per-fold blend; over the outer folds for the ensemble). The reported blend is thus
never scored on the rows that chose its weights; the in-sample figure is kept beside it, labelled as the
optimistic one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from .io import read_csv, write_csv, write_json
from .logs import log
from .task import Task

INNER_SPLITS = 5
SIMPLEX_STEP = 0.05  # the weight grid with three components
GRID_MAX = 3  # components up to which the weights are searched on a grid
STEPS = 50  # greedy selection: additions, so weights are multiples of 1/STEPS


def mix(weights, preds: list[np.ndarray]):
    """The blend formula: sum over components of weight x prediction, the weights one number per component
    (or one row of them per prediction row). The pipeline's blend, the ensemble and the Kaggle notebook
    all compute it here."""
    out = None
    for i, p in enumerate(preds):
        w = weights[i] if np.ndim(weights) == 1 else np.asarray(weights)[:, i]
        if np.ndim(w) == 1 and np.ndim(p) == 2:
            w = w[:, None]
        out = w * p if out is None else out + w * p
    return out


def fold_mean(fold_preds: list[np.ndarray]) -> np.ndarray:
    """The folds' test predictions averaged: what the submission is made of (pipeline, ensemble, notebook)."""
    return np.mean(fold_preds, axis=0)


def weight_grid(n: int) -> np.ndarray:
    """Candidate weights (rows summing to one): (w, 1 - w) for w in 0, 0.01, ..., 1 with two components."""
    if n == 1:
        return np.ones((1, 1))
    if n == 2:
        w = np.round(np.arange(0.0, 1.0 + 0.01 / 2, 0.01), 10)
        return np.stack([w, 1 - w], axis=1)
    steps = round(1 / SIMPLEX_STEP)
    parts = [c for c in itertools.product(range(steps + 1), repeat=n - 1) if sum(c) <= steps]
    return np.round(np.array([[*c, steps - sum(c)] for c in parts]) / steps, 10)


def grid_weights(preds: list[np.ndarray], target: np.ndarray, task: Task) -> np.ndarray:
    """The grid's weights with the best score of the task's metric on these rows (the first among equals)."""
    grid = weight_grid(len(preds))
    return grid[task.scorer.best([task.score(target, mix(w, preds)) for w in grid])]


def objective_weights(preds: list[np.ndarray], target: np.ndarray, objective) -> np.ndarray:
    """Weights minimising the metric's differentiable objective on the simplex (SLSQP), or the best single
    component where that is better."""
    stacked = np.stack(preds, axis=-1)  # rows x components, or rows x outputs x components
    n = len(preds)
    loss, grad = objective(stacked, target)
    res = minimize(loss, np.full(n, 1 / n), jac=grad, method="SLSQP", bounds=[(0, 1)] * n,
                   constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
                   options={"ftol": 1e-12, "maxiter": 500})  # fmt: skip
    w = np.clip(res.x, 0, None)
    w /= w.sum()
    best = int(np.argmin([loss(np.eye(n)[i]) for i in range(n)]))
    return w if loss(w) <= loss(np.eye(n)[best]) else np.eye(n)[best]


def greedy_weights(preds: list[np.ndarray], target: np.ndarray, task: Task, steps: int = STEPS) -> np.ndarray:
    """Ensemble selection with replacement: add the component whose addition scores best, `steps` times."""
    n = len(preds)
    counts = np.zeros(n)
    for _ in range(steps):
        trials = [(counts + np.eye(n)[i]) / (counts.sum() + 1) for i in range(n)]
        counts[task.scorer.best([task.score(target, mix(w, preds)) for w in trials])] += 1
    return counts / counts.sum()


def fit_weights(preds: list[np.ndarray], target: np.ndarray, task: Task) -> np.ndarray:
    """Weights >= 0 summing to one that score mix(w, preds) best in the task's metric (see the module's
    docstring for how, by the number of components and the metric's entry)."""
    if len(preds) <= GRID_MAX:
        return grid_weights(preds, target, task)
    objective = task.scorer.objective
    return objective_weights(preds, target, objective) if objective else greedy_weights(preds, target, task)


def inner_parts(n: int, seed: int, splits: int = INNER_SPLITS) -> np.ndarray:
    """A seeded assignment of n rows to `splits` nearly equal parts."""
    parts = np.arange(n) % min(splits, max(n, 1))
    return np.random.default_rng(seed).permutation(parts)


def cross_fit(preds: list[np.ndarray], target: np.ndarray, parts: np.ndarray, task: Task) -> np.ndarray:
    """Per-row weights (rows x components): each part's rows get the weights fitted on the other parts'
    rows only (equal weights where there are no other rows)."""
    weights = np.empty((len(target), len(preds)))
    for p in np.unique(parts):
        fit = parts != p
        if fit.any():
            weights[~fit] = fit_weights([x[fit] for x in preds], target[fit], task)
        else:
            weights[~fit] = np.full(len(preds), 1 / len(preds))
    return weights


def merge_heads(frames: dict[str, pd.DataFrame], task: Task, what: str) -> pd.DataFrame:
    """The heads' predictions side by side on Id: each head's `pred` column(s) renamed to its name; the
    first frame's other columns (fold, targets) and the kernel head's per-set components kept."""
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
    target = task.encode(oof)
    preds = [task.get(oof, h) for h in heads]
    auto = weight == "auto"
    if auto:
        w = fit_weights(preds, target, task)
        w_rows = cross_fit(preds, target, inner_parts(len(target), seed * 1000 + job.fold), task)
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
