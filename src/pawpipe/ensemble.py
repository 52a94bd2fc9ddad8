"""Blend heads across experiments: non-negative weights summing to one, fit on out-of-fold predictions
in the task's metric.

For a smooth metric (RMSE, log loss) the weights minimise it directly (SLSQP on the simplex); for the
others (accuracy, AUC, F1, kappa), greedy ensemble selection with replacement (Caruana et al.): the
component whose addition scores best is added, STEPS times, and the weights are the counts. Either is
never worse than the best component on the rows it is fitted on. The weights applied to the test set
are fitted on every OOF row. The reported OOF figure is honest: each fold's OOF rows are blended with
weights fitted on the other folds' OOF rows only; the in-sample figure is kept beside it, labelled
optimistic.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from .data import ID, read_table
from .io import read_csv, read_json, write_csv, write_json
from .logs import log
from .metrics import log_loss
from .report import check_submission
from .task import Task

STEPS = 50  # greedy selection: additions, so weights are multiples of 1/STEPS


def blended(preds: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The components (last axis) weighted by w: values or class probabilities."""
    return preds @ w


def smooth_loss(preds: np.ndarray, target: np.ndarray, metric: str):
    """(loss, gradient) in w of a smooth metric: mean squared error (RMSE), or the log loss."""
    if metric == "rmse":
        return (
            lambda w: np.mean((preds @ w - target) ** 2),
            lambda w: 2 * preds.T @ (preds @ w - target) / len(target),
        )

    def picked(w):  # the probability given to each row's true class
        p = preds @ w
        return p[np.arange(len(p)), target] if p.ndim == 2 else np.where(target == 1, p, 1 - p)

    def grad(w):
        chosen = preds[np.arange(len(target)), target] if preds.ndim == 3 else np.where(
            (target == 1)[:, None], preds, 1 - preds)  # fmt: skip
        sign = 1 if preds.ndim == 3 else np.where(target == 1, 1, -1)[:, None]
        return -np.mean(sign * chosen / np.clip(picked(w), 1e-15, None)[:, None], axis=0)

    return (lambda w: log_loss(preds @ w, target)), grad


def simplex_weights(preds: np.ndarray, target: np.ndarray, task: Task | None = None) -> np.ndarray:
    """Weights w >= 0, sum(w) = 1 that score preds @ w best on `target`; never worse than the best
    single component. `preds`: rows x components, or rows x classes x components. Without a task: RMSE."""
    n, metric = preds.shape[-1], task.metric if task else "rmse"
    if metric not in ("rmse", "log_loss"):
        return greedy_weights(preds, target, task)
    loss, grad = smooth_loss(preds, target, metric)
    res = minimize(
        loss,
        np.full(n, 1 / n),
        jac=grad,
        method="SLSQP",
        bounds=[(0, 1)] * n,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
        options={"ftol": 1e-12, "maxiter": 500},
    )
    w = np.clip(res.x, 0, None)
    w /= w.sum()
    best = int(np.argmin([loss(np.eye(n)[i]) for i in range(n)]))
    return w if loss(w) <= loss(np.eye(n)[best]) else np.eye(n)[best]


def greedy_weights(preds: np.ndarray, target: np.ndarray, task: Task, steps: int = STEPS) -> np.ndarray:
    """Ensemble selection with replacement: add the component whose addition scores best, `steps` times."""
    n = preds.shape[-1]
    counts = np.zeros(n)
    for _ in range(steps):
        trials = [(counts + np.eye(n)[i]) / (counts.sum() + 1) for i in range(n)]
        scores = [task.score(target, blended(preds, w)) for w in trials]
        counts[task.scorer.best(scores)] += 1
    return counts / counts.sum()


def cross_fit_ensemble(preds: np.ndarray, target: np.ndarray, folds: np.ndarray, task: Task | None = None):
    """Each fold's rows blended with simplex weights fitted on the other folds' rows."""
    out = np.empty(preds.shape[:-1])
    for k in np.unique(folds):
        rows = folds == k
        out[rows] = blended(preds[rows], simplex_weights(preds[~rows], target[~rows], task))
    return out


def stack(columns: list[np.ndarray]) -> np.ndarray:
    """Components side by side on the last axis: rows x components (values, binary probabilities) or
    rows x classes x components."""
    return np.stack(columns, axis=-1)


def ensemble(
    *,
    name: str,
    experiments: list[str],
    oof_csvs: list[str],
    cv_jsons: list[str],
    task_jsons: list[str],
    test_csvs: dict[str, list[str]],
    test_table: str,
    out_json: str,
    out_oof: str,
    out_submission: str,
) -> dict:
    """Fit the weights on all OOF rows of every experiment's heads; apply them to the folds' mean test predictions."""
    task = Task.load(task_jsons[0])
    for path in task_jsons[1:]:
        other = Task.load(path)
        if (other.type, other.classes, other.metric) != (task.type, task.classes, task.metric):
            raise ValueError(f"{path}: another task ({other.type}, {other.metric}) than {task_jsons[0]}'s; "
                             f"an ensemble blends experiments of one competition")  # fmt: skip
    test_ids = read_table(test_table, task.id)[ID].tolist()
    base, names, oof_parts, test_parts = None, [], [], []
    for exp, oof_csv, cv_json in zip(experiments, oof_csvs, cv_jsons, strict=True):
        o = read_csv(oof_csv).set_index(ID)
        if base is None:
            base = o[[task.target, "fold"]]
        elif set(o.index) != set(base.index):
            raise ValueError(
                f"{oof_csv}: its out-of-fold rows differ from {oof_csvs[0]}; blend experiments trained on the same data"
            )
        for head in read_json(cv_json)["heads"]:
            names.append(f"{exp}:{head}")
            oof_parts.append(task.get(o.loc[base.index], head))
            folds = [task.get(read_csv(p).set_index(ID).loc[test_ids], head) for p in test_csvs[exp]]
            test_parts.append(sum(folds) / len(folds))
    target, preds, test = task.encode(base[task.target]), stack(oof_parts), stack(test_parts)
    w = simplex_weights(preds, target, task)
    oof = base.copy()
    for n, part in zip(names, oof_parts, strict=True):
        task.put(oof, n, part)
    task.put(oof, "ensemble", cross_fit_ensemble(preds, target, base["fold"].to_numpy(), task))
    task.put(oof, "ensemble_in_sample", blended(preds, w))
    sub = task.submission_frame(test_ids, [blended(test, w)])
    check_submission(sub, test_ids, task, out_submission)
    summary = {
        "name": name,
        "experiments": experiments,
        "metric": task.metric,
        "weights": dict(zip(names, map(float, w), strict=True)),
        "scores": {c: task.score(target, task.get(oof, c)) for c in [*names, "ensemble", "ensemble_in_sample"]},
        "notes": {
            "ensemble": "each fold's OOF rows blended with weights fitted on the other folds' OOF rows",
            "ensemble_in_sample": "optimistic: weights fitted on the rows scored",
        },
    }
    write_csv(oof.reset_index(), out_oof)
    write_json(summary, out_json)
    write_csv(sub, out_submission)
    log.info(
        "ensemble %s: OOF %s %.4f (cross-fitted over folds; in-sample %.4f); weights %s",
        name, task.scorer.label, summary["scores"]["ensemble"], summary["scores"]["ensemble_in_sample"],
        ", ".join(f"{c} {v:.2f}" for c, v in summary["weights"].items()),
    )  # fmt: skip
    return summary
