"""Figures and the CV table for `snakemake --report`, as a user of the task expects them.

Every task gets the score of each head per fold, the training curves and the CV table; its type names
its two out-of-fold figures (Task.figures, from FIGURES): a predicted-vs-true scatter and the
distribution of predictions (regression), per target (multi-target); the confusion matrix of the
blend's labels and the ROC curve (binary) or the reliability of the most probable class (multiclass);
the score per label and the label counts (multi-label); the mean distribution and the reliability
(soft labels).
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .io import atomic_path, read_csv, read_json, write_csv  # noqa: E402
from .metrics import recorded_label  # noqa: E402
from .task import Task  # noqa: E402

plt.rcParams["svg.hashsalt"] = "pawpipe"  # the same figure gives the same file: no random ids


def save_svg(fig, path: str) -> None:
    """Write a figure as SVG, atomically and reproducibly (no date in its metadata)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)


def score_by_fold(cv: dict, path: str) -> None:
    folds, heads = cv["folds"], [*cv["heads"], "blend"]
    label = recorded_label(cv["task"])
    width = 0.8 / len(heads)
    x = np.arange(len(folds))
    fig, ax = plt.subplots(figsize=(max(5, len(folds) * 0.9), 3.5))
    for i, head in enumerate(heads):
        offset = (i - (len(heads) - 1) / 2) * width
        ax.bar(x + offset, [f[head] for f in folds], width=width, label=f"{head} (CV {cv['scores'][head]:.3f})")
    ax.axhline(cv["scores"]["baseline"], color="grey", ls="--", lw=1, label=cv["notes"]["baseline"])
    ax.set_xticks(x, [f"fold {f['fold']}" for f in folds])
    top = max(cv["scores"]["baseline"], *(f[h] for f in folds for h in heads))
    ax.set_ylim(0, 1.35 * top if top > 0 else 1)
    ax.set_ylabel(f"OOF {label}")
    ax.set_title(f"{cv['exp']}: out-of-fold {label} per fold")
    ax.legend(fontsize=8, ncols=2)
    save_svg(fig, path)


def scatter(oof: pd.DataFrame, task: Task, path: str) -> None:
    """Predicted against true values (a regression)."""
    target, blend = task.encode(oof), task.get(oof, "blend")
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(target, blend, s=6, alpha=0.5)
    lo, hi = task.bounds if task.bounds else (min(target.min(), blend.min()), max(target.max(), blend.max()))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=1)
    ax.set(xlabel=task.target, ylabel="blended OOF prediction", title="Out-of-fold: predicted vs true")
    save_svg(fig, path)


def scatter_per_output(oof: pd.DataFrame, task: Task, path: str) -> None:
    """Predicted against true values, a panel per target column."""
    target, blend = task.encode(oof), task.get(oof, "blend")
    n = task.n_outputs
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.4), squeeze=False)
    for k, (ax, name) in enumerate(zip(axes[0], task.output_names, strict=True)):
        ax.scatter(target[:, k], blend[:, k], s=5, alpha=0.5)
        lo, hi = min(target[:, k].min(), blend[:, k].min()), max(target[:, k].max(), blend[:, k].max())
        ax.plot([lo, hi], [lo, hi], color="grey", lw=1)
        ax.set(xlabel=f"true {name}", ylabel="blended OOF prediction", title=name)
    save_svg(fig, path)


def histogram(oof: pd.DataFrame, task: Task, path: str) -> None:
    """The distribution of predictions against that of the targets."""
    target, blend = task.encode(oof), task.get(oof, "blend")
    fig, ax = plt.subplots(figsize=(4.5, 4))
    bins = np.histogram_bin_edges(np.concatenate([target, blend]), bins=30)
    ax.hist(target, bins=bins, alpha=0.5, label=task.target)
    ax.hist(blend, bins=bins, alpha=0.5, label="blended OOF prediction")
    ax.set(xlabel=task.target, ylabel="rows", title="Predictions against targets")
    ax.legend(fontsize=8)
    save_svg(fig, path)


def confusion(oof: pd.DataFrame, task: Task, path: str) -> None:
    """The confusion matrix of the blend's labels (as the metric and the submission decide them)."""
    target, labels = task.encode(oof), task.labels(task.get(oof, "blend"))
    k = len(task.classes)
    matrix = np.zeros((k, k), int)
    np.add.at(matrix, (target, labels), 1)
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * k, 1 + 0.55 * k))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), n in np.ndenumerate(matrix):
        ax.text(j, i, str(n), ha="center", va="center", fontsize=8, color="black" if n < matrix.max() / 2 else "white")
    names = [str(c) for c in task.classes]
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set(xlabel="predicted (blend)", ylabel=f"true {task.target}", title="Out-of-fold confusion matrix")
    save_svg(fig, path)


def roc(oof: pd.DataFrame, task: Task, path: str) -> None:
    """The ROC curve of the positive class's blended probability."""
    target, blend = task.encode(oof), task.get(oof, "blend")
    fig, ax = plt.subplots(figsize=(4.5, 4))
    order = np.argsort(-blend, kind="stable")
    positive = target[order] == 1
    tpr = np.concatenate([[0], np.cumsum(positive) / max(positive.sum(), 1)])
    fpr = np.concatenate([[0], np.cumsum(~positive) / max((~positive).sum(), 1)])
    ax.plot(fpr, tpr)
    ax.plot([0, 1], [0, 1], color="grey", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="Out-of-fold ROC curve (blend)")
    save_svg(fig, path)


def reliability(oof: pd.DataFrame, task: Task, path: str) -> None:
    """How often the most probable class is right, by its predicted probability."""
    target, blend = task.encode(oof), task.get(oof, "blend")
    truth = target if target.ndim == 1 else target.argmax(axis=1)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    confidence, correct = blend.max(axis=1), blend.argmax(axis=1) == truth
    edges = np.linspace(0, 1, 11)
    which = np.clip(np.digitize(confidence, edges) - 1, 0, 9)
    seen = [b for b in range(10) if (which == b).any()]
    ax.plot([0, 1], [0, 1], color="grey", lw=1)
    ax.plot([confidence[which == b].mean() for b in seen], [correct[which == b].mean() for b in seen], marker="o")
    ax.set(xlabel="predicted probability of the top class", ylabel="share correct", title="Reliability (blend)")
    save_svg(fig, path)


def per_output(oof: pd.DataFrame, task: Task, path: str) -> None:
    """The blend's score per target, label or class (Task.per_output), or the mean prediction against the
    mean target per output where the task has no per-output score."""
    target, blend = task.encode(oof), task.get(oof, "blend")
    scores = task.per_output(target, blend)
    fig, ax = plt.subplots(figsize=(max(4.5, 0.6 * task.n_outputs + 2), 3.6))
    x = np.arange(task.n_outputs)
    if scores:
        ax.bar(x, list(scores.values()))
        ax.set(ylabel=next(iter(scores)).split(" ")[0] + " (blend, OOF)", title="Out-of-fold score per output")
    else:
        ax.bar(x - 0.2, target.mean(axis=0), width=0.4, label="mean target")
        ax.bar(x + 0.2, blend.mean(axis=0), width=0.4, label="mean blended prediction")
        ax.set(ylabel="share", title="Mean prediction against mean target per output")
        ax.legend(fontsize=8)
    ax.set_xticks(x, task.output_names, rotation=45, ha="right")
    save_svg(fig, path)


def label_counts(oof: pd.DataFrame, task: Task, path: str) -> None:
    """Per label: true positives against predicted positives (the labels the submission would give)."""
    target, labels = task.encode(oof), task.labels(task.get(oof, "blend"))
    x = np.arange(task.n_outputs)
    fig, ax = plt.subplots(figsize=(max(4.5, 0.6 * task.n_outputs + 2), 3.6))
    ax.bar(x - 0.2, target.sum(axis=0), width=0.4, label="true")
    ax.bar(x + 0.2, labels.sum(axis=0), width=0.4, label="predicted (blend)")
    ax.set_xticks(x, task.output_names, rotation=45, ha="right")
    ax.set(ylabel="rows", title="Out-of-fold label counts")
    ax.legend(fontsize=8)
    save_svg(fig, path)


FIGURES = {f.__name__: f for f in (scatter, scatter_per_output, histogram, confusion, roc, reliability,
                                   per_output, label_counts)}  # fmt: skip


def training_curves(metrics: dict[int, pd.DataFrame], metric: str, label: str, path: str) -> None:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    for fold, m in sorted(metrics.items()):
        ax1.plot(m["epoch"], m["train_loss"], marker="o", ms=3, label=f"fold {fold}")
        ax2.plot(m["epoch"], m[f"val_{metric}"], marker="o", ms=3, label=f"fold {fold}")
    ax1.set(xlabel="epoch", ylabel="train loss", title="Training loss")
    ax2.set(xlabel="epoch", ylabel=f"val {label}", title=f"Validation {label}")
    ax2.legend(fontsize=8)
    save_svg(fig, path)


def cv_table(cv: dict) -> pd.DataFrame:
    heads = [*cv["heads"], "blend"]
    rows = [
        {
            "fold": str(f["fold"]),
            "rows": f["n"],
            **{h: round(f[h], 4) for h in heads},
            **{f"weight_{h}": w for h, w in f["weights"].items()},
        }  # fmt: skip
        for f in cv["folds"]
    ]
    rows.append({"fold": "all (OOF)", "rows": cv["n_oof"], **{h: round(cv["scores"][h], 4) for h in heads}})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class PlotsJob:
    """The plots rule's inputs (cv.json, oof.csv, each fold's metrics.csv in the order of `folds`) and
    the figures and table it writes."""

    cv_json: str
    oof_csv: str
    metrics_csvs: list[str]
    folds: list[int]
    task: str  # task.json
    out_scores: str
    out_oof: str
    out_curve: str
    out_curves: str
    out_table: str


def make_report_files(job: PlotsJob) -> None:
    cv, task = read_json(job.cv_json), Task.load(job.task)
    oof = read_csv(job.oof_csv)
    score_by_fold(cv, job.out_scores)
    for name, path in zip(task.figures, (job.out_oof, job.out_curve), strict=True):  # the task type's figures
        FIGURES[name](oof, task, path)
    metrics = {k: pd.read_csv(p) for k, p in zip(job.folds, job.metrics_csvs, strict=True)}
    training_curves(metrics, task.metric_name, recorded_label(cv["task"]), job.out_curves)
    write_csv(cv_table(cv), job.out_table)
