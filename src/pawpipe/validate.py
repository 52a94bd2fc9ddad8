"""Check the whole input before any long computation: tables, image files, and every image decoded.

Every problem is collected and reported at once, each naming the file or line and what to do.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .cache import ImageSpec, decode_all
from .data import SAFE_ID, TARGET, DataError, image_path, read_tables

# Decoding at a small size is enough to prove an image is whole: libjpeg still reads every byte of
# the entropy-coded data, while draft mode skips most of the inverse-DCT and resize work.
CHECK = ImageSpec(32, "squash", 1.0)


def decodable_ids(df: pd.DataFrame, data_dir: str | Path, split: str) -> list[str]:
    if "Id" not in df.columns:
        return []
    ids = [i for i in df["Id"] if isinstance(i, str) and SAFE_ID.match(i)]
    return [i for i in dict.fromkeys(ids) if (p := image_path(data_dir, split, i)).is_file() and p.stat().st_size > 0]


def validate_dataset(data_dir: str | Path, workers: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (train, test) when everything is valid, else raise DataError listing every problem."""
    tables, problems = read_tables(data_dir)
    for split, df in tables.items():
        ids = decodable_ids(df, data_dir, split)
        paths = [str(image_path(data_dir, split, i)) for i in ids]
        for _, problem in decode_all(paths, CHECK, workers, desc=f"check {split} images"):
            if problem:
                problems.append(problem)
    if problems:
        raise DataError(problems)
    train, test = tables["train"], tables["test"]
    train[TARGET] = train[TARGET].astype(int)
    return train, test
