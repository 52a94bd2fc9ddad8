"""Check the whole input before any long computation: the task against the data (its columns, classes
and submission shape), the tables, the image files, and every image decoded.

Every problem is collected and reported at once, each naming the file or line and what to do.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .cache import ImageSpec, decode_all
from .data import SAFE_ID, DataError, read_tables
from .io import read_csv
from .task import Task, resolve

# Decoding at a small size is enough to prove an image is whole: libjpeg still reads every byte of
# the entropy-coded data, while draft mode skips most of the inverse-DCT and resize work.
CHECK = ImageSpec(32, "squash", 1.0)


def decodable_paths(df: pd.DataFrame, data_dir: str | Path, split: str, task: Task) -> list[str]:
    """The images of a table that exist and are not empty (the others are reported already)."""
    if "Id" not in df.columns or (task.image_column and task.image_column not in df.columns):
        return []
    paths = []
    for image_id, p in zip(df["Id"], task.image_paths(data_dir, split, df), strict=True):
        if isinstance(image_id, str) and (not task.image or SAFE_ID.match(image_id)) and p.is_file():
            if p.stat().st_size > 0:
                paths.append(str(p))
    return list(dict.fromkeys(paths))


def validate_dataset(
    data_dir: str | Path, task: Task, n_splits: int = 2, workers: int = 1
) -> tuple[Task, pd.DataFrame, pd.DataFrame]:
    """(the task resolved against the data, train, test) when everything is valid, else raise DataError
    listing every problem."""
    data_dir = Path(data_dir)
    tables, problems = read_tables(data_dir, task)
    if "train" in tables and not problems:
        sample_path = data_dir / task.tables["sample"]
        try:
            sample = read_csv(sample_path, id_column=task.id) if sample_path.is_file() else None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise DataError([f"{sample_path}: cannot be parsed as CSV ({exc}); re-download it"]) from None
        task, found = resolve(task, tables["train"], sample, n_splits, {"train": task.tables["train"],
                                                                          "sample": str(sample_path)})  # fmt: skip
        problems += found
    for split, df in tables.items():
        paths = decodable_paths(df, data_dir, split, task)
        for _, problem in decode_all(paths, CHECK, workers, desc=f"check {split} images"):
            if problem:
                problems.append(problem)
    if problems:
        raise DataError(problems)
    return task, tables["train"], tables["test"]
