"""Regression task types: one value per row (`regression`), or several value columns (`multitarget`,
e.g. CSIRO Image2Biomass' five biomass targets), each optionally bounded."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data import shown
from . import Task, objective_spec, register_task
from .checks import number_problems, sample_problem
from .per_target import ColumnPerTarget


def value_problems_of(df: pd.DataFrame, col: str, bounds, integer: bool, where) -> list[str]:
    """A target column's rows that are not numbers (whole numbers with integer) within [low, high]."""
    values = pd.to_numeric(df[col], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.to_numpy(float))
    if integer:
        bad |= values != values.round()
    if bounds:
        bad |= (values < bounds[0]) | (values > bounds[1])
    expected = "an integer" if integer else "a number"
    if bounds:
        low, high = bounds
        expected += f" {low:g}..{high:g}" if integer else f" in [{low:g}, {high:g}]"
    return [
        f"{where(i)}: {col} is {shown(df[col].iat[i])}, expected {expected}" for i in np.flatnonzero(bad.to_numpy())
    ]


@register_task("regression")
@dataclass(frozen=True)
class Regression(Task):
    """A value per row (Pawpularity's 1..100 score), optionally bounded; submitted as the value, or as a
    whole grade (`label`) for a metric on grades such as quadratic kappa."""

    losses = ("bce", "mse", "huber")
    submissions = ("value", "label")
    rules = ("cutpoints",)
    figures = ("scatter", "histogram")

    @classmethod
    def config_problems(cls, task: dict) -> list[str]:
        problems = super().config_problems(task)
        if not isinstance(task["target"], str):
            problems.append(f"task.target: a regression has one target column, not {task['target']}; use "
                            f"task.type: multitarget for several")  # fmt: skip
        bounds = task["bounds"]
        if bounds is not None and not (len(bounds) == 2 and all(isinstance(b, int | float) for b in bounds)):
            problems.append(f"task.bounds: {bounds} is not [low, high]")
        elif bounds is not None and not bounds[0] < bounds[1]:
            problems.append(f"task.bounds: {bounds} is not [low, high] with low < high")
        if task["loss"] == "bce" and bounds is None:
            problems.append("task.loss: bce needs task.bounds (the range its sigmoid spans); or use mse or huber")
        return problems

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        return pd.to_numeric(frame[self.target]).to_numpy(np.float64)

    def target_problems(self, df, where) -> list[str]:
        return value_problems_of(df, self.target, self.bounds, self.integer, where)

    def resolve(self, train, sample, n_splits, where):
        columns = [c for c in sample.columns if c != self.id]
        values = pd.to_numeric(train[self.target])
        task = dataclasses.replace(self, columns=columns, target_range=[float(values.min()), float(values.max())])
        problem = sample_problem(columns, where["sample"])
        if problem:
            return task, [problem]
        if len(columns) != 1:
            return task, [f"{where['sample']}: {len(columns)} columns {columns}, but a regression submits one value"]
        submission = self.submission
        if submission == "auto":
            submission = "label" if self.scorer.reads == "labels" else "value"
        return dataclasses.replace(task, submission=submission), []

    def strata(self, frame) -> np.ndarray:
        from . import sturges_bins

        return sturges_bins(frame[self.target])

    def objective(self, y_fit):
        if self.resolved_loss == "bce":
            low, high = self.sigmoid_range
            return objective_spec("bce", "sigmoid_range", low=low, high=high)
        y = np.asarray(y_fit, np.float64)
        return objective_spec(self.resolved_loss, "affine", center=float(y.mean()), scale=float(y.std()) or 1.0)

    @property
    def sigmoid_range(self) -> tuple[float, float]:
        """The range a bounded regression's sigmoid spans: [min(0, low), high], so that a target of 0..high
        is scaled by its upper bound (Pawpularity: target / 100)."""
        low, high = self.bounds
        return float(min(0.0, low)), float(high)

    @property
    def kernel(self):
        from ..heads.kernel import KernelSpec

        return KernelSpec("svr", "value", "identity")

    stacker = {"objective": "reg:squarederror"}  # the second-level model's objective (pawpipe.stack)

    @property
    def grade_range(self) -> tuple[float, float]:
        """Where whole grades may lie: task.bounds, else the training targets' range."""
        low, high = self.bounds or self.target_range or (-np.inf, np.inf)
        return float(low), float(high)

    def finish(self, pred):
        pred = np.asarray(pred, float)
        return np.clip(pred, *self.bounds) if self.bounds else pred

    def plain_labels(self, pred):
        """Whole grades: the value rounded, within the grades' range (quadratic kappa on ordinal scores)."""
        return np.clip(np.rint(np.asarray(pred, float)), *self.grade_range)

    def shaped(self, pred):
        return self.labels(pred).astype(np.int64) if self.submission == "label" else self.finish(pred)

    def solution(self, target):
        return np.asarray(target, np.int64) if self.submission == "label" else np.asarray(target, float)

    def read_submission(self, sub, reads):
        return pd.to_numeric(sub[self.columns[0]]).to_numpy(float)

    def value_problems(self, sub, ids, where):
        if self.submission == "label":
            low, high = self.grade_range
            values = pd.to_numeric(sub[self.columns[0]], errors="coerce").to_numpy(float)
            bad = ~np.isfinite(values) | (values != np.round(values)) | (values < low) | (values > high)
            if bad.any():
                example = f"{shown(sub[self.columns[0]][bad].iloc[0])} at id {ids[bad].iloc[0]!r}"
                return [f"{where}: {int(bad.sum())} values of {self.columns[0]!r} are not whole grades in "
                        f"[{low:g}, {high:g}], e.g. {example}"]  # fmt: skip
            return []
        return number_problems(sub, ids, where, self.columns, [self.bounds or (None, None)])


@register_task("multitarget")
@dataclass(frozen=True)
class MultiTarget(ColumnPerTarget):
    """Several value columns per row (task.target lists them), each optionally bounded (task.bounds: one
    [low, high] for all, or one per target) and weighted (task.weights, for the weighted metrics); the
    submission has a column per target. The kernel head fits an SVR per target, on the target
    standardised with the fold's training rows (svr.epsilon is then in standard deviations)."""

    losses = ("mse", "huber", "bce")
    submissions = ("values",)
    figures = ("scatter_per_output", "per_output")

    @classmethod
    def config_problems(cls, task: dict) -> list[str]:
        problems = super().config_problems(task)
        targets = [task["target"]] if isinstance(task["target"], str) else task["target"]
        if len(targets) < 2:
            problems.append(f"task.target: a multitarget task lists its target columns (two or more), not "
                            f"{task['target']!r}; use task.type: regression for one")  # fmt: skip
        bounds = per_target_bounds(task["bounds"], len(targets))
        if bounds is None:
            problems.append(f"task.bounds: {task['bounds']} is neither [low, high] nor one such pair per target "
                            f"({len(targets)})")  # fmt: skip
        elif any(b is not None and not b[0] < b[1] for b in bounds):
            problems.append(f"task.bounds: {task['bounds']} has a pair that is not [low, high] with low < high")
        weights = task.get("weights")
        if weights is not None and len(weights) != len(targets):
            problems.append(f"task.weights: {len(weights)} weights for {len(targets)} targets")
        if task["loss"] == "bce" and (bounds is None or any(b is None for b in bounds)):
            problems.append("task.loss: bce needs task.bounds for every target; or use mse or huber")
        return problems

    @property
    def target_bounds(self) -> list:
        return per_target_bounds(self.bounds, self.n_outputs)

    def encode(self, frame):
        return frame[self.target_columns].apply(pd.to_numeric).to_numpy(np.float64)

    def target_problems(self, df, where):
        return [p for col, b in zip(self.target_columns, self.target_bounds, strict=True)
                for p in value_problems_of(df, col, b, False, where)]  # fmt: skip

    def resolve(self, train, sample, n_splits, where):
        return self.resolve_per_target(sample, where, "the targets", "target", submission="values")

    def objective(self, y_fit):
        n = self.n_outputs
        if self.resolved_loss == "bce":
            low = [float(min(0.0, b[0])) for b in self.target_bounds]
            return objective_spec("bce", "sigmoid_range", n, low=low, high=[float(b[1]) for b in self.target_bounds])
        y = np.asarray(y_fit, np.float64)
        scale = [float(s) or 1.0 for s in y.std(axis=0)]
        return objective_spec(self.resolved_loss, "affine", n, center=y.mean(axis=0).tolist(), scale=scale)

    @property
    def kernel(self):
        from ..heads.kernel import KernelSpec

        return KernelSpec("svr", "columns", "affine", self.n_outputs)

    stacker = {"objective": "reg:squarederror"}  # a tree per target and round

    def finish(self, pred):
        pred = np.asarray(pred, float).copy()
        for k, b in enumerate(self.target_bounds):
            if b is not None:
                pred[:, k] = np.clip(pred[:, k], *b)
        return pred

    def plain_labels(self, pred):
        raise ValueError("a multitarget task has no labels: its metric reads values")

    def read_submission(self, sub, reads):
        return sub[[str(c) for c in self.target_columns]].apply(pd.to_numeric).to_numpy(float)

    def value_problems(self, sub, ids, where):
        bounds = {c: b or (None, None) for c, b in zip(self.target_columns, self.target_bounds, strict=True)}
        return number_problems(sub, ids, where, self.columns, [bounds[c] for c in self.columns])

    def per_output(self, target, pred):
        from ..metrics import rmse

        finished = self.finish(pred)
        return {f"RMSE {c}": rmse(target[:, k], finished[:, k]) for k, c in enumerate(self.target_columns)}


def per_target_bounds(bounds, n: int) -> list | None:
    """task.bounds as one [low, high] (or None) per target: null, one pair for all, or a pair per target."""
    if bounds is None:
        return [None] * n
    if len(bounds) == 2 and all(isinstance(b, int | float) for b in bounds):
        return [list(bounds)] * n
    if len(bounds) == n and all(b is None or (isinstance(b, list) and len(b) == 2) for b in bounds):
        return [list(b) if b is not None else None for b in bounds]
    return None
