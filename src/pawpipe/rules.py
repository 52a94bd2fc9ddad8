"""Decision rules fitted on out-of-fold rows: the last step of most classification solutions, by name
(RULES), each fitted to the task's metric.

- `cutpoints`: an ordinal regression scored on grades (quadratic kappa): the value becomes a grade by
  fitted cut-points between the grades instead of rounding (APTOS' "optimized rounder");
- `thresholds`: a label metric of a binary or multi-label task (F1, F-beta, accuracy): a fitted
  probability threshold per label (or for the positive class) instead of 0.5;
- `class_weights`: a label metric of a multiclass task (macro F1, ...): the label is the argmax of the
  probabilities times a fitted weight per class, instead of the plain argmax;
- `temperature`: a metric of calibrated probabilities (log loss, KL divergence): the probabilities'
  logits divided by a fitted temperature.

The task type says which rule its metric calls for (Task.decision_rule, for `decision.rule: auto`).
A rule is fitted like the blend's weights, so the CV stays honest: each fold's OOF rows are decided by
the rule fitted on the other folds' OOF rows only (`cross_fitted_score`), and the CV reports that beside
the plain score; the rule applied to the test set is fitted on every OOF row. It is saved with the run
(models/{exp}/decision.json) and recorded in the task that the submission, the package and the notebook
use (Task.decision), so the same function that makes the submission applies it (Task.labels,
Task.adjusted). Every fit maximises the task's own score of the decided prediction, so a rule serves
any metric, a competition's metric file included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize, minimize_scalar

EPS = 1e-6


@dataclass(frozen=True)
class Rule:
    name: str
    decides: str  # labels | probabilities: what it changes
    fit: Callable  # (task, pred, target) -> params (plain values)
    apply: Callable  # (task, pred, params) -> labels, or adjusted probabilities


def score_with(task, name: str, params: dict, pred, target) -> float:
    """The task's metric of the prediction decided by rule `name` with `params`."""
    return task.with_decision(name, params).score(target, pred)


def sign(task) -> float:
    """Scores times this are minimised: -1 where a higher score is better."""
    return -1.0 if task.scorer.greater_is_better else 1.0


def coordinate_search(task, name: str, start: np.ndarray, grid: np.ndarray, key: str, pred, target) -> list[float]:
    """Each coordinate of `start` chosen in turn on `grid` with the others fixed, twice round."""
    values = np.asarray(start, float).copy()
    for _ in range(2):
        for j in range(len(values)):
            scores = []
            for v in grid:
                trial = values.copy()
                trial[j] = v
                scores.append(score_with(task, name, {key: trial.tolist()}, pred, target))
            values[j] = grid[task.scorer.best(scores)]
    return [float(v) for v in values]


# -- cut-points --
def grades(task) -> np.ndarray:
    low, high = task.grade_range
    return np.arange(np.ceil(low), np.floor(high) + 1)


def cut(task, pred, params) -> np.ndarray:
    g = grades(task)
    return g[np.searchsorted(np.sort(params["cuts"]), np.asarray(pred, float), side="right")]


def fit_cutpoints(task, pred, target) -> dict:
    """Cut-points between consecutive grades: from the rounding midpoints, each cut in turn moved to the
    best of the prediction's percentiles between its neighbours (three rounds; a grade metric is flat
    between predictions, where Nelder-Mead alone stalls), then polished by Nelder-Mead."""
    g = grades(task)
    pred = np.asarray(pred, float)
    start = (g[:-1] + g[1:]) / 2
    candidates = np.unique(np.quantile(pred, np.linspace(0, 1, 101)))

    def loss(cuts):
        return sign(task) * score_with(task, "cutpoints", {"cuts": list(np.sort(cuts))}, pred, target)

    cuts = start.copy()
    for _ in range(3):
        for j in range(len(cuts)):
            low = cuts[j - 1] if j else -np.inf
            high = cuts[j + 1] if j + 1 < len(cuts) else np.inf
            trials = [cuts[j], *candidates[(candidates > low) & (candidates < high)]]
            losses = [loss(np.r_[cuts[:j], v, cuts[j + 1 :]]) for v in trials]
            cuts[j] = trials[int(np.argmin(losses))]
    res = minimize(loss, cuts, method="Nelder-Mead", options={"xatol": 1e-3, "fatol": 1e-7, "maxiter": 100 * len(g)})
    best = min((np.sort(res.x), np.sort(cuts), start), key=loss)  # the first of equals: the polished cuts
    return {"cuts": [float(c) for c in best]}


# -- thresholds --
def thresholded(task, pred, params) -> np.ndarray:
    return (np.asarray(pred, float) >= np.asarray(params["thresholds"])).astype(int)


def fit_thresholds(task, pred, target) -> dict:
    """A probability threshold per label (one for binary) on a grid of 0.02 .. 0.98."""
    start = np.full(task.n_outputs, 0.5)
    found = coordinate_search(task, "thresholds", start, np.round(np.arange(0.02, 0.99, 0.02), 2), "thresholds",
                              pred, target)  # fmt: skip
    return {"thresholds": found}


# -- class weights --
def weighted_argmax(task, pred, params) -> np.ndarray:
    return (np.asarray(pred, float) * np.asarray(params["weights"])).argmax(axis=1)


def fit_class_weights(task, pred, target) -> dict:
    """A weight per class on a log grid of 1/4 .. 4."""
    grid = np.exp(np.linspace(np.log(0.25), np.log(4), 25))
    return {"weights": coordinate_search(task, "class_weights", np.ones(task.n_outputs), grid, "weights", pred, target)}


# -- temperature --
def tempered(task, pred, params) -> np.ndarray:
    """Probabilities with their logits divided by the temperature: over the classes for rows of class
    probabilities (task.exclusive), else per column (a positive class's, or each label's)."""
    p, t = np.asarray(pred, float), float(params["temperature"])
    if task.exclusive:
        z = np.log(np.clip(p, EPS, 1)) / t
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    q = np.clip(p, EPS, 1 - EPS)
    return 1 / (1 + np.exp(-np.log(q / (1 - q)) / t))


def fit_temperature(task, pred, target) -> dict:
    def loss(log_t):
        return sign(task) * score_with(task, "temperature", {"temperature": float(np.exp(log_t))}, pred, target)

    res = minimize_scalar(loss, bounds=(np.log(0.05), np.log(20)), method="bounded", options={"xatol": 1e-4})
    return {"temperature": float(np.exp(res.x)) if loss(res.x) <= loss(0.0) else 1.0}


RULES = {
    r.name: r
    for r in [
        Rule("cutpoints", "labels", fit_cutpoints, cut),
        Rule("thresholds", "labels", fit_thresholds, thresholded),
        Rule("class_weights", "labels", fit_class_weights, weighted_argmax),
        Rule("temperature", "probabilities", fit_temperature, tempered),
    ]
}


def get_rule(name: str) -> Rule:
    if name not in RULES:
        raise ValueError(f"decision.rule: unknown rule {name!r}; known: auto, none, {', '.join(RULES)}")
    return RULES[name]


def cross_fitted_score(task, name: str, pred: np.ndarray, target: np.ndarray, folds: np.ndarray) -> tuple[float, dict]:
    """(the metric over all OOF rows, each fold's rows decided by the rule fitted on the other folds'
    rows only; each fold's parameters)."""
    plain, metric = task.without_decision(), task.scorer
    reads, per_fold = [None] * len(target), {}
    for k in np.unique(folds):
        rows = np.flatnonzero(folds == k)
        fit = np.flatnonzero(folds != k)
        params = get_rule(name).fit(plain, pred[fit], target[fit])
        decided = plain.with_decision(name, params).read(pred[rows], metric.reads)
        for i, r in enumerate(rows):
            reads[r] = decided.iloc[[i]] if isinstance(decided, pd.DataFrame) else decided[i]
        per_fold[str(int(k))] = params
    if isinstance(reads[0], pd.DataFrame):  # a metric file's frames: one, ids in row order
        read = pd.concat(reads, ignore_index=True)
        read[plain.id] = [str(i) for i in range(len(read))]
    else:
        read = np.asarray(reads)
    return metric.score(plain.truth(target, metric.reads), read, **plain.metric_facts(metric)), per_fold
