"""Atomic file writes and small readers shared by every stage.

Every artifact is written to a temporary name beside its destination and renamed into place, so a
killed job never leaves a file that Snakemake or the next stage would take as complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def built_folder(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty folder beside `out_dir` to build a data set in; only if the block succeeds move
    each piece into `out_dir` (replacing one there of the same name), folders first and tables last, so
    that a table only exists once the images it names do. A failed build leaves `out_dir` as it was."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.build-", dir=out_dir.parent) as build:
        tmp = Path(build)
        yield tmp
        out_dir.mkdir(parents=True, exist_ok=True)
        for piece in sorted(tmp.iterdir(), key=lambda p: (p.is_file(), p.name)):
            dst = out_dir / piece.name
            if dst.is_dir():
                shutil.rmtree(dst)
            piece.replace(dst)


def write_csv(df: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def write_json(obj: Any, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def read_csv(path: str | os.PathLike, id_column: str = "Id", **kwargs) -> pd.DataFrame:
    """A table the pipeline wrote (or a competition CSV): ids as strings (hex ids like '1e10' must not
    become floats), floats parsed exactly as written, so that predictions survive the round trip
    through a CSV bit for bit (pandas' default parser can be one unit in the last place off)."""
    return pd.read_csv(path, dtype={id_column: str}, float_precision="round_trip", **kwargs)


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def publish(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Place a finished working file at its output path atomically (hard link when possible)."""
    with atomic_path(dst) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
