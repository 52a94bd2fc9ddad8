"""Multi-label classification: any number of labels per row. The targets are K binary columns
(task.target lists them, as RANZCR CLiP has them) or one column of space-separated labels (task.target
names it, as Plant Pathology 2021 has it); a head predicts a probability per label. The folds are
iteratively stratified on the labels (iterative-stratification's MultilabelStratifiedKFold, on the
near-duplicate groups' label unions so that a group stays in one fold); the kernel head is one
calibrated SVC per label. Submitted as a probability column per label, or as one column of the
space-separated labels predicted."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data import shown
from . import Task, objective_spec, register_task, sorted_classes
from .checks import number_problems, sample_problem

THRESHOLD = 0.5  # a label is predicted from this probability on (a fitted rule replaces it: pawpipe.rules)


def tokens(value) -> list[str]:
    """The labels of one cell of a space-separated label column ('scab frog_eye_leaf_spot')."""
    return [] if pd.isna(value) else str(value).split()


@register_task("multilabel")
@dataclass(frozen=True)
class Multilabel(Task):
    losses = ("bce",)
    submissions = ("probabilities", "labels")
    rules = ("thresholds", "temperature")
    figures = ("per_output", "label_counts")
    baseline_label = "each fold's training label frequencies"
    per_class = True

    @classmethod
    def config_problems(cls, task: dict) -> list[str]:
        problems = super().config_problems(task)
        weights, targets = task.get("weights"), task["target"]
        if weights is not None and not isinstance(targets, str) and len(weights) != len(targets):
            problems.append(f"task.weights: {len(weights)} weights for {len(targets)} label columns")
        return problems

    @property
    def spaced(self) -> bool:
        """Whether the labels are one column of space-separated names (else a 0/1 column per label)."""
        return isinstance(self.target, str)

    def encode(self, frame):
        if not self.spaced:
            return frame[self.target_columns].apply(pd.to_numeric).to_numpy(np.int64)
        index = {c: k for k, c in enumerate(self.classes)}
        out = np.zeros((len(frame), len(self.classes)), np.int64)
        for i, cell in enumerate(frame[self.target]):
            for label in tokens(cell):
                out[i, index[label]] = 1
        return out

    def target_problems(self, df, where):
        if self.spaced:
            return [f"{where(i)}: {self.target!r} is empty; give the row's labels, space-separated"
                    for i in np.flatnonzero(df[self.target].isna().to_numpy())]  # fmt: skip
        problems = []
        for col in self.target_columns:
            values = pd.to_numeric(df[col], errors="coerce")
            for i in np.flatnonzero(~values.isin([0, 1]).to_numpy()):
                problems.append(f"{where(i)}: label column {col!r} is {shown(df[col].iat[i])}, expected 0 or 1")
        return problems

    def resolve(self, train, sample, n_splits, where):
        labels = self.target_columns if not self.spaced else sorted_classes(
            [t for cell in train[self.target] for t in tokens(cell)])  # fmt: skip
        columns = [c for c in sample.columns if c != self.id]
        task = dataclasses.replace(self, classes=list(labels), columns=columns)
        problems = []
        counts = task.encode(train).sum(axis=0)
        for label, n in zip(labels, counts, strict=True):
            if n < n_splits:
                problems.append(f"{where['train']}: label {label!r} has {int(n)} positive rows, fewer than "
                                f"folds.n_splits={n_splits}; lower n_splits or drop the label")  # fmt: skip
        problem = sample_problem(columns, where["sample"])
        if problem:
            return task, [*problems, problem]
        if len(columns) == 1 and self.submission in ("auto", "labels"):
            return dataclasses.replace(task, submission="labels"), problems
        outside = [c for c in labels if str(c) not in set(map(str, columns))]
        if outside:
            problems.append(f"{where['sample']}: the training labels {outside[:10]} are not among its columns "
                            f"{columns[:10]}; the data or task.target does not match the competition")  # fmt: skip
        unknown = [c for c in columns if str(c) not in set(map(str, labels))]
        if unknown:
            problems.append(f"{where['sample']}: columns {unknown[:10]} are not labels of the training data")
        return dataclasses.replace(task, submission="probabilities"), problems

    def split(self, frame, n_splits, seed, groups, strata=None):
        """Iterative stratification on the labels; a group's rows (near-duplicates, folds.group) are split
        as one item carrying the union of their labels, so they share a fold. A column the config chose
        to stratify on is stratified on as any type's."""
        from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

        if strata is not None:
            return super().split(frame, n_splits, seed, groups, strata)

        y = self.encode(frame)
        unique, item = np.unique(groups, return_inverse=True)
        per_group = np.zeros((len(unique), y.shape[1]), np.int64)
        np.maximum.at(per_group, item, y)
        fold_of_group = np.full(len(unique), -1, dtype=int)
        splitter = MultilabelStratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        for k, (_, val) in enumerate(splitter.split(np.zeros(len(unique)), per_group)):
            fold_of_group[val] = k
        return fold_of_group[item]

    def objective(self, y_fit):
        return objective_spec("bce", "probability", self.n_outputs)

    @property
    def kernel(self):
        from ..heads.kernel import KernelSpec

        return KernelSpec("svc", "labels", "sigmoid", self.n_outputs)

    stacker = {"objective": "binary:logistic"}  # a tree per label and round

    def plain_labels(self, pred):
        return (np.asarray(pred, float) >= THRESHOLD).astype(int)

    def joined(self, on: np.ndarray) -> np.ndarray:
        """Each row's labels that are on (a 0/1 matrix), space-separated: the one-column submission."""
        return np.asarray([" ".join(str(c) for c, v in zip(self.classes, row, strict=True) if v) for row in on],
                          dtype=object)  # fmt: skip

    def shaped(self, pred):
        if self.submission == "labels":
            return self.joined(self.labels(pred))
        order = [[str(c) for c in self.classes].index(str(col)) for col in self.columns]
        return self.finish(pred)[:, order]

    def solution(self, target):
        target = np.asarray(target, np.int64)
        if self.submission == "labels":
            return self.joined(target)
        return target[:, [[str(c) for c in self.classes].index(str(col)) for col in self.columns]]

    def read_submission(self, sub, reads):
        if self.submission == "labels":
            frame = pd.DataFrame({self.target if self.spaced else "labels": sub[self.columns[0]].fillna("")})
            spaced = dataclasses.replace(self, target=frame.columns[0])
            return spaced.encode(frame)
        probs = sub[[next(c for c in self.columns if str(c) == str(k)) for k in self.classes]].to_numpy(float)
        return self.read(probs, reads)

    def value_problems(self, sub, ids, where):
        if self.submission == "labels":
            known = {str(c) for c in self.classes}
            bad = sub[self.columns[0]].map(lambda cell: bool(set(tokens(cell)) - known))
            if bad.any():
                return [f"{where}: {int(bad.sum())} rows name labels that are not labels of the training data, "
                        f"e.g. {shown(sub[self.columns[0]][bad].iloc[0])} at id {ids[bad].iloc[0]!r}"]  # fmt: skip
            return []
        return number_problems(sub, ids, where, self.columns, [(0.0, 1.0)] * len(self.columns))

    def per_output(self, target, pred):
        from ..metrics import roc_auc

        p = self.finish(pred)
        return {f"ROC AUC {c}": roc_auc(target[:, k], p[:, k]) for k, c in enumerate(self.classes)}
