"""Figures and the CV table for `snakemake --report`."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .data import TARGET  # noqa: E402
from .io import atomic_path, read_csv, read_json, write_csv  # noqa: E402

HEADS = ("mlp", "svr", "blend")


def _save(fig, path: str) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="svg", bbox_inches="tight")
    plt.close(fig)


def rmse_by_fold(cv: dict, path: str) -> None:
    folds = cv["folds"]
    x = np.arange(len(folds))
    fig, ax = plt.subplots(figsize=(max(5, len(folds) * 0.9), 3.5))
    for i, head in enumerate(HEADS):
        ax.bar(x + (i - 1) * 0.27, [f[head] for f in folds], width=0.27, label=f"{head} (CV {cv['rmse'][head]:.3f})")
    ax.axhline(cv["rmse"]["mean_predictor"], color="grey", ls="--", lw=1, label="training mean")
    ax.set_xticks(x, [f"fold {f['fold']}" for f in folds])
    ax.set_ylim(0, 1.35 * max(cv["rmse"]["mean_predictor"], *(f[h] for f in folds for h in HEADS)))
    ax.set_ylabel("OOF RMSE")
    ax.set_title(f"{cv['exp']}: out-of-fold RMSE per fold")
    ax.legend(fontsize=8, ncols=2)
    _save(fig, path)


def oof_scatter(oof: pd.DataFrame, path: str) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(oof[TARGET], oof["blend"], s=6, alpha=0.5)
    ax.plot([1, 100], [1, 100], color="grey", lw=1)
    ax.set(xlim=(0, 101), ylim=(0, 101), xlabel="Pawpularity", ylabel="blended OOF prediction")
    ax.set_title("Out-of-fold: predicted vs true")
    _save(fig, path)


def training_curves(metrics: dict[int, pd.DataFrame], path: str) -> None:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    for fold, m in sorted(metrics.items()):
        ax1.plot(m["epoch"], m["train_loss"], marker="o", ms=3, label=f"fold {fold}")
        ax2.plot(m["epoch"], m["val_rmse"], marker="o", ms=3, label=f"fold {fold}")
    ax1.set(xlabel="epoch", ylabel="train BCE loss", title="Training loss")
    ax2.set(xlabel="epoch", ylabel="val RMSE", title="Validation RMSE")
    ax2.legend(fontsize=8)
    _save(fig, path)


def cv_table(cv: dict) -> pd.DataFrame:
    rows = [
        {"fold": str(f["fold"]), "rows": f["n"], **{h: round(f[h], 4) for h in HEADS}, "weight_mlp": f["weight_mlp"]}
        for f in cv["folds"]
    ]
    rows.append(
        {"fold": "all (OOF)", "rows": cv["n_oof"], **{h: round(cv["rmse"][h], 4) for h in HEADS}, "weight_mlp": np.nan}
    )
    return pd.DataFrame(rows)


def make_report_files(
    *,
    cv_json: str,
    oof_csv: str,
    metrics_csvs: list[str],
    folds: list[int],
    out_rmse: str,
    out_scatter: str,
    out_curves: str,
    out_table: str,
) -> None:
    cv = read_json(cv_json)
    rmse_by_fold(cv, out_rmse)
    oof_scatter(read_csv(oof_csv), out_scatter)
    training_curves({k: pd.read_csv(p) for k, p in zip(folds, metrics_csvs, strict=True)}, out_curves)
    write_csv(cv_table(cv), out_table)
