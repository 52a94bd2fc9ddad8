"""What the types whose submission holds a column per target column share."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import Task
from .checks import sample_problem


@dataclass(frozen=True)
class ColumnPerTarget(Task):
    """What the types whose submission holds a column per target column share (multitarget, softlabel):
    the columns checked against the targets, each prediction's columns put in the submission's order."""

    def resolve_per_target(self, sample: pd.DataFrame, where: dict, what: str, each: str, **changes):
        """`resolve`: the submission's columns are the target columns (`what`: what the targets are
        called, `each`: one of them), with `changes` to the task."""
        columns = [c for c in sample.columns if c != self.id]
        task = dataclasses.replace(self, columns=columns, **changes)
        problem = sample_problem(columns, where["sample"])
        if problem:
            return task, [problem]
        if sorted(map(str, columns)) != sorted(map(str, self.target_columns)):
            return task, [f"{where['sample']}: columns {columns}, but {what} are {self.target_columns} "
                          f"(task.target); the submission has a column per {each}"]  # fmt: skip
        return task, []

    def shaped(self, pred):
        order = [self.target_columns.index(c) for c in self.columns]
        return self.finish(pred)[:, order]

    def solution(self, target):
        return np.asarray(target, float)[:, [self.target_columns.index(c) for c in self.columns]]
