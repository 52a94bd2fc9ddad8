"""A competition's own metric file as the metric: the Python file Kaggle publishes with every competition,
run unmodified. Its contract is one function,

    score(solution: pd.DataFrame, submission: pd.DataFrame, row_id_column_name: str, **args) -> float

raising ParticipantVisibleError on a bad submission. Many files `import kaggle_metric_utilities`, a
module of Kaggle's own that no registry has: where it is missing, KAGGLE_METRIC_UTILITIES (below) is put
in its place, with the names those files use (ParticipantVisibleError, HostVisibleError,
safe_call_score, verify_valid_probabilities, treat_as_participant_error).

`task.metric: {file: path.py, greater_is_better: true, args: {...}}` makes it the task's metric: the task
type shapes the out-of-fold rows as the submission will be (the solution frame from the targets, the
submission frame from the predictions, Task.read) and the file scores them, wherever a metric is used:
the CV, the best epoch, the blend weights, forward selection, tuning, the ensemble, the board, and the
rehearsal of the Kaggle notebook against a known solution. A file without `score`, a score that raises,
or one that is not a finite number stops the run with an error naming the file.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd

SHIM_NAME = "kaggle_metric_utilities"


class MetricFileError(ValueError):
    pass


class ParticipantVisibleError(Exception):
    """What a metric file raises for a submission a participant may be told about."""


class HostVisibleError(Exception):
    """What a metric file raises for a problem only the host may see."""


def treat_as_participant_error(error_message: str, solution) -> bool:
    """Whether an error's message can be shown to a participant without leaking the solution: only where the
    solution is numeric and the message holds no digits (nor true/false for boolean solutions)."""
    if isinstance(solution, pd.DataFrame):
        numeric = all(pd.api.types.is_numeric_dtype(d) for d in solution.dtypes)
        bools = any(pd.api.types.is_bool_dtype(d) for d in solution.dtypes)
    elif isinstance(solution, np.ndarray):
        numeric, bools = pd.api.types.is_numeric_dtype(solution), pd.api.types.is_bool_dtype(solution)
    else:
        return False
    if not numeric or any(c.isnumeric() for c in error_message):
        return False
    return not (bools and ("true" in error_message.lower() or "false" in error_message.lower()))


def safe_call_score(metric_function, solution, submission, **kwargs):
    """Call a metric function; an error it raises becomes a ParticipantVisibleError where it is safe to show."""
    try:
        return metric_function(solution, submission, **kwargs)
    except Exception as err:
        name, message = type(err).__name__, str(err)
        if name == "ParticipantVisibleError":
            raise ParticipantVisibleError(message) from err
        if name == "HostVisibleError":
            raise HostVisibleError(message) from err
        if treat_as_participant_error(message, solution):
            raise ParticipantVisibleError(message) from err
        raise


def verify_valid_probabilities(df: pd.DataFrame, df_name: str) -> None:
    """Refuse a frame of probability columns (no id column) that is not numeric, outside [0, 1], or whose rows
    do not sum to one."""
    if not all(pd.api.types.is_numeric_dtype(d) for d in df.dtypes):
        raise ParticipantVisibleError(f"All target values in {df_name} must be numeric")
    if df.min().min() < 0:
        raise ParticipantVisibleError(f"All target values in {df_name} must be at least zero")
    if df.max().max() > 1:
        raise ParticipantVisibleError(f"All target values in {df_name} must be no greater than one")
    if not np.allclose(df.sum(axis=1), 1):
        raise ParticipantVisibleError(f"Target values in {df_name} do not add to one within all rows")


def shim_module() -> types.ModuleType:
    """`kaggle_metric_utilities` with the names metric files use, for where Kaggle's own is not installed."""
    module = types.ModuleType(SHIM_NAME, "pawpipe's stand-in for Kaggle's kaggle_metric_utilities")
    for obj in (ParticipantVisibleError, HostVisibleError, treat_as_participant_error, safe_call_score,
                verify_valid_probabilities):  # fmt: skip
        setattr(module, obj.__name__, obj)
    return module


def provide_shim() -> None:
    if SHIM_NAME not in sys.modules and importlib.util.find_spec(SHIM_NAME) is None:
        sys.modules[SHIM_NAME] = shim_module()


@functools.cache
def load_score(path: str):
    """The `score` function of a metric file, the file run as it is (with the shim importable)."""
    file = Path(path)
    if not file.is_file():
        raise MetricFileError(f"task.metric.file: {path} not found; put the competition's metric file there")
    provide_shim()
    spec = importlib.util.spec_from_file_location(f"pawpipe_metric_{abs(hash(str(file.resolve())))}", file)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise MetricFileError(f"{path}: the metric file does not load ({type(exc).__name__}: {exc})") from exc
    score = getattr(module, "score", None)
    if not callable(score):
        raise MetricFileError(
            f"{path}: no score() function; a Kaggle metric file defines score(solution, submission, "
            f"row_id_column_name) -> float"
        )
    return score


def scorer(path: str):
    """The metric function of a file: (solution frame, submission frame, row_id, **args) -> a finite float."""

    def score(solution: pd.DataFrame, submission: pd.DataFrame, row_id: str = "id", **args) -> float:
        fn = load_score(path)
        try:
            value = fn(solution.copy(), submission.copy(), row_id, **args)
        except Exception as exc:
            raise MetricFileError(
                f"{path}: score() raised {type(exc).__name__}: {exc} (scoring {len(submission)} rows shaped as the "
                f"submission, columns {list(submission.columns)[:8]})"
            ) from exc
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise MetricFileError(f"{path}: score() returned {value!r}, not a number") from None
        if not math.isfinite(value):
            raise MetricFileError(f"{path}: score() returned {value}, not a finite number, on {len(submission)} rows")
        return value

    return score


def file_metric(spec: dict):
    """The Metric entry of task.metric: {file, greater_is_better, label, args}."""
    from .metrics import Metric
    from .task import TYPES

    path = spec["file"]
    return Metric(
        name=Path(path).stem,
        label=spec.get("label") or Path(path).stem,
        greater_is_better=bool(spec["greater_is_better"]),
        tasks=tuple(TYPES),
        reads="submission",
        fn=scorer(path),
        takes=("row_id",),
        defaults=dict(spec.get("args") or {}),
    )
