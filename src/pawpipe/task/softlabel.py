"""Soft labels: each row's target is a distribution over C classes (task.target lists the C columns,
e.g. HMS 2024's expert vote shares), scored by how far the predicted distribution is from it (KL
divergence). A head predicts a distribution (softmax) trained on the soft cross-entropy; the kernel
head is one SVC per class against the rest on each row's most voted class, calibrated into a
distribution on the soft targets; folds are stratified on the most voted class."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import objective_spec, register_task
from .checks import number_problems
from .per_target import ColumnPerTarget

TOLERANCE = 1e-3  # how far from 1 a row's shares may sum


@register_task("softlabel")
@dataclass(frozen=True)
class SoftLabel(ColumnPerTarget):
    losses = ("soft_cross_entropy",)
    submissions = ("probabilities",)
    rules = ("temperature",)
    exclusive = True
    figures = ("per_output", "reliability")
    baseline_label = "each fold's training mean distribution"

    @classmethod
    def config_problems(cls, task: dict) -> list[str]:
        problems = super().config_problems(task)
        if isinstance(task["target"], str) or len(task["target"]) < 2:
            problems.append(f"task.target: soft labels are a column per class (two or more), not {task['target']!r}")
        return problems

    def encode(self, frame):
        return frame[self.target_columns].apply(pd.to_numeric).to_numpy(np.float64)

    def target_problems(self, df, where):
        problems = []
        values = df[self.target_columns].apply(pd.to_numeric, errors="coerce").to_numpy(float)
        for i in np.flatnonzero(~np.isfinite(values).all(axis=1) | (values < 0).any(axis=1)):
            shares = dict(zip(self.target_columns, values[i].tolist(), strict=True))
            problems.append(f"{where(i)}: the soft label {shares} is not a share >= 0 per class")
        sums = values.sum(axis=1)
        for i in np.flatnonzero(np.isfinite(sums) & (np.abs(sums - 1) > TOLERANCE)):
            problems.append(f"{where(i)}: the soft label's shares sum to {sums[i]:g}, not 1 (columns "
                            f"{self.target_columns}); vote counts must be divided by the row's total")  # fmt: skip
        return problems

    def resolve(self, train, sample, n_splits, where):
        return self.resolve_per_target(sample, where, "the soft label's classes", "class",
                                       classes=list(self.target_columns), submission="probabilities")  # fmt: skip

    def strata(self, frame):
        return self.encode(frame).argmax(axis=1)

    def objective(self, y_fit):
        return objective_spec("soft_cross_entropy", "softmax", self.n_outputs)

    @property
    def kernel(self):
        from ..heads.kernel import KernelSpec

        return KernelSpec("svc", "argmax", "softmax", self.n_outputs)

    @property
    def stacker(self) -> dict:
        """Soft labels as weighted rows: each row once per class, weighted by its share (the soft cross-entropy)."""
        return {"objective": "multi:softprob", "num_class": self.n_outputs, "soft": True}

    def plain_labels(self, pred):
        return np.asarray(pred, float).argmax(axis=1)

    def read_submission(self, sub, reads):
        return self.read(sub[[str(c) for c in self.target_columns]].to_numpy(float), reads)

    def value_problems(self, sub, ids, where):
        return number_problems(sub, ids, where, self.columns, [(0.0, 1.0)] * len(self.columns))
