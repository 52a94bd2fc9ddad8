"""Cross-validation report over all out-of-fold rows, in the task's metric, and the guarded submission file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .data import ID, DataError, read_table
from .io import read_csv, read_json, write_csv, write_json
from .logs import log
from .metrics import recorded_label
from .task import Task


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
    task: str  # task.json
    metrics_csvs: list[str] = ()  # each fold's metrics.csv: the precision each epoch trained in
    tuning_json: str | None = None
    selection_json: str | None = None
    image: dict | None = None  # the config's image block: size, resize, max_aspect
    decision_rule: str = "none"  # decision.rule: auto, none or a rule's name (pawpipe.rules)
    out_decision: str | None = None  # decision.json: the rule fitted on every OOF row, for the submission


def selection_summary(path: str) -> dict:
    """What cv.json says of a feature selection: each fold's sets (chosen on the other folds' OOF rows,
    so the CV stays honest), each set alone, and the choice on all rows (labelled optimistic)."""
    s = read_json(path)
    return {
        "folds": {k: v["sets"] for k, v in s["folds"].items()},
        "alone": s["alone"],
        "svr_cv_score": s["cv_score"],
        "all_rows": {"sets": s["all_rows"]["sets"], "svr_score": s["cv_score_in_sample"]},
        "notes": {
            "all_rows": "optimistic: chosen and scored on the same rows; the submission uses each fold's own sets"
        },
    }


def fold_precision(metrics_csv: str) -> str:
    """The precision a fold trained in (`train.amp` on its device): bf16, fp16 or fp32; `fp32+bf16` for a
    fold resumed on another device; `unknown` for a fold trained before it was recorded."""
    column = read_csv(metrics_csv).get("precision")
    return "unknown" if column is None else "+".join(dict.fromkeys(column.astype(str)))


def fold_rows(job: CVJob) -> list[dict]:
    """The per-fold table: rows, each head's score, the blend's weights, the kernel head's backend and the
    precision the fold trained in."""
    rows = []
    metrics = list(job.metrics_csvs) or [None] * len(job.blend_jsons)
    for blend_json, svr_json, metrics_csv in zip(job.blend_jsons, job.svr_jsons, metrics, strict=True):
        s, svr = read_json(blend_json), read_json(svr_json)
        rows.append(
            {"fold": s["fold"], "n": s["n_oof"], **s["scores"], "weights": s["weights"], "svr_backend": svr["backend"],
             "precision": fold_precision(metrics_csv) if metrics_csv else "unknown"}
        )  # fmt: skip
    return sorted(rows, key=lambda r: r["fold"])


def one_precision(exp: str, per_fold: list[dict]) -> str:
    """The precision all folds trained in. With `train.amp: auto` the device decides it (bf16 on a recent
    GPU, fp32 on a CPU) without rerunning anything, so folds trained on different machines are refused
    here rather than averaged into one CV."""
    by = {}
    for r in per_fold:
        by.setdefault(r["precision"], []).append(r["fold"])
    if len(by) > 1:
        found = "; ".join(f"{p}: folds {', '.join(map(str, f))}" for p, f in by.items())
        raise ValueError(
            f"experiment {exp}: its folds trained in different precisions ({found}), so their CV would mix two "
            f"models. Retrain the odd folds on the device the others used (rerun with -R "
            f"models/{exp}/fold<k>/best.pt), or pin train.amp (bf16, fp16 or off) and retrain every fold."
        )
    return next(iter(by))


def baseline(oof: pd.DataFrame, folds: pd.DataFrame, task: Task) -> np.ndarray:
    """The honest floor: each fold predicts from its training rows alone (Task.baseline: their mean value,
    class or label frequencies, or mean distribution)."""
    fold_of, y = oof["fold"].to_numpy(), task.encode(folds)
    out = np.empty((len(oof), task.n_outputs) if task.n_outputs > 1 else len(oof))
    for k in np.unique(fold_of):
        out[fold_of == k] = task.baseline(y[folds["fold"].to_numpy() != k], int(np.sum(fold_of == k)))
    return out


def cv_report(job: CVJob) -> dict:
    """CV score of every component over all OOF rows (each head, each kernel-head feature set, the blend),
    per fold too, in the task's metric.

    The headline `blend` is cross-fitted (see pawpipe.blend); `blend_in_sample` is the optimistic
    figure whose weights were fitted on the rows it is scored on.
    """
    task = Task.load(job.task)
    oof = pd.concat([read_csv(p) for p in job.oof_csvs], ignore_index=True)
    folds = read_csv(job.folds_csv)
    if sorted(oof["Id"]) != sorted(folds["Id"]):
        raise ValueError("out-of-fold rows do not cover every training row exactly once; rerun the missing folds")
    target = task.encode(oof)
    per_fold = fold_rows(job)
    heads = list(per_fold[0]["weights"])
    kernel_sets = [h for h in task.heads_in(oof) if h.startswith("svr[")]
    components = [heads[0], *kernel_sets, *heads[1:], "blend", "blend_in_sample"]
    report = {
        "exp": job.exp,
        "task": {
            "type": task.type,
            "metric": task.metric_name,
            "label": task.scorer.label,
            "greater_is_better": task.scorer.greater_is_better,
        },  # fmt: skip
        "n_folds": len(per_fold),
        "n_oof": len(oof),
        "image": {k: job.image[k] for k in ("size", "resize", "max_aspect")} if job.image else None,
        "heads": heads,
        "scores": {
            **{h: task.score(target, task.get(oof, h)) for h in [*heads, "blend", "blend_in_sample"]},
            "baseline": task.score(target, baseline(oof, folds, task)),
        },
        "components": {c: task.score(target, task.get(oof, c)) for c in components},
        "notes": {
            "blend_in_sample": "optimistic: each fold's weights were fitted on the rows they are scored on",
            "baseline": f"predicting {task.baseline_label}",
        },
        "per_output": task.per_output(target, task.get(oof, "blend")),
        "svr_backends": sorted({r["svr_backend"] for r in per_fold}),
        "train_precision": one_precision(job.exp, per_fold),
        "folds": per_fold,
    }
    decision = fit_decision(task, oof, target, job.decision_rule)
    if decision["rule"]:
        report["scores"]["blend_rule"] = decision["cv_score"]
        report["decision"] = {k: decision[k] for k in ("rule", "params", "folds")}
        report["notes"]["blend_rule"] = decision["note"]
    elif decision.get("declined"):
        report["decision"] = {k: decision[k] for k in ("rule", "declined", "cv_score", "folds")}
        report["notes"]["decision"] = decision["note"]
    if job.out_decision:
        write_json(decision, job.out_decision)
    if job.tuning_json:
        report["svr_tuning"] = read_json(job.tuning_json)["best"]
    if job.selection_json:
        report["svr_selection"] = selection_summary(job.selection_json)
    write_csv(oof.sort_values(["fold", "Id"]), job.out_oof)
    write_json(report, job.out_json)
    log.info("\n%s", format_cv_table(report))
    return report


def fit_decision(task: Task, oof: pd.DataFrame, target: np.ndarray, setting: str) -> dict:
    """The decision rule (decision.rule; auto: the one the task's metric calls for) fitted on the blend's
    OOF rows: its CV cross-fitted over the folds (each fold's rows decided by the rule fitted on the other
    folds'), and its parameters on every OOF row (what the submission applies). Under `auto` a rule whose
    cross-fitted CV is no better than the plain blend's is declined (recorded, not applied); a rule named
    in decision.rule is applied either way."""
    from .rules import cross_fitted_score, get_rule

    name = task.decision_rule if setting == "auto" else (None if setting == "none" else setting)
    if name is None:
        return {"rule": None, "params": None}
    blend = task.get(oof, "blend")
    score, per_fold = cross_fitted_score(task, name, blend, target, oof["fold"].to_numpy())
    plain = task.score(target, blend)
    if setting == "auto" and not task.scorer.better(score, plain):
        note = (f"the blend decided by the {name} rule fitted on other folds' rows scores {score:.4f}, no better "
                f"than {plain:.4f} without it: not applied (decision.rule: {name} applies it anyway)")  # fmt: skip
        log.info("decision rule %s declined: %s", name, note)
        return {"rule": None, "params": None, "declined": name, "cv_score": score, "folds": per_fold, "note": note}
    params = get_rule(name).fit(task, blend, target)
    note = f"the blend decided by the fitted {name} rule, each fold's rows by the rule fitted on the other folds' rows"
    log.info("decision rule %s: OOF %s %.4f cross-fitted (plain %.4f); on all rows %s", name, task.scorer.label,
             score, plain, params)  # fmt: skip
    return {"rule": name, "params": params, "folds": per_fold, "cv_score": score, "note": note}


def describe_images(image: dict) -> str:
    """One line saying how the images were fed to the model."""
    if image["resize"] == "squash":
        return f"images: {image['size']} px, squashed to squares (image.resize: squash)"
    return (
        f"images: {image['size']} px crops, aspect kept up to {image['max_aspect']:g}:1 "
        "(image.resize: crop; random crops to train, centre crops to predict)"
    )


def format_cv_table(report: dict) -> str:
    task = report["task"]
    label = recorded_label(task)
    direction = "higher is better" if task["greater_is_better"] else "lower is better"
    heads, t = report["heads"], report["scores"]
    weights = "w_" + heads[0] if len(heads) == 2 else "weights " + "/".join(heads)
    head = f"CV {label} for experiment {report['exp']!r} ({report['n_oof']} out-of-fold rows, {report['n_folds']} folds"
    lines = [
        f"{head}; {direction})",
        *([describe_images(report["image"])] if report.get("image") else []),
        *([f"trained in {report['train_precision']} (train.amp), every fold"] if report.get("train_precision") else []),
        f"{'fold':>6} {'rows':>6} " + " ".join(f"{h:>8}" for h in [*heads, "blend"]) + f" {weights:>6}  svr backend",
    ]
    for r in report["folds"]:
        w = list(r["weights"].values())
        shown = f"{w[0]:>6.2f}" if len(w) == 2 else "/".join(f"{v:.2f}" for v in w)
        cells = " ".join(f"{r[h]:>8.3f}" for h in [*heads, "blend"])
        lines.append(f"{r['fold']:>6} {r['n']:>6} {cells} {shown}  {r.get('svr_backend', '')}")
    lines.append(f"{'all':>6} {report['n_oof']:>6} " + " ".join(f"{t[h]:>8.3f}" for h in [*heads, "blend"]))
    lines.append(f"blend with in-sample weights (fitted on the rows scored; optimistic): {t['blend_in_sample']:.3f}")
    if "blend_rule" in t:
        lines.append(f"blend with the {report['decision']['rule']} rule fitted on OOF rows (cross-fitted over folds; "
                     f"what is submitted): {t['blend_rule']:.3f}")  # fmt: skip
    elif (report.get("decision") or {}).get("declined"):
        d = report["decision"]
        lines.append(f"blend with the {d['declined']} rule fitted on OOF rows (cross-fitted over folds): "
                     f"{d['cv_score']:.3f}, no better than without it: not applied")  # fmt: skip
    lines.append(f"{report['notes']['baseline']}: {t['baseline']:.3f}")
    if report.get("per_output"):
        lines.append("blend per output: " + ", ".join(f"{k} {v:.3f}" for k, v in report["per_output"].items()))
    extra = {k: v for k, v in report.get("components", {}).items() if k.startswith("svr[")}
    if extra:
        lines.append("SVR on each feature set alone: " + ", ".join(f"{k} {v:.3f}" for k, v in extra.items()))
    if "svr_tuning" in report:
        b = report["svr_tuning"]
        lines.append(f"SVR tuned on OOF {label}: C={b['C']:g}, epsilon={b['epsilon']:g}")
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
        f"SVR {a['svr_score']:.3f}",
    ]


def check_submission(sub: pd.DataFrame, test_ids: list[str], task: Task, where: str = "submission") -> None:
    """Raise DataError unless `sub` has sample_submission.csv's columns, exactly the test ids, and values
    the task allows (finite numbers within its bounds, probabilities in [0, 1], or known labels)."""
    problems = task.submission_problems(sub, test_ids, where)
    if problems:
        raise DataError(problems)


def check_submission_file(path: str | Path, test_table: str | Path, task: Task) -> pd.DataFrame:
    """A submission file read and checked against the test table (check_submission); returned."""
    sub = read_csv(path, id_column=task.id)
    check_submission(sub, read_table(test_table, task.id)[ID].tolist(), task, str(path))
    return sub


def decided_task(task_json: str, decision_json: str | None) -> Task:
    """The run's task with the decision rule the cv rule fitted (decision.json), as the submission, the
    package and the notebook apply it."""
    task = Task.load(task_json)
    if not decision_json:
        return task
    decision = read_json(decision_json)
    return task.with_decision(decision["rule"], decision["params"])


def make_submission(*, test_csvs: list[str], test_table: str, task: Task, out_csv: str) -> pd.DataFrame:
    """The folds' blended test predictions made into the submission (Task.submission_frame: their mean,
    then the decision rule, clipped, labelled or one column per class), in the test table's order,
    checked before it is written."""
    test_ids = read_table(test_table, task.id)[ID].tolist()
    preds = []
    for p in test_csvs:
        df = read_csv(p).set_index(ID)
        if set(df.index) != set(test_ids) or len(df) != len(test_ids):
            raise ValueError(f"{p}: its ids differ from {test_table}; rerun that fold's embed stage")
        preds.append(task.get(df.loc[test_ids], "blend"))
    sub = task.submission_frame(test_ids, preds)
    check_submission(sub, test_ids, task, out_csv)
    write_csv(sub, out_csv)
    first = sub[task.columns[0]]
    numeric = pd.api.types.is_numeric_dtype(first)
    summary = f"mean {first.mean():.2f}, range {first.min():.2f}..{first.max():.2f}" if numeric else (
        f"{first.nunique()} distinct values")  # fmt: skip
    log.info("wrote %s: %d rows, %s; %s", out_csv, len(sub), task.columns[0], summary)
    return sub


def cv_markdown(cv_jsons: list[str]) -> str:
    """A markdown table of finished experiments' CV (each row from its cv.json): the task, each head, the
    blend, the blend decided by its rule where it has one, and the baseline."""
    from .metrics import recorded_label

    def f(x: float) -> str:
        return f"{x:.3f}".replace("-0.000", "0.000")

    lines = ["| experiment | type | metric | MLP | kernel head | blend | blend, rule decided | baseline |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for path in cv_jsons:
        r = read_json(path)
        t, s = r["task"], r["scores"]
        arrow = "↑" if t["greater_is_better"] else "↓"
        declined = (r.get("decision") or {}).get("declined")
        rule = (f"{f(s['blend_rule'])} ({r['decision']['rule']})" if "blend_rule" in s else
                f"{f(r['decision']['cv_score'])} ({declined}, not applied)" if declined else "–")  # fmt: skip
        heads = [f(s[h]) if h in s else "–" for h in ("mlp", "svr")]
        lines.append(f"| {r['exp']} | {t['type']} | {recorded_label(t)} {arrow} | {' | '.join(heads)} | "
                     f"{f(s['blend'])} | {rule} | {f(s['baseline'])} |")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":  # python -m pawpipe.report models/*/cv.json: the CV table of finished experiments
    import sys

    print(cv_markdown(sys.argv[1:]))
