"""Blend heads across experiments: the blend core (pawpipe.blend) over every head of every chosen
experiment, its weights fitted on the out-of-fold predictions in the task's metric.

The weights applied to the test set are fitted on every OOF row; the reported OOF figure is honest:
each fold's OOF rows are blended with weights fitted on the other folds' OOF rows only (blend.cross_fit
over the outer folds); the in-sample figure is kept beside it, labelled optimistic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .blend import cross_fit, fit_weights, fold_mean, mix
from .data import ID, read_table
from .io import read_csv, read_json, write_csv, write_json
from .logs import log
from .report import check_submission
from .task import Task


@dataclass(frozen=True)
class EnsembleJob:
    """The ensemble rule's inputs, one entry per experiment in `experiments` order (its oof.csv, cv.json,
    task.json and each fold's blend_test.csv), and outputs."""

    name: str
    experiments: list[str]
    oof_csvs: list[str]
    cv_jsons: list[str]
    task_jsons: list[str]
    test_csvs: dict[str, list[str]]
    test_table: str
    out_json: str
    out_oof: str
    out_submission: str

    @classmethod
    def of_rule(cls, sm, **more):
        """The job of a Snakemake rule whose inputs are named oof, cv, task, tests and table, and whose
        outputs summary, oof and submission (the ensemble's and the stack's rules); `more`: the rest."""
        experiments = list(sm.params.experiments)
        tests = {e: [p for p in sm.input.tests if Path(p).parts[:2] == ("models", e)] for e in experiments}
        return cls(name=sm.params.name, experiments=experiments, oof_csvs=list(sm.input.oof),
                   cv_jsons=list(sm.input.cv), task_jsons=list(sm.input.task), test_csvs=tests,
                   test_table=sm.input.table, out_json=sm.output.summary, out_oof=sm.output.oof,
                   out_submission=sm.output.submission, **more)  # fmt: skip


def one_task(task_jsons: list[str]) -> Task:
    """The experiments' task, refused unless they are all of one competition (type, classes, metric)."""
    task = Task.load(task_jsons[0])
    for path in task_jsons[1:]:
        other = Task.load(path)
        if (other.type, other.classes, other.metric) != (task.type, task.classes, task.metric):
            raise ValueError(f"{path}: another task ({other.type}, {other.metric_name}) than {task_jsons[0]}'s; "
                             f"an ensemble blends experiments of one competition")  # fmt: skip
    return task


def components(job: EnsembleJob, task: Task, test_ids: list[str]):
    """(the OOF rows' Id, targets and fold, {experiment:head: its OOF prediction}, {...: its folds' mean
    test prediction}), every experiment's rows checked to be the same."""
    base, oof, test = None, {}, {}
    for exp, oof_csv, cv_json in zip(job.experiments, job.oof_csvs, job.cv_jsons, strict=True):
        o = read_csv(oof_csv).set_index(ID)
        if base is None:
            base = o[[*task.target_columns, "fold"]]
        elif set(o.index) != set(base.index):
            raise ValueError(
                f"{oof_csv}: its out-of-fold rows differ from {job.oof_csvs[0]}; blend experiments trained on the "
                f"same data"
            )
        for head in read_json(cv_json)["heads"]:
            oof[f"{exp}:{head}"] = task.get(o.loc[base.index], head)
            folds = [task.get(read_csv(p).set_index(ID).loc[test_ids], head) for p in job.test_csvs[exp]]
            test[f"{exp}:{head}"] = fold_mean(folds)
    return base, oof, test


def ensemble(job: EnsembleJob) -> dict:
    """Fit the weights on all OOF rows of every experiment's heads; apply them to the folds' mean test predictions."""
    task = one_task(job.task_jsons)
    test_ids = read_table(job.test_table, task.id)[ID].tolist()
    base, oof_parts, test_parts = components(job, task, test_ids)
    names, preds = list(oof_parts), list(oof_parts.values())
    target = task.encode(base)
    w = fit_weights(preds, target, task)
    oof = base.copy()
    for n, part in oof_parts.items():
        task.put(oof, n, part)
    task.put(oof, "ensemble", mix(cross_fit(preds, target, base["fold"].to_numpy(), task), preds))
    task.put(oof, "ensemble_in_sample", mix(w, preds))
    sub = task.submission_frame(test_ids, [mix(w, list(test_parts.values()))])
    check_submission(sub, test_ids, task, job.out_submission)
    summary = {
        "name": job.name,
        "experiments": job.experiments,
        "metric": task.metric_name,
        "weights": dict(zip(names, map(float, w), strict=True)),
        "scores": {c: task.score(target, task.get(oof, c)) for c in [*names, "ensemble", "ensemble_in_sample"]},
        "notes": {
            "ensemble": "each fold's OOF rows blended with weights fitted on the other folds' OOF rows",
            "ensemble_in_sample": "optimistic: weights fitted on the rows scored",
        },
    }
    write_csv(oof.reset_index(), job.out_oof)
    write_json(summary, job.out_json)
    write_csv(sub, job.out_submission)
    log.info(
        "ensemble %s: OOF %s %.4f (cross-fitted over folds; in-sample %.4f); weights %s",
        job.name, task.scorer.label, summary["scores"]["ensemble"], summary["scores"]["ensemble_in_sample"],
        ", ".join(f"{c} {v:.2f}" for c, v in summary["weights"].items()),
    )  # fmt: skip
    return summary
