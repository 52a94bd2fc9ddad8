"""The competition's tables and images: reading, validating, decoding, as the task (pawpipe.task) names
their columns and files.

Validation reports every problem found at once, each naming the file and line (or image) and what
to do, before any long computation starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from PIL import Image, ImageOps, UnidentifiedImageError

from .io import read_csv

if TYPE_CHECKING:
    from .task import Task

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
ID = "Id"  # the id column of every table the pipeline writes (the competition's own is task.id)


class DataError(ValueError):
    """Bad input data. The message lists every problem found, one per line."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in the input data:"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


def shown(value) -> str:
    """A table cell as a message shows it: 12.0, 'abc', nan (not np.float64(12.0))."""
    return repr(value.item() if hasattr(value, "item") else value)


def read_table(path: str | Path, id_column: str = ID) -> pd.DataFrame:
    """Read a competition CSV with its id column as strings (hex ids like '1e10' must not become floats),
    named `Id` as in every table the pipeline writes."""
    path = Path(path)
    if not path.is_file():
        raise DataError([f"{path}: file not found; point data.dir at the unpacked competition data"])
    try:
        df = read_csv(path, id_column=id_column)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError([f"{path}: cannot be parsed as CSV ({exc}); re-download or fix the file"]) from None
    if id_column == ID or id_column not in df.columns:
        return df
    if ID in df.columns:
        raise DataError([f"{path}: has both an {ID!r} column and the id column {id_column!r} (task.id); rename one"])
    return df.rename(columns={id_column: ID})


def check_table(df: pd.DataFrame, path: str | Path, task: Task, *, train: bool) -> list[str]:
    """Return every problem in a train or test table (empty list when it is valid); `df` as read_table
    returns it (the id column as `Id`)."""
    required = {task.id: ID, **{c: c for c in task.features}, **({c: c for c in task.target_columns} if train else {})}
    if task.image_column:
        required[task.image_column] = task.image_column
    missing = [name for name, col in required.items() if col not in df.columns]
    if missing:
        return [f"{path}: missing column(s) {', '.join(map(repr, missing))} (the task block names them); it has "
                f"{[task.id if c == ID else c for c in df.columns][:20]}"]  # fmt: skip
    if df.empty:
        return [f"{path}: has a header but no rows; nothing to {'train on' if train else 'predict'}"]

    def where(i: int) -> str:  # line numbers as an editor shows them (header is line 1)
        return f"{path} line {i + 2} ({task.id} {shown(df[ID].iat[i])})"

    problems: list[str] = []
    for i, image_id in enumerate(df[ID]):
        if not isinstance(image_id, str) or (task.image and not SAFE_ID.match(image_id)):
            problems.append(f"{where(i)}: {task.id} is not a safe file name (letters, digits, '_', '-', '.')")
    for image_id in df.loc[df[ID].duplicated(keep="first"), ID].unique():
        lines = [str(i + 2) for i in np.flatnonzero(df[ID].to_numpy() == image_id)]
        problems.append(f"{path}: {task.id} {image_id!r} appears more than once (lines {', '.join(lines)})")
    for col in task.features:
        values = pd.to_numeric(df[col], errors="coerce")
        for i in np.flatnonzero(~np.isfinite(values.to_numpy(float))):
            problems.append(f"{where(i)}: {col!r} is {shown(df[col].iat[i])}, expected a number")
    if task.image_column:
        for i, rel in enumerate(df[task.image_column]):
            if not isinstance(rel, str) or Path(rel).is_absolute() or ".." in Path(rel).parts:
                problems.append(f"{where(i)}: {task.image_column!r} is {rel!r}, expected a path inside data.dir")
    if train:
        problems += task.target_problems(df, where)  # the task type's: numbers in bounds, labels, distributions
    return problems


def check_image_files(df: pd.DataFrame, data_dir: str | Path, split: str, task: Task) -> list[str]:
    """Missing and zero-byte image files (cheap checks; decoding happens in the image cache). When no
    row's image exists at all, one line says the pattern matches no file, with what the folder holds."""
    if ID not in df.columns or (task.image_column and task.image_column not in df.columns):
        return []
    problems, missing = [], 0
    for image_id, p in zip(df[ID], task.image_paths(data_dir, split, df), strict=True):
        if not isinstance(image_id, str) or (task.image and not SAFE_ID.match(image_id)):
            continue  # already reported by check_table
        if not p.is_file():
            missing += 1
            problems.append(f"{p}: image missing for {task.id} {image_id!r} in {task.tables[split]}; add the file "
                            f"or drop the row")  # fmt: skip
        elif p.stat().st_size == 0:
            problems.append(f"{p}: empty file (0 bytes); replace it or drop {task.id} {image_id!r}")
    if missing and missing == len(df) > 1:
        example = task.image_paths(data_dir, split, df.iloc[:1])[0]
        what = f"task.image {task.image!r}" if task.image else f"the paths in {task.image_column!r}"
        near = sorted(p.name for p in example.parent.glob("*"))[:3] if example.parent.is_dir() else []
        found = f"{example.parent} holds e.g. {near}" if near else f"{example.parent} does not exist"
        return [f"{what} matches none of the {len(df)} {split} images (e.g. {example}); {found}. Fix task.image "
                f"or data.dir"]  # fmt: skip
    return problems


def read_tables(data_dir: str | Path, task: Task, *, check_images: bool = True):
    """Read the train and test tables; return the tables that could be read and every problem found."""
    data_dir = Path(data_dir)
    problems: list[str] = []
    tables = {}
    for split in ("train", "test"):
        path = data_dir / task.tables[split]
        try:
            df = read_table(path, task.id)
        except DataError as exc:
            problems += exc.problems
            continue
        found = check_table(df, path, task, train=split == "train")
        if check_images:
            found += check_image_files(df, data_dir, split, task)
        problems += found
        tables[split] = df
    return tables, problems


def load_tables(data_dir: str | Path, task: Task, *, check_images: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read and validate the train and test tables; raise DataError listing every problem."""
    tables, problems = read_tables(data_dir, task, check_images=check_images)
    if problems:
        raise DataError(problems)
    return tables["train"], tables["test"]


def tabular_features(table: pd.DataFrame, ids: list[str], columns: list[str], where: str | Path = "table"):
    """The task's tabular columns of a table for `ids`, in that order, as float32: the one place they
    become features (the metadata-aware MLP head, the SVR's `metadata` set and the Kaggle notebook)."""
    df = table.set_index(ID)
    missing = [i for i in ids if i not in df.index]
    if missing:
        raise DataError([f"{where}: no row for id {missing[0]!r} ({len(missing)} missing); rerun check_data"])
    return df.loc[list(ids), list(columns)].to_numpy(np.float32)


def tabular_matrix(table: str | Path, ids: list[str], task: Task) -> np.ndarray:
    """tabular_features of the table in file `table` (the train or the test table)."""
    return tabular_features(read_table(table, task.id), ids, task.features, table)


@contextmanager
def read_rgb(path: str | Path, draft: tuple[int, int]) -> Iterator[Image.Image]:
    """One image file as an RGB PIL image, EXIF orientation applied, decoded at no less than `draft`
    (width, height) where the format can downscale while decoding (JPEG: by 2, 4 or 8).

    Grayscale, RGBA, palette and CMYK images are converted to RGB (transparency onto white). Raises
    DataError naming the file when it cannot be decoded.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.draft("RGB", draft)
            img = ImageOps.exif_transpose(img)
            if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                img = Image.new("RGB", rgba.size, (255, 255, 255))
                img.paste(rgba, mask=rgba.getchannel("A"))
            else:
                img = img.convert("RGB")
            yield img
    except UnidentifiedImageError:
        raise DataError([f"{path}: not a readable image; replace the file or drop its row"]) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError([f"{path}: cannot decode ({exc}); replace the file or drop its row"]) from None


def fit_box(width: int, height: int, size: int, max_aspect: float) -> tuple[tuple[int, int], tuple[float, ...]]:
    """Aspect-preserving resize of a width x height image: its short side becomes `size`, its long side
    size x its aspect ratio, at most round(size x max_aspect) (the middle of the long side is kept
    beyond that). Returns PIL's (target size, source box) for Image.resize."""
    short, long = min(width, height), max(width, height)
    kept = min(round(size * long / short), round(size * max_aspect))
    span = min(long, kept * short / size)  # the source pixels along the long side that are kept
    start = (long - span) / 2
    if width >= height:
        return (kept, size), (start, 0, start + span, height)
    return (size, kept), (0, start, width, start + span)


def load_image(path: str | Path, size: int, max_aspect: float | None = None) -> np.ndarray:
    """Decode one image (read_rgb) to a uint8 RGB array.

    With max_aspect None it is squashed to (size, size, 3). With a number its aspect ratio is kept
    (fit_box): (size, long, 3) for a landscape image, (long, size, 3) for a portrait one. JPEGs are
    downscaled while decoding, keeping the short side >= size.
    """
    with read_rgb(path, (size, size)) as img:
        if max_aspect is None:
            img = img.resize((size, size), Image.Resampling.BICUBIC)
        else:
            target, box = fit_box(*img.size, size, max_aspect)
            img = img.resize(target, Image.Resampling.BICUBIC, box=box)
        return np.asarray(img, dtype=np.uint8)
