"""The competition's task, from the config's `task:` block and the data: which columns hold the id, the
targets and the tabular features, where each row's image lies, the kind of target, its metric, and the
shape of the submission (read from sample_submission.csv).

A task type is a registered class (TYPES, by name, like timm's register_model): regression (a value),
multitarget (several values), binary (the positive class's probability), multiclass (a probability
per class), multilabel (a probability per label) and softlabel (a distribution over classes per row).
Each type owns its behaviour, so no stage asks which type it has: how targets are encoded and checked,
the prediction's shape, the baseline, the MLP heads' objective, the kernel head it fits, the fold
stratification, labels and probabilities, and the submission's shape and checks. check_data resolves
the config's task against the data (the classes or labels, the submission's columns) and writes it to
models/{exp}/task.json, which every later stage and the Kaggle notebook read back (Task.load).

In the pipeline's CSVs a head's prediction is one column named after the head (`mlp`), or one per
output (`mlp:0`, `mlp:1`, ...) in the order of the type's outputs (classes, labels or targets).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..metrics import Metric, get_metric, metric_name
from .checks import image_problems

TYPES: dict[str, type[Task]] = {}


class TaskError(ValueError):
    pass


def register_task(name: str):
    """Register a task type under `name` (the config's task.type)."""

    def register(cls):
        cls.name = name
        TYPES[name] = cls
        return cls

    return register


def get_type(name: str) -> type[Task]:
    if name not in TYPES:
        raise TaskError(f"task.type: unknown type {name!r}; known: {', '.join(TYPES)}")
    return TYPES[name]


def config_problems(task: dict) -> list[str]:
    """What the schema cannot say about a task block, each naming its key and what fits."""
    if task["type"] not in TYPES:
        return [f"task.type: unknown type {task['type']!r}; known: {', '.join(TYPES)}"]
    return TYPES[task["type"]].config_problems(task)


@dataclass(frozen=True)
class Task:
    """A competition's task (the config's `task:` block), resolved against the data by check_data. The
    fields are its record (task.json); the type's class holds its behaviour."""

    type: str
    id: str
    target: str | list[str]
    image: str | None
    image_column: str | None
    features: list[str]
    bounds: list | None
    integer: bool
    loss: str
    metric: str | dict
    submission: str
    tables: dict[str, str]
    positive: Any = None
    classes: list[Any] | None = None  # the classes (or labels) in the order the heads output them
    columns: list[str] | None = None  # the submission's columns after the id, as sample_submission.csv has them
    weights: list[float] | None = None  # per target or label: the weighted metrics' weights
    metric_args: dict = field(default_factory=dict)  # the metric's arguments (beta, k, min_tpr, ...)
    target_range: list[float] | None = None  # regression: the training targets' range (labels without bounds)
    decision: dict | None = None  # the decision rule fitted on OOF rows ({rule, params}; pawpipe.rules)

    name: ClassVar[str]
    losses: ClassVar[tuple[str, ...]]  # the MLP heads' losses; the first is `loss: auto`'s
    submissions: ClassVar[tuple[str, ...]]  # the submission shapes it can produce
    figures: ClassVar[tuple[str, ...]]  # the report's out-of-fold figures (pawpipe.plots.FIGURES)
    average: ClassVar[str] = "macro"  # how a label metric averages (fbeta): over classes, or the positive one
    exclusive: ClassVar[bool] = False  # rows of probabilities over exclusive classes (summing to one)
    per_class: ClassVar[bool] = False  # a prediction column per class or label (else one per target column)
    rules: ClassVar[tuple[str, ...]] = ()  # the decision rules that fit the type (pawpipe.rules)
    baseline_label: ClassVar[str] = "each fold's training mean"

    def __post_init__(self):
        if self.type != self.__class__.name:  # the record and the behaviour are one type
            raise TaskError(f"a {self.__class__.name} task cannot have task.type {self.type!r}; use Task.load")

    # -- made, read, written --
    @classmethod
    def from_config(cls, task: dict) -> Task:
        problems = config_problems(task)
        if problems:
            raise TaskError("; ".join(problems))
        kind = TYPES[task["type"]]
        fields = {f.name for f in dataclasses.fields(kind)}
        return kind(**{k: v for k, v in task.items() if k in fields})

    @classmethod
    def load(cls, path: str | Path | dict) -> Task:
        """A resolved task (models/{exp}/task.json, or the Kaggle manifest's), as its type's class."""
        data = json.loads(Path(path).read_text()) if not isinstance(path, dict) else dict(path)
        return get_type(data["type"])(**data)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def config_problems(cls, task: dict) -> list[str]:
        """The block's problems that every type shares (metric, loss, submission, images); a type adds its own."""
        problems = []
        try:
            metric = get_metric(task["metric"])
            if isinstance(task["metric"], dict):  # a metric file: loaded now, so a bad one stops the run at load
                from ..metric_file import load_score

                load_score(task["metric"]["file"])
        except ValueError as exc:
            return [str(exc)]
        if cls.name not in metric.tasks:
            fits = [m for m, entry in _metrics().items() if cls.name in entry.tasks]
            problems.append(f"task.metric: {metric.name} does not fit a {cls.name} task; use one of {', '.join(fits)}")
        if task["loss"] != "auto" and task["loss"] not in cls.losses:
            problems.append(
                f"task.loss: {task['loss']} does not fit a {cls.name} task; use auto or one of {cls.losses}"
            )
        if task["submission"] != "auto" and task["submission"] not in cls.submissions:
            problems.append(f"task.submission: a {cls.name} task submits {' or '.join(cls.submissions)}, not "
                            f"{task['submission']}")  # fmt: skip
        return problems + image_problems(task)

    # -- what it is --
    @property
    def target_columns(self) -> list[str]:
        """The training table's columns that hold the targets."""
        return [self.target] if isinstance(self.target, str) else list(self.target)

    @property
    def n_outputs(self) -> int:
        """Numbers a head predicts per row: 1 (a value, or the positive class's probability) or one per output."""
        return len(self.output_names)

    @property
    def output_names(self) -> list[str]:
        """What each of the prediction's columns stands for (a class, label or target), for tables and figures."""
        return [str(c) for c in (self.classes if self.per_class else self.target_columns)]

    @property
    def scorer(self) -> Metric:
        return get_metric(self.metric)

    @property
    def metric_name(self) -> str:
        return metric_name(self.metric)

    @property
    def resolved_loss(self) -> str:
        return self.losses[0] if self.loss == "auto" else self.loss

    # -- targets (the type's) --
    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Targets as the heads and the metric see them, from a frame holding the target columns."""
        raise NotImplementedError

    def target_problems(self, df: pd.DataFrame, where) -> list[str]:
        """Every bad target in a training table, each naming its row (`where(i)`) and what is expected."""
        raise NotImplementedError

    def resolve(self, train: pd.DataFrame, sample: pd.DataFrame, n_splits: int, where: dict) -> tuple[Task, list]:
        """(the task with what the data says, every problem found): classes or labels from the training
        table, the submission's shape from sample_submission.csv (`where` names the files)."""
        raise NotImplementedError

    # -- folds, the baseline, the heads --
    def strata(self, frame: pd.DataFrame) -> np.ndarray:
        """What the folds are stratified on (one value per row)."""
        return sturges_bins(pd.Series(self.encode(frame).reshape(len(frame), -1)[:, 0]))

    def split(
        self, frame: pd.DataFrame, n_splits: int, seed: int, groups: np.ndarray, strata: np.ndarray | None = None
    ) -> np.ndarray:
        """Each row's fold: stratified on the type's strata (or on `strata`, a column the config chose),
        rows of one group in one fold."""
        import warnings

        from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

        bins, fold = self.strata(frame) if strata is None else strata, np.full(len(frame), -1, dtype=int)
        if len(np.unique(groups)) == len(frame):
            splits = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(fold, bins)
        else:
            splits = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(fold, bins, groups)
        with warnings.catch_warnings():  # small data: some strata hold fewer rows than folds; that is fine
            warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
            for k, (_, val_idx) in enumerate(splits):
                fold[val_idx] = k
        return fold

    def baseline(self, y_fit: np.ndarray, n: int) -> np.ndarray:
        """The honest floor for n rows from a fold's training targets alone: their mean (a value per
        target, a probability per class or label)."""
        mean = np.mean(y_fit, axis=0)
        return np.tile(mean, (n, 1)) if np.ndim(mean) else np.full(n, float(mean))

    def objective(self, y_fit: np.ndarray) -> dict:
        """The MLP heads' objective (the arguments of pawpipe.heads.objective.Objective), scaled on a fold's
        training targets."""
        raise NotImplementedError

    @property
    def kernel(self):
        """What the kernel head fits for this type (pawpipe.heads.kernel.KernelSpec)."""
        raise NotImplementedError

    stacker: ClassVar[dict]  # the second-level model's XGBoost objective (pawpipe.stack)

    # -- predictions: one place turns them into what is scored and what is submitted --
    def finish(self, pred: np.ndarray) -> np.ndarray:
        """A prediction as submitted in value form: within the target's bounds, probabilities in [0, 1]."""
        return np.clip(np.asarray(pred, float), 0, 1)

    def plain_labels(self, pred: np.ndarray) -> np.ndarray:
        """Labels (class indices, 0/1 per label, whole grades) from a prediction, without a fitted rule."""
        raise NotImplementedError

    def labels(self, pred: np.ndarray) -> np.ndarray:
        """The decision: labels from a prediction, by the fitted rule where the task has one."""
        rule = self.rule
        if rule is not None and rule.decides == "labels":
            return rule.apply(self, pred, self.decision["params"])
        return self.plain_labels(pred)

    def adjusted(self, pred: np.ndarray) -> np.ndarray:
        """A prediction after a fitted rule on probabilities (a temperature), else as it is."""
        rule = self.rule
        if rule is not None and rule.decides == "probabilities":
            return rule.apply(self, pred, self.decision["params"])
        return pred

    @property
    def rule(self):
        from ..rules import get_rule

        return get_rule(self.decision["rule"]) if self.decision else None

    @property
    def decision_rule(self) -> str | None:
        """The rule `decision.rule: auto` fits for this type and metric: on labels, the type's label rule;
        on probabilities whose calibration a metric scores (log loss, KL divergence), a temperature."""
        metric = self.scorer
        if metric.reads == "labels":
            return next((r for r in self.rules if r != "temperature"), None)
        return "temperature" if metric.calibrated and "temperature" in self.rules else None

    def with_decision(self, rule: str | None, params: dict | None = None) -> Task:
        return dataclasses.replace(self, decision={"rule": rule, "params": params} if rule else None)

    def without_decision(self) -> Task:
        return self.with_decision(None) if self.decision else self

    def read(self, pred: np.ndarray, reads: str):
        """What a metric reads of a prediction (values, probabilities, labels, or for a metric file the rows
        as the submission holds them), through the same functions the submission is made with."""
        pred = self.adjusted(pred)
        if reads == "labels":
            return self.labels(pred)
        if reads == "submission":
            return self.frame([str(i) for i in range(len(pred))], self.shaped(pred))
        return self.finish(pred)

    def truth(self, target, reads: str):
        """What a metric compares with: the encoded targets, or for a metric file the solution frame (the
        targets in the submission's shape, as Kaggle's solution file holds them)."""
        if reads == "submission":
            return self.frame([str(i) for i in range(len(target))], self.solution(target))
        return target

    def metric_facts(self, metric: Metric) -> dict:
        """The task's facts a metric takes (weights, average, the id column) and the config's metric arguments."""
        facts = {"weights": self.weights, "average": self.average, "row_id": self.id}
        return {**{k: facts[k] for k in metric.takes}, **self.metric_args}

    def score(self, target, pred) -> float:
        """The task's metric of a prediction against encoded targets."""
        metric = self.scorer
        return metric.score(
            self.truth(target, metric.reads), self.read(pred, metric.reads), **self.metric_facts(metric)
        )

    def per_output(self, target, pred) -> dict[str, float]:
        """A score per target or label where the task has several (the CV table shows them); {} otherwise."""
        return {}

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
        """A head's prediction from its column(s): (n,) or (n, outputs), float64."""
        cols = self.columns_for(head)
        return frame[cols[0]].to_numpy(np.float64) if len(cols) == 1 else frame[cols].to_numpy(np.float64)

    def heads_in(self, frame: pd.DataFrame) -> list[str]:
        """The heads whose prediction columns `frame` holds, in column order."""
        names = [c.rsplit(":", 1)[0] if self.n_outputs > 1 else c for c in frame.columns]
        return [n for n in dict.fromkeys(names) if all(c in frame.columns for c in self.columns_for(n))]

    # -- the submission --
    def submitted(self, pred: np.ndarray) -> np.ndarray:
        """The submission's values of a prediction (after the fitted rule): a column, or one column per
        submission column, in the sample's column order."""
        return self.shaped(self.adjusted(pred))

    def shaped(self, pred: np.ndarray) -> np.ndarray:
        """The submission's values of an (adjusted) prediction; the type's shape."""
        raise NotImplementedError

    def solution(self, target: np.ndarray) -> np.ndarray:
        """Encoded targets in the submission's shape (a column, or one per submission column)."""
        raise NotImplementedError

    def frame(self, ids: list[str], values: np.ndarray) -> pd.DataFrame:
        """The id column and the submission's columns holding `values`."""
        frame = pd.DataFrame({self.id: ids})
        if np.ndim(values) == 2:
            for k, col in enumerate(self.columns):
                frame[col] = values[:, k]
        else:
            frame[self.columns[0]] = values
        return frame

    def submission_frame(self, ids: list[str], fold_preds: list[np.ndarray]) -> pd.DataFrame:
        """The submission from the folds' blended test predictions: their mean (blend.fold_mean), made
        into the submission's values. The pipeline's submission and the Kaggle notebook both make it here."""
        from ..blend import fold_mean

        return self.frame(ids, self.submitted(fold_mean(fold_preds)))

    def read_submission(self, sub: pd.DataFrame, reads: str) -> np.ndarray:
        """What a metric reads of a submission's rows (the inverse of `submitted`): the CV scores exactly
        what the file holds."""
        raise NotImplementedError

    def score_submission(self, sub: pd.DataFrame, solution: pd.DataFrame) -> float:
        """The task's metric of a submission (as read from its file, the id column as task.id) against the
        solution's targets (a table with the id column as `Id` and the target columns), row for row."""
        truth = solution.set_index("Id").loc[sub[self.id].astype(str)].reset_index()
        target, metric = self.encode(truth), self.scorer
        if metric.reads == "submission":
            return metric.score(self.frame(sub[self.id].astype(str).tolist(), self.solution(target)), sub,
                                **self.metric_facts(metric))  # fmt: skip
        return metric.score(target, self.read_submission(sub, metric.reads), **self.metric_facts(metric))

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
        return problems + self.value_problems(sub, ids, where)

    def value_problems(self, sub: pd.DataFrame, ids: pd.Series, where: str) -> list[str]:
        """The submission's values that the task does not allow (the type says which)."""
        raise NotImplementedError

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


def _metrics() -> dict:
    from ..metrics import METRICS

    return METRICS


def objective_spec(loss: str, output: str, n_outputs: int = 1, **scales) -> dict:
    """An MLP head's objective as plain values (heads.objective.Objective.from_dict builds it)."""
    return {"loss": loss, "output": output, "n_outputs": n_outputs, **scales}


def sturges_bins(target: pd.Series) -> np.ndarray:
    """Bin the target into 1 + log2(n) equal-width bins (Sturges' rule)."""
    n_bins = int(np.floor(1 + np.log2(len(target))))
    return pd.cut(target, bins=n_bins, labels=False).to_numpy()


def scalar(value):
    """A label as JSON keeps it (numpy ints become ints)."""
    return value.item() if hasattr(value, "item") else value


def sorted_classes(values) -> list:
    """Distinct labels in a fixed order: numerically where they are numbers, else as text."""
    labels = [scalar(v) for v in pd.unique(pd.Series(values).dropna())]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in labels)
    return sorted(labels) if numeric else sorted(labels, key=str)


def resolve(task: Task, train: pd.DataFrame, sample: pd.DataFrame | None, n_splits: int, where: dict) -> tuple:
    """(the task with what the data says, every problem found); `where` names the train and sample files."""
    if sample is None:
        return task, [f"{where['sample']}: not found; the submission's columns are read from it"]
    if task.id not in sample.columns:
        return task, [f"{where['sample']}: no {task.id!r} column (task.id); its columns are {list(sample.columns)}"]
    return task.resolve(train, sample, n_splits, where)


# The types register themselves on import.
from . import classification, multilabel, per_target, regression, softlabel  # noqa: E402, F401
