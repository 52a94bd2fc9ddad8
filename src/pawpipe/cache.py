"""Decode and resize every image once, into a uint8 array that training memory-maps.

Training then never decodes a full-size JPEG per epoch: reading a (size, size, 3) slice of a
memory-mapped .npy costs far less than decoding and resizing the source image.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .data import DataError, image_path, load_image
from .io import atomic_path, write_json
from .logs import log


def _decode(args: tuple[str, int]) -> tuple[np.ndarray | None, str | None]:
    path, size = args
    try:
        return load_image(path, size), None
    except DataError as exc:
        return None, exc.problems[0]


def decode_all(paths: list[str], size: int, workers: int, desc: str) -> Iterator[tuple[np.ndarray | None, str | None]]:
    """Yield (image, None) or (None, problem) for each path, in order, decoding in `workers` processes."""
    jobs = [(p, size) for p in paths]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers) as pool:
            chunks = max(1, len(jobs) // (8 * workers))
            yield from tqdm(
                pool.map(_decode, jobs, chunksize=chunks), total=len(jobs), desc=desc, unit="img", disable=None
            )
    else:
        yield from tqdm(map(_decode, jobs), total=len(jobs), desc=desc, unit="img", disable=None)


def build_cache(
    ids: list[str],
    data_dir: str | Path,
    split: str,
    size: int,
    out_npy: str | Path,
    out_index: str | Path,
    workers: int = 1,
) -> None:
    """Decode all images of a split into out_npy; on any failure, list them all and write nothing."""
    paths = [str(image_path(data_dir, split, i)) for i in ids]
    problems: list[str] = []
    with atomic_path(out_npy) as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(ids), size, size, 3))
        for i, (img, problem) in enumerate(decode_all(paths, size, workers, desc=f"cache {split}")):
            if problem:
                problems.append(problem)
            else:
                arr[i] = img
        arr.flush()
        del arr
        if problems:
            raise DataError(problems)
    write_json({"split": split, "size": size, "ids": list(ids)}, out_index)
    log.info(
        "cached %d %s images at %dpx -> %s (%.1f MiB)", len(ids), split, size, out_npy, os.path.getsize(out_npy) / 2**20
    )


def open_cache(npy: str | Path) -> np.ndarray:
    return np.load(npy, mmap_mode="r")
