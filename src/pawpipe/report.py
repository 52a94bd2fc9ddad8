"""Cross-validation report over all out-of-fold rows, and the guarded submission file."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data import TARGET, DataError
from .io import read_csv, read_json, write_csv, write_json
from .logs import log
from .metrics import rmse

HEADS = ("mlp", "svr", "blend")


@dataclass(frozen=True)
class CVJob:
    """The cv rule's inputs (one file per fold, in fold order) and outputs."""

    exp: str
    folds_csv: str
    oof_csvs: list[str]
    blend_jsons: list[str]
    svr_jsons: list[str]
    out_json: str
    out_oof: str
    tuning_json: str | None = None
    selection_json: str | None = None
    image: dict | None = None  # the config's image block: size, resize, max_aspect


def selection_summary(path: str) -> dict:
    """What cv.json says of a feature selection: each fold's sets (chosen on the other folds' OOF rows,
    so the CV stays honest), each set alone, and the choice on all rows (labelled optimistic)."""
    s = read_json(path)
    return {
        "folds": {k: v["sets"] for k, v in s["folds"].items()},
        "alone": s["alone"],
        "svr_cv_rmse": s["cv_rmse"],
        "all_rows": {"sets": s["all_rows"]["sets"], "svr_rmse": s["cv_rmse_in_sample"]},
        "notes": {
            "all_rows": "optimistic: chosen and scored on the same rows; the submission uses each fold's own sets"
        },
    }


def fold_rows(job: CVJob) -> list[dict]:
    """The per-fold table: rows, each head's RMSE, the blend weight and the SVR backend."""
    rows = []
    for blend_json, svr_json in zip(job.blend_jsons, job.svr_jsons, strict=True):
        s, svr = read_json(blend_json), read_json(svr_json)
        rows.append(
            {
                "fold": s["fold"],
                "n": s["n_oof"],
                **s["rmse"],
                "weight_mlp": s["weight_mlp"],
                "svr_backend": svr["backend"],
            }
        )
    return sorted(rows, key=lambda r: r["fold"])


def cv_report(job: CVJob) -> dict:
    """CV RMSE of every component over all OOF rows (each head, each SVR feature set, the blend), per fold too.

    The headline `blend` is cross-fitted (see pawpipe.blend); `blend_in_sample` is the optimistic
    figure whose weights were fitted on the rows it is scored on.
    """
    oof = pd.concat([read_csv(p) for p in job.oof_csvs], ignore_index=True)
    folds = read_csv(job.folds_csv)
    if sorted(oof["Id"]) != sorted(folds["Id"]):
        raise ValueError("out-of-fold rows do not cover every training row exactly once; rerun the missing folds")
    target = oof[TARGET].to_numpy(float)
    # The honest floor: each fold predicts its training rows' mean.
    mean_pred = oof["fold"].map({k: folds.loc[folds["fold"] != k, TARGET].mean() for k in oof["fold"].unique()})
    heads = [*HEADS, "blend_in_sample"]
    components = ["mlp", *[c for c in oof.columns if c.startswith("svr[")], "svr", "blend", "blend_in_sample"]
    per_fold = fold_rows(job)
    report = {
        "exp": job.exp,
        "n_folds": len(per_fold),
        "n_oof": len(oof),
        "image": {k: job.image[k] for k in ("size", "resize", "max_aspect")} if job.image else None,
        "rmse": {**{h: rmse(oof[h], target) for h in heads}, "mean_predictor": rmse(mean_pred, target)},
        "components": {c: rmse(oof[c], target) for c in components},
        "notes": {"blend_in_sample": "optimistic: each fold's weight was fitted on the rows it is scored on"},
        "svr_backends": sorted({r["svr_backend"] for r in per_fold}),
        "folds": per_fold,
    }
    if job.tuning_json:
        report["svr_tuning"] = read_json(job.tuning_json)["best"]
    if job.selection_json:
        report["svr_selection"] = selection_summary(job.selection_json)
    write_csv(oof.sort_values(["fold", "Id"]), job.out_oof)
    write_json(report, job.out_json)
    log.info("\n%s", format_cv_table(report))
    return report


def describe_images(image: dict) -> str:
    """One line saying how the images were fed to the model."""
    if image["resize"] == "squash":
        return f"images: {image['size']} px, squashed to squares (image.resize: squash)"
    return (
        f"images: {image['size']} px crops, aspect kept up to {image['max_aspect']:g}:1 "
        "(image.resize: crop; random crops to train, centre crops to predict)"
    )


def format_cv_table(report: dict) -> str:
    lines = [
        f"CV RMSE for experiment {report['exp']!r} ({report['n_oof']} out-of-fold rows, {report['n_folds']} folds)",
        *([describe_images(report["image"])] if report.get("image") else []),
        f"{'fold':>6} {'rows':>6} {'mlp':>8} {'svr':>8} {'blend':>8} {'w_mlp':>6}  svr backend",
    ]
    for r in report["folds"]:
        lines.append(
            f"{r['fold']:>6} {r['n']:>6} {r['mlp']:>8.3f} {r['svr']:>8.3f} {r['blend']:>8.3f} {r['weight_mlp']:>6.2f}"
            f"  {r.get('svr_backend', '')}"
        )
    t = report["rmse"]
    lines.append(f"{'all':>6} {report['n_oof']:>6} {t['mlp']:>8.3f} {t['svr']:>8.3f} {t['blend']:>8.3f}")
    if "blend_in_sample" in t:
        lines.append(
            f"blend with in-sample weights (fitted on the rows scored; optimistic): {t['blend_in_sample']:.3f}"
        )
    lines.append(f"predicting each fold's training mean: {t['mean_predictor']:.3f}")
    extra = {k: v for k, v in report.get("components", {}).items() if k.startswith("svr[")}
    if extra:
        lines.append("SVR on each feature set alone: " + ", ".join(f"{k} {v:.3f}" for k, v in extra.items()))
    if "svr_tuning" in report:
        b = report["svr_tuning"]
        lines.append(f"SVR tuned on OOF RMSE: C={b['C']:g}, epsilon={b['epsilon']:g}")
    if "svr_selection" in report:
        lines += format_selection(report["svr_selection"])
    return "\n".join(lines)


def format_selection(sel: dict) -> list[str]:
    alone = ", ".join(f"{k} {v:.3f}" for k, v in sel["alone"].items())
    per_fold = "; ".join(f"{k}: {'+'.join(v)}" for k, v in sel["folds"].items())
    a = sel["all_rows"]
    return [
        f"SVR on each feature set alone: {alone}",
        f"SVR feature sets by forward selection, per fold on the other folds' OOF rows: {per_fold}",
        f"  chosen on all rows (optimistic, scored on the rows that chose it): {'+'.join(a['sets'])}, "
        f"SVR {a['svr_rmse']:.3f}",
    ]


def check_submission(sub: pd.DataFrame, test_ids: list[str], where: str = "submission") -> None:
    """Raise DataError unless `sub` is Id,Pawpularity with exactly the test Ids and finite values in 1..100."""
    problems = []
    if list(sub.columns) != ["Id", TARGET]:
        problems.append(f"{where}: columns are {list(sub.columns)}, expected ['Id', '{TARGET}']")
    else:
        if len(sub) != len(test_ids):
            problems.append(f"{where}: {len(sub)} rows, but the test set has {len(test_ids)}")
        dup = sub.loc[sub["Id"].duplicated(), "Id"].tolist()
        if dup:
            problems.append(f"{where}: duplicated Ids {dup[:5]}")
        missing, extra = set(test_ids) - set(sub["Id"]), set(sub["Id"]) - set(test_ids)
        if missing:
            problems.append(f"{where}: {len(missing)} test Ids have no prediction, e.g. {sorted(missing)[:5]}")
        if extra:
            problems.append(f"{where}: {len(extra)} Ids are not in the test set, e.g. {sorted(extra)[:5]}")
        values = pd.to_numeric(sub[TARGET], errors="coerce").to_numpy(float)
        bad = ~np.isfinite(values) | (values < 1) | (values > 100)
        if bad.any():
            problems.append(
                f"{where}: {int(bad.sum())} predictions are not finite numbers in [1, 100], "
                f"e.g. Id {sub['Id'][bad].iloc[0]!r}"
            )
    if problems:
        raise DataError(problems)


def submission_values(fold_preds: list[np.ndarray]) -> np.ndarray:
    """The submitted values: the mean of the folds' blended test predictions, clipped to [1, 100]. The
    pipeline's submission and the Kaggle notebook both compute it here."""
    return np.clip(np.mean(fold_preds, axis=0), 1, 100)


def make_submission(*, test_csvs: list[str], test_table: str, out_csv: str) -> pd.DataFrame:
    """Mean of the folds' blended test predictions, clipped to [1, 100], in test.csv's Id order."""
    test_ids = read_csv(test_table)["Id"].tolist()
    preds = []
    for p in test_csvs:
        df = read_csv(p).set_index("Id")
        if set(df.index) != set(test_ids) or len(df) != len(test_ids):
            raise ValueError(f"{p}: its Ids differ from {test_table}; rerun that fold's embed stage")
        preds.append(df.loc[test_ids, "blend"].to_numpy(float))
    sub = pd.DataFrame({"Id": test_ids, TARGET: submission_values(preds)})
    check_submission(sub, test_ids, out_csv)
    write_csv(sub, out_csv)
    log.info(
        "wrote %s: %d rows, mean %.2f, range %.2f..%.2f",
        out_csv,
        len(sub),
        sub[TARGET].mean(),
        sub[TARGET].min(),
        sub[TARGET].max(),
    )
    return sub
