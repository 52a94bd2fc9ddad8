"""The board: every finished experiment under models/ (from a sweep or not) in one table and one plot,
the question every competitor asks of a day's experiments: which is best, and does the CV track the
leaderboard?

A row per experiment: what differs from the base config (only the changed keys), the CV of each head
and of the blend (cross-fitted: honest) beside the in-sample blend (optimistic), the spread of the blend
over folds, the baseline, wall time and GPU hours per stage (from each job's usage record in logs/),
and the public and private leaderboard scores where publish or leaderboard recorded them. Experiments
are ranked by their blend's CV in their own metric's direction (within each metric), and the best is
marked. The plot is CV against public LB across experiments where there are scores, else the CV of
each experiment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .io import read_json, write_csv
from .logs import log
from .metrics import recorded_label
from .sweep import changed


@dataclass(frozen=True)
class BoardJob:
    """The board rule's inputs (each experiment's cv.json and experiment.json, in the same order) and outputs."""

    cv_jsons: list[str]
    experiment_jsons: list[str]
    base: dict  # the run's base config (runtime keys excluded): what each row's changes are relative to
    out_csv: str
    out_plot: str
    stack_jsons: list[str] = ()  # each stacker's stack.json: a row each, beside the experiments


def usage(exp_dir: Path) -> dict[str, dict[str, float]]:
    """Minutes and GPU hours per stage (rule) of one experiment, from its jobs' usage records."""
    stages: dict[str, dict[str, float]] = {}
    for path in sorted((exp_dir / "logs").glob("*.usage.json")):
        record = read_json(path)
        stage = stages.setdefault(record["rule"], {"minutes": 0.0, "gpu_hours": 0.0})
        stage["minutes"] += record["seconds"] / 60
        stage["gpu_hours"] += record["seconds"] * record.get("gpus", 0) / 3600
    return stages


def leaderboard_scores(path: Path) -> tuple[float | None, float | None]:
    """(public, private) of the experiment's latest scored submission, or None where none is recorded."""
    if not path.is_file():
        return None, None
    rows = pd.read_csv(path, dtype=str)
    scored = rows[pd.to_numeric(rows["public_score"], errors="coerce").notna()]
    if scored.empty:
        return None, None
    last = scored.iloc[-1]
    private = pd.to_numeric(last["private_score"], errors="coerce")
    return float(last["public_score"]), (None if pd.isna(private) else float(private))


def describe_changes(base: dict, config: dict) -> str:
    diff = changed({k: v for k, v in base.items() if k != "exp"}, {k: v for k, v in config.items() if k != "exp"})
    return "; ".join(f"{k}={json.dumps(v)}" for k, v in diff.items()) or "(base config)"


def board_row(cv: dict, experiment: dict, base: dict, root: Path) -> dict:
    exp = cv["exp"]
    scores, folds = cv["scores"], cv["folds"]
    row = {"exp": exp, "sweep": experiment.get("sweep"), "metric": cv["task"]["metric"]}
    row |= {
        "greater_is_better": cv["task"]["greater_is_better"],
        "metric_label": recorded_label(cv["task"]),
        "changed": describe_changes(base, experiment["config"]),
    }
    row |= {f"cv_{h}": scores[h] for h in cv["heads"]}
    row |= {
        "cv_blend": scores["blend"],
        "cv_blend_in_sample": scores["blend_in_sample"],
        "baseline": scores["baseline"],
    }
    row["fold_spread"] = float(np.std([f["blend"] for f in folds]))
    row["n_folds"] = cv["n_folds"]
    stages = usage(root / "models" / exp)
    row["minutes"] = sum(s["minutes"] for s in stages.values())
    row["gpu_hours"] = sum(s["gpu_hours"] for s in stages.values())
    for stage, s in sorted(stages.items()):
        row[f"minutes_{stage}"], row[f"gpu_hours_{stage}"] = s["minutes"], s["gpu_hours"]
    row["public_lb"], row["private_lb"] = leaderboard_scores(root / "submissions" / exp / "leaderboard.csv")
    return row


def stack_row(summary: dict, root: Path) -> dict:
    """A stacker's row: its cross-fitted CV as the row's figure, what it stacks as what changed."""
    exp = f"stack-{summary['name']}"
    folds = [f["score"] for f in summary["folds"].values()]
    stages = usage(root / "models" / exp)
    row = {"exp": exp, "sweep": None, "metric": summary["metric"], "greater_is_better": summary["greater_is_better"],
           "metric_label": summary["label"], "changed": f"stack of {', '.join(summary['experiments'])}",
           "cv_stack": summary["scores"]["stack"], "cv_blend": summary["scores"]["stack"],
           "cv_ensemble": summary["scores"]["ensemble"], "fold_spread": float(np.std(folds)), "n_folds": len(folds),
           "minutes": sum(s["minutes"] for s in stages.values()),
           "gpu_hours": sum(s["gpu_hours"] for s in stages.values())}  # fmt: skip
    row["public_lb"], row["private_lb"] = leaderboard_scores(root / "submissions" / exp / "leaderboard.csv")
    return row


def rank(table: pd.DataFrame) -> pd.DataFrame:
    """Rank within each metric by the blend's CV in the metric's direction; mark each metric's best."""
    table = table.copy()
    table["rank"] = 0
    for _, rows in table.groupby("metric"):
        order = rows["cv_blend"].rank(method="min", ascending=not bool(rows["greater_is_better"].iloc[0]))
        table.loc[rows.index, "rank"] = order.astype(int)
    table["best"] = table["rank"] == 1
    return table.sort_values(["metric", "rank", "exp"], kind="stable").reset_index(drop=True)


def plot(table: pd.DataFrame, path: str) -> None:
    """One panel per metric: CV against public LB where the experiments have scores (the diagonal marks
    CV = LB), else each experiment's CV with its fold standard error and the in-sample blend."""
    import matplotlib.pyplot as plt

    from .plots import save_svg

    metrics = list(dict.fromkeys(table["metric"]))
    n = max(len(g) for _, g in table.groupby("metric"))
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.5 * len(metrics), 1.2 + 0.45 * n), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        rows = table[table["metric"] == metric]
        label = rows["metric_label"].iloc[0]
        scored = rows[rows["public_lb"].notna()]
        if len(scored):
            ax.scatter(scored["cv_blend"], scored["public_lb"], color="tab:blue")
            for _, r in scored.iterrows():
                ax.annotate(r["exp"] + (" *" if r["best"] else ""), (r["cv_blend"], r["public_lb"]), fontsize=7,
                            xytext=(4, 2), textcoords="offset points")  # fmt: skip
            lo = min(scored["cv_blend"].min(), scored["public_lb"].min())
            hi = max(scored["cv_blend"].max(), scored["public_lb"].max())
            ax.plot([lo, hi], [lo, hi], ls="--", lw=1, color="grey", label="CV = LB")
            ax.legend(fontsize=8)
            ax.set(xlabel=f"CV {label} (blend, cross-fitted)", ylabel=f"public leaderboard {label}",
                   title="CV against public LB (* best CV)")  # fmt: skip
            continue
        y = np.arange(len(rows))[::-1]
        sem = rows["fold_spread"] / np.sqrt(rows["n_folds"])
        colors = ["tab:orange" if b else "tab:blue" for b in rows["best"]]
        ax.errorbar(rows["cv_blend"], y, xerr=sem, fmt="none", ecolor="grey", capsize=3)
        ax.scatter(rows["cv_blend"], y, color=colors, zorder=3, label="blend, cross-fitted (± fold s.e.)")
        ax.scatter(rows["cv_blend_in_sample"], y, facecolors="none", edgecolors="grey", zorder=3,
                   label="blend, in-sample (optimistic)")  # fmt: skip
        ax.set_yticks(y, [r["exp"] + (" *" if r["best"] else "") for _, r in rows.iterrows()])
        better = "higher" if bool(rows["greater_is_better"].iloc[0]) else "lower"
        ax.set(xlabel=f"CV {label} ({better} is better)", title="CV per experiment (* best); no leaderboard scores yet")
        ax.legend(fontsize=7, loc="best")
    save_svg(fig, path)


def write_board(job: BoardJob, root: str | Path = ".") -> pd.DataFrame:
    root = Path(root)
    rows = [
        board_row(read_json(cv), read_json(experiment), job.base, root)
        for cv, experiment in zip(job.cv_jsons, job.experiment_jsons, strict=True)
    ] + [stack_row(read_json(path), root) for path in job.stack_jsons]
    table = rank(pd.DataFrame(rows))
    write_csv(table, job.out_csv)
    plot(table, job.out_plot)
    log.info("\n%s", format_board(table))
    return table


def format_board(table: pd.DataFrame) -> str:
    heads = [c for c in table.columns if c.startswith("cv_") and c not in ("cv_blend", "cv_blend_in_sample")]
    cols = ["rank", "exp", *heads, "cv_blend", "cv_blend_in_sample", "fold_spread", "minutes", "public_lb", "changed"]
    shown = table[[c for c in cols if c in table.columns]].copy()
    shown["rank"] = [f"{r}{' *' if b else ''}" for r, b in zip(table["rank"], table["best"], strict=True)]
    text = shown.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-")
    return "board (* best by CV in its metric; blend cross-fitted, in-sample optimistic):\n" + text
