"""Blend the MLP head and the SVR per fold: w * mlp + (1 - w) * svr."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data import TARGET
from .io import write_csv, write_json
from .logs import log


def rmse(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, float) - np.asarray(target, float)) ** 2)))


def best_weight(mlp: np.ndarray, svr: np.ndarray, target: np.ndarray, step: float = 0.01) -> float:
    """The weight on the MLP head in [0, 1] (grid of `step`) with the lowest RMSE on these rows."""
    grid = np.round(np.arange(0.0, 1.0 + step / 2, step), 10)
    scores = [rmse(w * mlp + (1 - w) * svr, target) for w in grid]
    return float(grid[int(np.argmin(scores))])


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


def blend_fold(
    *,
    mlp_oof: str,
    svr_oof: str,
    mlp_test: str,
    svr_test: str,
    fold: int,
    weight: str | float,
    out_oof: str,
    out_test: str,
    out_json: str,
) -> dict:
    read = lambda p: pd.read_csv(p, dtype={"Id": str})  # noqa: E731
    oof = _merge(read(mlp_oof), read(svr_oof), f"fold {fold} OOF")
    test = _merge(read(mlp_test), read(svr_test), f"fold {fold} test")
    target = oof[TARGET].to_numpy(float)
    w = best_weight(oof["mlp"].to_numpy(), oof["svr"].to_numpy(), target) if weight == "auto" else float(weight)
    oof["blend"] = w * oof["mlp"] + (1 - w) * oof["svr"]
    test["blend"] = w * test["mlp"] + (1 - w) * test["svr"]
    summary = {
        "fold": fold,
        "weight_mlp": w,
        "weight_mode": "auto" if weight == "auto" else "fixed",
        "n_oof": len(oof),
        "rmse": {h: rmse(oof[h], target) for h in ("mlp", "svr", "blend")},
    }
    write_csv(oof, out_oof)
    write_csv(test, out_test)
    write_json(summary, out_json)
    log.info(
        "fold %d: blend weight on MLP %.2f; OOF RMSE mlp %.4f, svr %.4f, blend %.4f", fold, w, *summary["rmse"].values()
    )
    return summary
