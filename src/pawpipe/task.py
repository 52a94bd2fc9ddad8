"""The competition's task, from the config's `task:` block and the data: which columns hold the id, the
target and the tabular features, where each row's image lies, the kind of target, its metric, and the
shape of the submission (read from sample_submission.csv).

The task types are one table (TYPES): regression (a value, optionally bounded), binary (the positive
class's probability) and multiclass (a probability per class). check_data resolves the config's task
against the data (the classes, in their recorded order, and the submission's columns) and writes it to
models/{exp}/task.json, which every later stage and the Kaggle notebook read back.

A prediction is a value per row (regression), the positive class's probability per row (binary), or a
row of class probabilities (multiclass). In the pipeline's CSVs a head's prediction is one column named
after the head (`mlp`), or one per class (`mlp:0`, `mlp:1`, ...) in the order of `classes`.
"""

from __future__ import annotations

import dataclasses
import json
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .metrics import METRICS, Metric, get_metric


@dataclass(frozen=True)
class TaskType:
    losses: tuple[str, ...]  # the MLP head's losses; the first is `loss: auto`'s
    submissions: tuple[str, ...]  # the submission shapes it can produce


TYPES = {
    "regression": TaskType(("bce", "mse", "huber"), ("value",)),
    "binary": TaskType(("bce",), ("value", "label", "probabilities")),
    "multiclass": TaskType(("cross_entropy",), ("label", "probabilities")),
}
PATTERN_FIELDS = {"split", "id"}


class TaskError(ValueError):
    pass


def config_problems(task: dict) -> list[str]:
    """What the schema cannot say about a task block, each naming its key and what fits."""
    problems = []
    kind = task["type"]
    if kind not in TYPES:
        return [f"task.type: unknown type {kind!r}; known: {', '.join(TYPES)}"]
    metric = METRICS.get(task["metric"])
    if metric is None:
        problems.append(f"task.metric: unknown metric {task['metric']!r}; known: {', '.join(METRICS)}")
    elif kind not in metric.tasks:
        fits = [m.name for m in METRICS.values() if kind in m.tasks]
        problems.append(f"task.metric: {metric.name} does not fit a {kind} task; use one of {', '.join(fits)}")
    if task["loss"] != "auto" and task["loss"] not in TYPES[kind].losses:
        problems.append(
            f"task.loss: {task['loss']} does not fit a {kind} task; use auto or one of {TYPES[kind].losses}"
        )
    if task["submission"] != "auto" and task["submission"] not in TYPES[kind].submissions:
        problems.append(
            f"task.submission: a {kind} task submits {' or '.join(TYPES[kind].submissions)}, not {task['submission']}"
        )
    if task["image"] is None and task["image_column"] is None:
        problems.append("task.image: set a file pattern such as '{split}/{id}.jpg', or task.image_column")
    if task["image"] is not None:
        fields = {f for _, f, _, _ in string.Formatter().parse(task["image"]) if f is not None}
        if fields - PATTERN_FIELDS:
            problems.append(
                f"task.image: {task['image']!r} uses {sorted(fields - PATTERN_FIELDS)}; it may use {{split}} and {{id}}"
            )
        elif "id" not in fields:
            problems.append(
                f"task.image: {task['image']!r} does not name the row ({{id}}); every row would read the same file"
            )
    if task["bounds"] is not None and not task["bounds"][0] < task["bounds"][1]:
        problems.append(f"task.bounds: {task['bounds']} is not [low, high] with low < high")
    if kind == "regression" and task["loss"] == "bce" and task["bounds"] is None:
        problems.append("task.loss: bce needs task.bounds (the range its sigmoid spans); or use mse or huber")
    return problems


@dataclass(frozen=True)
class Task:
    """A competition's task (the config's `task:` block), resolved against the data by check_data."""

    type: str
    id: str
    target: str
    image: str | None
    image_column: str | None
    features: list[str]
    bounds: list[float] | None
    integer: bool
    loss: str
    metric: str
    submission: str
    tables: dict[str, str]
    positive: Any = None
    classes: list[Any] | None = None  # classification: the labels, in the order the heads output them
    columns: list[str] | None = None  # the submission's columns after the id, as sample_submission.csv has them

    @classmethod
    def from_config(cls, task: dict) -> Task:
        problems = config_problems(task)
        if problems:
            raise TaskError("; ".join(problems))
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in task.items() if k in fields})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def load(cls, path: str | Path) -> Task:
        """A resolved task (models/{exp}/task.json, or the Kaggle manifest's)."""
        data = json.loads(Path(path).read_text()) if not isinstance(path, dict) else path
        return cls(**data)

    # -- what it is --
    @property
    def classification(self) -> bool:
        return self.type != "regression"

    @property
    def n_outputs(self) -> int:
        """Numbers a head predicts per row: 1 (a value, or the positive class's probability) or K."""
        return len(self.classes) if self.type == "multiclass" else 1

    @property
    def scorer(self) -> Metric:
        return get_metric(self.metric)

    def score(self, target, pred) -> float:
        """The task's metric of a prediction against targets (values, or class indices)."""
        return self.scorer.score(target, pred, self.type)

    @property
    def resolved_loss(self) -> str:
        return TYPES[self.type].losses[0] if self.loss == "auto" else self.loss

    @property
    def sigmoid_range(self) -> tuple[float, float]:
        """The range a bounded regression's sigmoid spans: [min(0, low), high], so that a target of 0..high
        is scaled by its upper bound (Pawpularity: target / 100)."""
        low, high = self.bounds
        return float(min(0.0, low)), float(high)

    # -- targets --
    def encode(self, values) -> np.ndarray:
        """Targets as the heads and the metric see them: values (float64), or class indices."""
        values = pd.Series(values)
        if not self.classification:
            return values.to_numpy(np.float64)
        index = {c: i for i, c in enumerate(self.classes)}
        return values.map(lambda v: index[_scalar(v)]).to_numpy(np.int64)

    def decode(self, indices) -> list:
        return [self.classes[int(i)] for i in indices]

    # -- predictions in the pipeline's tables --
    def columns_for(self, head: str) -> list[str]:
        return [head] if self.n_outputs == 1 else [f"{head}:{k}" for k in range(self.n_outputs)]

    def put(self, frame: pd.DataFrame, head: str, pred) -> pd.DataFrame:
        """Write a head's prediction into its column(s) of `frame` (in place) and return the frame."""
        pred = np.asarray(pred)
        if self.n_outputs == 1:
            frame[head] = pred.reshape(len(frame))
        else:
            for k, col in enumerate(self.columns_for(head)):
                frame[col] = pred[:, k]
        return frame

    def get(self, frame: pd.DataFrame, head: str) -> np.ndarray:
        """A head's prediction from its column(s): (n,) or (n, K), float64."""
        cols = self.columns_for(head)
        return frame[cols[0]].to_numpy(np.float64) if len(cols) == 1 else frame[cols].to_numpy(np.float64)

    def heads_in(self, frame: pd.DataFrame) -> list[str]:
        """The heads whose prediction columns `frame` holds, in column order."""
        names = [c.rsplit(":", 1)[0] if self.n_outputs > 1 else c for c in frame.columns]
        return [n for n in dict.fromkeys(names) if all(c in frame.columns for c in self.columns_for(n))]

    # -- the submission --
    def submitted(self, fold_preds: list[np.ndarray]) -> np.ndarray:
        """The submission's values from the folds' blended test predictions: their mean, then clipped to the
        target's bounds (a value), turned into class labels (label), or one column per class (probabilities).
        The pipeline's submission and the Kaggle notebook both compute it here."""
        mean = np.mean(fold_preds, axis=0)
        if self.type == "regression":
            return np.clip(mean, *self.bounds) if self.bounds else mean
        if self.submission == "label":
            picked = mean.argmax(axis=1) if mean.ndim == 2 else (mean >= 0.5).astype(int)
            return np.asarray(self.decode(picked), dtype=object)
        if self.submission == "probabilities":
            probs = np.stack([1 - mean, mean], axis=1) if mean.ndim == 1 else mean
            order = [self.classes.index(_label(c, self.classes)) for c in self.columns]
            return np.clip(probs[:, order], 0, 1)
        return np.clip(mean, 0, 1)

    def submission_frame(self, ids: list[str], fold_preds: list[np.ndarray]) -> pd.DataFrame:
        values = self.submitted(fold_preds)
        frame = pd.DataFrame({self.id: ids})
        if values.ndim == 2:
            for k, col in enumerate(self.columns):
                frame[col] = values[:, k]
        else:
            frame[self.columns[0]] = values
        return frame

    def submission_problems(self, sub: pd.DataFrame, test_ids: list[str], where: str) -> list[str]:
        """Every way `sub` differs from what sample_submission.csv and the test table ask for."""
        expected = [self.id, *self.columns]
        if list(sub.columns) != expected:
            return [f"{where}: columns are {list(sub.columns)}, expected {expected} (as sample_submission.csv)"]
        problems = []
        ids = sub[self.id].astype(str)
        if len(sub) != len(test_ids):
            problems.append(f"{where}: {len(sub)} rows, but the test set has {len(test_ids)}")
        dup = ids[ids.duplicated()].tolist()
        if dup:
            problems.append(f"{where}: duplicated ids {dup[:5]}")
        missing, extra = set(test_ids) - set(ids), set(ids) - set(test_ids)
        if missing:
            problems.append(f"{where}: {len(missing)} test ids have no prediction, e.g. {sorted(missing)[:5]}")
        if extra:
            problems.append(f"{where}: {len(extra)} ids are not in the test set, e.g. {sorted(extra)[:5]}")
        if self.submission == "label":
            known = {str(c) for c in self.classes}
            bad = ~sub[self.columns[0]].astype(str).isin(known)
            if bad.any():
                problems.append(f"{where}: {int(bad.sum())} labels are not classes of the training data, e.g. "
                                f"{sub[self.columns[0]][bad].iloc[0]!r} at id {ids[bad].iloc[0]!r}")  # fmt: skip
            return problems
        low, high = self.bounds if self.type == "regression" and self.bounds else (None, None)
        if self.classification:
            low, high = 0.0, 1.0
        for col in self.columns:
            values = pd.to_numeric(sub[col], errors="coerce").to_numpy(float)
            bad = ~np.isfinite(values)
            if low is not None:
                bad |= (values < low) | (values > high)
            if bad.any():
                within = f" in [{low:g}, {high:g}]" if low is not None else ""
                problems.append(f"{where}: {int(bad.sum())} values of {col!r} are not finite numbers{within}, "
                                f"e.g. id {ids[bad].iloc[0]!r}")  # fmt: skip
        return problems

    # -- images --
    def image_path(self, data_dir: str | Path, split: str, image_id: str, path: str | None = None) -> Path:
        """Where one row's image lies: the pattern filled in, or the row's path column."""
        if self.image_column:
            return Path(data_dir) / str(path)
        return Path(data_dir) / self.image.format(split=split, id=image_id)

    def image_paths(self, data_dir: str | Path, split: str, table: pd.DataFrame) -> list[Path]:
        """Each row's image, in the table's order (`table` as read by data.read_table: its id as `Id`)."""
        paths = table[self.image_column] if self.image_column else [None] * len(table)
        return [self.image_path(data_dir, split, i, p) for i, p in zip(table["Id"], paths, strict=True)]

    def image_roots(self, data_dir: str | Path) -> dict[str, str]:
        """The folder each split's images lie in where the pattern fixes one (e.g. `train_images`), for the
        rules to depend on; {} with a path column."""
        if self.image_column:
            return {}
        roots = {}
        for split in ("train", "test"):
            fixed = self.image.format(split=split, id="\0").split("\0")[0]
            roots[split] = str(Path(data_dir) / fixed.rsplit("/", 1)[0]) if "/" in fixed else str(data_dir)
        return roots

    def table_file(self, data_dir: str | Path, which: str) -> str:
        return str(Path(data_dir) / self.tables[which])


def _scalar(value):
    """A label as JSON keeps it (numpy ints become ints)."""
    return value.item() if hasattr(value, "item") else value


def _label(column: str, classes: list) -> Any:
    """The class a submission column stands for (columns are strings; labels may be numbers)."""
    return next(c for c in classes if str(c) == str(column))


def sorted_classes(values: pd.Series) -> list:
    """The distinct labels of a target column in a fixed order: numerically where they are numbers."""
    labels = [_scalar(v) for v in pd.unique(values.dropna())]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in labels)
    return sorted(labels) if numeric else sorted(labels, key=str)


def resolve(task: Task, train: pd.DataFrame, sample: pd.DataFrame | None, n_splits: int, where: dict) -> tuple:
    """(the task with its classes and submission columns, every problem found): the classes read from
    the training labels, the submission's shape from sample_submission.csv. `where` names the files."""
    problems = []
    classes = None
    if task.classification:
        classes = sorted_classes(train[task.target])
        if task.type == "binary" and len(classes) != 2:
            problems.append(f"{where['train']}: task.type binary needs two classes in {task.target!r}, found "
                            f"{len(classes)}: {classes[:10]}")  # fmt: skip
        if task.type == "binary" and task.positive is not None and len(classes) == 2:
            if task.positive not in classes:
                problems.append(f"task.positive: {task.positive!r} is not a label of {task.target!r} ({classes})")
            else:
                classes = [c for c in classes if c != task.positive] + [task.positive]
        counts = train[task.target].map(_scalar).value_counts()
        for label in classes:
            if counts[label] < n_splits:
                problems.append(f"{where['train']}: class {label!r} of {task.target!r} has {counts[label]} rows, fewer "
                                f"than folds.n_splits={n_splits}; lower n_splits or merge the class")  # fmt: skip
    columns, submission = None, task.submission
    if sample is None:
        problems.append(f"{where['sample']}: not found; the submission's columns are read from it")
    elif task.id not in sample.columns:
        problems.append(f"{where['sample']}: no {task.id!r} column (task.id); its columns are {list(sample.columns)}")
    else:
        columns = [c for c in sample.columns if c != task.id]
        submission, found = submission_shape(task, columns, classes, where["sample"])
        problems += found
    return dataclasses.replace(task, classes=classes, columns=columns, submission=submission), problems


def submission_shape(task: Task, columns: list[str], classes: list | None, where: str) -> tuple[str, list[str]]:
    """What the submission holds, by sample_submission.csv's columns: one value, one label, or a
    probability per class (each column a class of the training labels)."""
    if not columns:
        return task.submission, [f"{where}: holds only the id column; nothing to predict"]
    if len(columns) == 1:
        if task.submission == "probabilities":
            return task.submission, [f"{where}: one column {columns}, but task.submission is probabilities"]
        if task.submission != "auto":
            return task.submission, []
        if task.type == "regression":
            return "value", []
        reads_labels = task.scorer.reads == "labels"
        return ("label" if reads_labels or task.type == "multiclass" else "value"), []
    if task.type == "regression":
        return task.submission, [f"{where}: {len(columns)} columns {columns}, but a regression submits one value"]
    unknown = [c for c in columns if str(c) not in {str(k) for k in classes or []}]
    if unknown:
        known = (classes or [])[:10]
        why = f"{where}: columns {unknown} are not classes of the training labels ({known})"
        return "probabilities", [f"{why}; the data or task.target does not match the competition"]
    absent = [c for c in classes or [] if str(c) not in set(map(str, columns))]
    if absent:
        return "probabilities", [f"{where}: no column for the classes {absent[:10]} of the training labels"]
    return "probabilities", []
