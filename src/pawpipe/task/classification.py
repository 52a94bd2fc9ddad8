"""Single-label classification: `binary` (the positive class's probability per row) and `multiclass` (a
probability per class). The classes are read from the training labels (sorted) and recorded in
task.json; heads output them in that order. The kernel head is one calibrated SVC per class against
the rest (one for binary)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..data import shown
from . import Task, objective_spec, register_task, scalar, sorted_classes
from .checks import number_problems, sample_problem


def label_of(column: str, classes: list) -> Any:
    """The class a submission column stands for (columns are strings; labels may be numbers)."""
    return next(c for c in classes if str(c) == str(column))


@dataclass(frozen=True)
class Classification(Task):
    """What binary and multiclass share: one label column, classes from the data, labels or probabilities."""

    baseline_label = "each fold's training class frequencies"
    figures = ("confusion", "curve")

    @classmethod
    def config_problems(cls, task: dict) -> list[str]:
        problems = super().config_problems(task)
        if not isinstance(task["target"], str):
            problems.append(f"task.target: a {cls.name} task has one label column, not {task['target']}; use "
                            f"task.type: multilabel for several")  # fmt: skip
        return problems

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.classes)}
        return frame[self.target].map(lambda v: index[scalar(v)]).to_numpy(np.int64)

    def decode(self, indices) -> list:
        return [self.classes[int(i)] for i in indices]

    def strata(self, frame) -> np.ndarray:
        return self.encode(frame)

    def target_problems(self, df, where) -> list[str]:
        return [f"{where(i)}: {self.target!r} is empty; every training row needs a label"
                for i in np.flatnonzero(df[self.target].isna().to_numpy())]  # fmt: skip

    def classes_from(self, train: pd.DataFrame, n_splits: int, where: dict) -> tuple[list, list[str]]:
        """The classes in the training labels, and a problem per class with fewer rows than folds."""
        classes = sorted_classes(train[self.target])
        counts = train[self.target].map(scalar).value_counts()
        problems = [f"{where['train']}: class {c!r} of {self.target!r} has {counts[c]} rows, fewer than "
                    f"folds.n_splits={n_splits}; lower n_splits or merge the class"
                    for c in classes if counts[c] < n_splits]  # fmt: skip
        return classes, problems

    def resolve(self, train, sample, n_splits, where):
        classes, problems = self.classes_from(train, n_splits, where)
        classes, found = self.order_classes(classes, where)
        problems += found
        columns = [c for c in sample.columns if c != self.id]
        task = dataclasses.replace(self, classes=classes, columns=columns)
        problem = sample_problem(columns, where["sample"])
        if problem:
            return task, [*problems, problem]
        submission, found = task.submission_shape(columns, where["sample"])
        return dataclasses.replace(task, submission=submission), problems + found

    def order_classes(self, classes: list, where: dict) -> tuple[list, list[str]]:
        return classes, []

    def submission_shape(self, columns: list[str], where: str) -> tuple[str, list[str]]:
        """What the submission holds, by sample_submission.csv's columns: one value, one label, or a
        probability per class (each column a class of the training labels)."""
        if len(columns) == 1:
            if self.submission == "probabilities":
                return self.submission, [f"{where}: one column {columns}, but task.submission is probabilities"]
            if self.submission != "auto":
                return self.submission, []
            return self.single_column_submission, []
        classes = self.classes or []
        unknown = [c for c in columns if str(c) not in {str(k) for k in classes}]
        if unknown:
            why = f"{where}: columns {unknown} are not classes of the training labels ({classes[:10]})"
            return "probabilities", [f"{why}; the data or task.target does not match the competition"]
        absent = [c for c in classes if str(c) not in set(map(str, columns))]
        if absent:
            return "probabilities", [f"{where}: no column for the classes {absent[:10]} of the training labels"]
        return "probabilities", []

    @property
    def single_column_submission(self) -> str:
        """`submission: auto` with one column: the label for a metric on labels."""
        return "label" if self.scorer.reads == "labels" else "value"

    def probabilities(self, pred) -> np.ndarray:
        """A probability per class, (n, classes)."""
        return np.clip(np.asarray(pred, float), 0, 1)

    def shaped(self, pred):
        if self.submission == "label":
            return np.asarray(self.decode(self.labels(pred)), dtype=object)
        if self.submission == "probabilities":
            order = [self.classes.index(label_of(c, self.classes)) for c in self.columns]
            return self.probabilities(pred)[:, order]
        return self.finish(pred)

    def solution(self, target):
        target = np.asarray(target, np.int64)
        if self.submission == "label":
            return np.asarray(self.decode(target), dtype=object)
        if self.submission == "probabilities":
            onehot = np.eye(len(self.classes), dtype=np.int64)[target]
            return onehot[:, [self.classes.index(label_of(c, self.classes)) for c in self.columns]]
        return target

    def read_submission(self, sub, reads):
        if self.submission == "label":
            labels = sub[self.columns[0]].map(lambda v: label_of(v, self.classes))
            return np.asarray([self.classes.index(v) for v in labels], np.int64)
        if self.submission == "probabilities":
            probs = sub[[next(c for c in self.columns if str(c) == str(k)) for k in self.classes]].to_numpy(float)
            return self.from_probabilities(probs, reads)
        return self.read(sub[self.columns[0]].to_numpy(float), reads)

    def from_probabilities(self, probs: np.ndarray, reads: str) -> np.ndarray:
        return self.read(probs, reads)

    def value_problems(self, sub, ids, where):
        if self.submission == "label":
            known = {str(c) for c in self.classes}
            bad = ~sub[self.columns[0]].astype(str).isin(known)
            if bad.any():
                return [f"{where}: {int(bad.sum())} labels are not classes of the training data, e.g. "
                        f"{shown(sub[self.columns[0]][bad].iloc[0])} at id {ids[bad].iloc[0]!r}"]  # fmt: skip
            return []
        return number_problems(sub, ids, where, self.columns, [(0.0, 1.0)] * len(self.columns))


@register_task("binary")
@dataclass(frozen=True)
class Binary(Classification):
    """Two classes; a head predicts the positive class's probability (task.positive, default the larger
    label). Submitted as that probability, the label, or both classes' probabilities."""

    losses = ("bce",)
    submissions = ("value", "label", "probabilities")
    rules = ("thresholds", "temperature")
    average = "binary"
    figures = ("confusion", "roc")

    def order_classes(self, classes, where):
        if len(classes) != 2:
            return classes, [f"{where['train']}: task.type binary needs two classes in {self.target!r}, found "
                             f"{len(classes)}: {classes[:10]}"]  # fmt: skip
        if self.positive is None:
            return classes, []
        if self.positive not in classes:
            return classes, [f"task.positive: {self.positive!r} is not a label of {self.target!r} ({classes})"]
        return [c for c in classes if c != self.positive] + [self.positive], []

    def objective(self, y_fit):
        return objective_spec("bce", "probability")

    @property
    def kernel(self):
        from ..heads.kernel import KernelSpec

        return KernelSpec("svc", "classes", "softmax", 2)

    stacker = {"objective": "binary:logistic"}

    def baseline(self, y_fit, n):
        return np.full(n, np.bincount(y_fit, minlength=2)[1] / len(y_fit))

    def plain_labels(self, pred):
        return (np.asarray(pred, float) >= 0.5).astype(int)

    def probabilities(self, pred):
        p = np.clip(np.asarray(pred, float), 0, 1)
        return np.stack([1 - p, p], axis=1)

    def from_probabilities(self, probs, reads):
        return self.read(probs[:, 1], reads)


@register_task("multiclass")
@dataclass(frozen=True)
class Multiclass(Classification):
    """One of K classes per row; a head predicts a probability per class (softmax)."""

    losses = ("cross_entropy",)
    submissions = ("label", "probabilities")
    rules = ("class_weights", "temperature")
    exclusive = True
    per_class = True
    figures = ("confusion", "reliability")

    @property
    def single_column_submission(self) -> str:
        return "label"

    def objective(self, y_fit):
        return objective_spec("cross_entropy", "softmax", self.n_outputs)

    @property
    def kernel(self):
        from ..heads.kernel import KernelSpec

        return KernelSpec("svc", "classes", "softmax", self.n_outputs)

    @property
    def stacker(self) -> dict:
        return {"objective": "multi:softprob", "num_class": self.n_outputs}

    def baseline(self, y_fit, n):
        return np.tile(np.bincount(y_fit, minlength=self.n_outputs) / len(y_fit), (n, 1))

    def plain_labels(self, pred):
        return np.asarray(pred, float).argmax(axis=1)
