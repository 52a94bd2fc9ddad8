"""The competition's tables and images: reading, validating, decoding.

Validation reports every problem found at once, each naming the file and line (or image) and what
to do, before any long computation starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps, UnidentifiedImageError

from .io import read_csv

METADATA = [
    "Subject Focus", "Eyes", "Face", "Near", "Action", "Accessory",
    "Group", "Collage", "Human", "Occlusion", "Info", "Blur",
]  # fmt: skip
TARGET = "Pawpularity"
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class DataError(ValueError):
    """Bad input data. The message lists every problem found, one per line."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in the input data:"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


def image_path(data_dir: str | Path, split: str, image_id: str) -> Path:
    return Path(data_dir) / split / f"{image_id}.jpg"


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a competition CSV with Ids as strings (hex Ids like '1e10' must not become floats)."""
    path = Path(path)
    if not path.is_file():
        raise DataError([f"{path}: file not found; point data.dir at the unpacked competition data"])
    try:
        return read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError([f"{path}: cannot be parsed as CSV ({exc}); re-download or fix the file"]) from None


def check_table(df: pd.DataFrame, path: str | Path, *, train: bool) -> list[str]:
    """Return every problem in a train.csv/test.csv table (empty list when it is valid)."""
    problems: list[str] = []
    required = ["Id", *METADATA] + ([TARGET] if train else [])
    missing = [c for c in required if c not in df.columns]
    if missing:
        return [f"{path}: missing column(s) {', '.join(map(repr, missing))}; expected {required}"]
    if df.empty:
        return [f"{path}: has a header but no rows; nothing to {'train on' if train else 'predict'}"]

    def where(i: int) -> str:  # line numbers as an editor shows them (header is line 1)
        return f"{path} line {i + 2} (Id {df['Id'].iat[i]!r})"

    for i, image_id in enumerate(df["Id"]):
        if not isinstance(image_id, str) or not SAFE_ID.match(image_id):
            problems.append(f"{where(i)}: Id is not a safe file name (letters, digits, '_', '-', '.')")
    for image_id in df.loc[df["Id"].duplicated(keep="first"), "Id"].unique():
        lines = [str(i + 2) for i in np.flatnonzero(df["Id"].to_numpy() == image_id)]
        problems.append(f"{path}: Id {image_id!r} appears more than once (lines {', '.join(lines)})")
    for col in METADATA:
        values = pd.to_numeric(df[col], errors="coerce")
        for i in np.flatnonzero(values.isna() | ~values.isin([0, 1])):
            problems.append(f"{where(i)}: {col!r} is {df[col].iat[i]!r}, expected 0 or 1")
    if train:
        values = pd.to_numeric(df[TARGET], errors="coerce")
        bad = values.isna() | (values != values.round()) | (values < 1) | (values > 100)
        for i in np.flatnonzero(bad):
            problems.append(f"{where(i)}: {TARGET} is {df[TARGET].iat[i]!r}, expected an integer 1..100")
    return problems


def check_image_files(df: pd.DataFrame, data_dir: str | Path, split: str) -> list[str]:
    """Missing and zero-byte image files (cheap checks; decoding happens in the image cache)."""
    problems = []
    if "Id" not in df.columns:
        return problems
    for image_id in df["Id"]:
        if not isinstance(image_id, str) or not SAFE_ID.match(image_id):
            continue  # already reported by check_table
        p = image_path(data_dir, split, image_id)
        if not p.is_file():
            problems.append(f"{p}: image missing for Id {image_id!r} in {split}.csv; add the file or drop the row")
        elif p.stat().st_size == 0:
            problems.append(f"{p}: empty file (0 bytes); replace it or drop Id {image_id!r} from {split}.csv")
    return problems


def read_tables(data_dir: str | Path, *, check_images: bool = True) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Read train.csv and test.csv; return the tables that could be read and every problem found."""
    data_dir = Path(data_dir)
    problems: list[str] = []
    tables = {}
    for split in ("train", "test"):
        path = data_dir / f"{split}.csv"
        try:
            df = read_table(path)
        except DataError as exc:
            problems += exc.problems
            continue
        found = check_table(df, path, train=split == "train")
        if check_images:
            found += check_image_files(df, data_dir, split)
        problems += found
        tables[split] = df
    return tables, problems


def load_tables(data_dir: str | Path, *, check_images: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read and validate train.csv and test.csv; raise DataError listing every problem."""
    tables, problems = read_tables(data_dir, check_images=check_images)
    if problems:
        raise DataError(problems)
    train, test = tables["train"], tables["test"]
    train[TARGET] = train[TARGET].astype(int)
    return train, test


def metadata_features(table: pd.DataFrame, ids: list[str], where: str | Path = "table") -> np.ndarray:
    """The 12 metadata columns of a train/test table for `ids`, in that order, as float32: the one
    place they become features (the MLP head, the SVR and the Kaggle notebook all read them here)."""
    df = table.set_index("Id")
    missing = [i for i in ids if i not in df.index]
    if missing:
        raise DataError([f"{where}: no row for Id {missing[0]!r} ({len(missing)} missing); rerun check_data"])
    return df.loc[list(ids), METADATA].to_numpy(np.float32)


def metadata_matrix(table: str | Path, ids: list[str]) -> np.ndarray:
    """metadata_features of the table in file `table` (train.csv or test.csv)."""
    return metadata_features(read_table(table), ids, table)


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
