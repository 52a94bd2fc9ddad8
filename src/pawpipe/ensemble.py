"""Blend heads across experiments: non-negative weights summing to one, fit on out-of-fold predictions.

The weights applied to the test set are fitted on every OOF row. The reported OOF figure is honest:
each fold's OOF rows are blended with weights fitted on the other folds' OOF rows only; the
in-sample figure is kept beside it, labelled optimistic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from .data import TARGET
from .io import read_csv, write_csv, write_json
from .logs import log
from .metrics import rmse
from .report import check_submission

HEADS = ("mlp", "svr")


def simplex_weights(preds: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Weights w >= 0, sum(w) = 1 minimising RMSE(preds @ w, target); never worse than the best column."""
    n = preds.shape[1]
    loss = lambda w: np.mean((preds @ w - target) ** 2)  # noqa: E731  (convex on the simplex)
    grad = lambda w: 2 * preds.T @ (preds @ w - target) / len(target)  # noqa: E731
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


def cross_fit_ensemble(preds: np.ndarray, target: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Each fold's rows blended with simplex weights fitted on the other folds' rows."""
    out = np.empty(len(target))
    for k in np.unique(folds):
        rows = folds == k
        out[rows] = preds[rows] @ simplex_weights(preds[~rows], target[~rows])
    return out


def ensemble(
    *,
    name: str,
    experiments: list[str],
    oof_csvs: list[str],
    test_csvs: dict[str, list[str]],
    test_table: str,
    out_json: str,
    out_oof: str,
    out_submission: str,
) -> dict:
    """Fit the weights on all OOF rows of every experiment's heads; apply them to the folds' mean test predictions."""
    oof, test = None, None
    test_ids = read_csv(test_table)["Id"].tolist()
    for exp, oof_csv in zip(experiments, oof_csvs, strict=True):
        o = read_csv(oof_csv).set_index("Id")
        cols = {h: f"{exp}:{h}" for h in HEADS}
        part = o[list(HEADS)].rename(columns=cols)
        if oof is None:
            oof = o[[TARGET, "fold"]].join(part)
        else:
            if set(o.index) != set(oof.index):
                raise ValueError(
                    f"{oof_csv}: its out-of-fold rows differ from {oof_csvs[0]}; blend experiments "
                    f"trained on the same data"
                )
            oof = oof.join(part)
        folds = [read_csv(p).set_index("Id").loc[test_ids, list(HEADS)] for p in test_csvs[exp]]
        mean = (sum(f.to_numpy(float) for f in folds) / len(folds)).T
        part_test = pd.DataFrame({cols[h]: mean[i] for i, h in enumerate(HEADS)}, index=test_ids)
        test = part_test if test is None else test.join(part_test)
    components = [c for c in oof.columns if c not in (TARGET, "fold")]
    target, preds = oof[TARGET].to_numpy(float), oof[components].to_numpy(float)
    w = simplex_weights(preds, target)
    oof["ensemble"] = cross_fit_ensemble(preds, target, oof["fold"].to_numpy())
    oof["ensemble_in_sample"] = preds @ w
    sub = pd.DataFrame({"Id": test_ids, TARGET: np.clip(test[components].to_numpy(float) @ w, 1, 100)})
    check_submission(sub, test_ids, out_submission)
    summary = {
        "name": name,
        "experiments": experiments,
        "weights": dict(zip(components, map(float, w), strict=True)),
        "rmse": {c: rmse(oof[c], target) for c in [*components, "ensemble", "ensemble_in_sample"]},
        "notes": {
            "ensemble": "each fold's OOF rows blended with weights fitted on the other folds' OOF rows",
            "ensemble_in_sample": "optimistic: weights fitted on the rows scored",
        },
    }
    write_csv(oof.reset_index(), out_oof)
    write_json(summary, out_json)
    write_csv(sub, out_submission)
    log.info(
        "ensemble %s: OOF RMSE %.4f (cross-fitted over folds; in-sample %.4f); weights %s",
        name,
        summary["rmse"]["ensemble"],
        summary["rmse"]["ensemble_in_sample"],
        ", ".join(f"{c} {v:.2f}" for c, v in summary["weights"].items()),
    )
    return summary
