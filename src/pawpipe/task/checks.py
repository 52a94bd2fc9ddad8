"""Checks every task type makes of its config and its submission, each problem a message that names the
key, file or row and says what is expected."""

from __future__ import annotations

import string

import numpy as np
import pandas as pd

PATTERN_FIELDS = {"split", "id"}


def image_problems(task: dict) -> list[str]:
    problems = []
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
    return problems


def sample_problem(columns: list[str], where: str) -> str | None:
    return f"{where}: holds only the id column; nothing to predict" if not columns else None


def number_problems(sub: pd.DataFrame, ids: pd.Series, where: str, columns: list, bounds: list) -> list[str]:
    """Submission columns that must hold finite numbers, each within its [low, high] (None: unbounded)."""
    problems = []
    for col, (low, high) in zip(columns, bounds, strict=True):
        values = pd.to_numeric(sub[col], errors="coerce").to_numpy(float)
        bad = ~np.isfinite(values)
        if low is not None:
            bad |= (values < low) | (values > high)
        if bad.any():
            within = f" in [{low:g}, {high:g}]" if low is not None else ""
            problems.append(f"{where}: {int(bad.sum())} values of {col!r} are not finite numbers{within}, "
                            f"e.g. id {ids[bad].iloc[0]!r}")  # fmt: skip
    return problems
