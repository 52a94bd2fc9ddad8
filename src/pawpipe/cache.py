"""Decode and resize every image once, into a uint8 array that training memory-maps, and read it back.

Training then never decodes a full-size JPEG per epoch: reading a slice of a memory-mapped .npy
costs far less than decoding and resizing the source image.

Two layouts (`image.resize`). `squash`: every image resized to (size, size), whatever its aspect
ratio. `crop`: the aspect ratio is kept; the short side is resized to `size`, the long side to
size x the aspect ratio, at most L = round(size x image.max_aspect) (centre-cropped beyond). Rows
are (size, L, 3): a landscape image as it is, a portrait one transposed so that its long side runs
along axis 2, both left-aligned and zero-padded; the index JSON records each image's valid long
side and whether it was transposed. Every reader goes through `open_cache`, which hands out square
crops in the images' own orientation: centre crops to evaluate, seeded random crops to train.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .data import DataError, load_image
from .io import atomic_path, read_json, write_json
from .logs import log

RESIZE_MODES = ("crop", "squash")
CROP_STREAM = 0xC0  # random crops draw from their own stream of the sample's seed, apart from the augmentation's


@dataclass(frozen=True)
class ImageSpec:
    """How images are decoded and cached: the config's image block (less its runtime keys)."""

    size: int
    resize: str  # crop | squash
    max_aspect: float

    def __post_init__(self):
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"image.resize must be one of {RESIZE_MODES}, not {self.resize!r}")
        if self.max_aspect < 1:
            raise ValueError(f"image.max_aspect must be at least 1, not {self.max_aspect}")

    @classmethod
    def from_config(cls, image: dict[str, Any]) -> ImageSpec:
        return cls(int(image["size"]), image["resize"], float(image["max_aspect"]))

    @property
    def long_side(self) -> int:
        """L: the cache's width, the longest side an image keeps."""
        return round(self.size * self.max_aspect) if self.resize == "crop" else self.size

    def decode(self, path: str | Path) -> np.ndarray:
        return load_image(path, self.size, self.max_aspect if self.resize == "crop" else None)

    def describe(self) -> dict[str, Any]:
        return {"size": self.size, "resize": self.resize, "max_aspect": self.max_aspect}


def _decode(args: tuple[str, ImageSpec]) -> tuple[np.ndarray | None, str | None]:
    path, spec = args
    try:
        return spec.decode(path), None
    except DataError as exc:
        return None, exc.problems[0]


def decode_all(
    paths: list[str], spec: ImageSpec, workers: int, desc: str
) -> Iterator[tuple[np.ndarray | None, str | None]]:
    """Yield (image, None) or (None, problem) for each path, in order, decoding in `workers` processes."""
    jobs = [(p, spec) for p in paths]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers) as pool:
            chunks = max(1, len(jobs) // (8 * workers))
            yield from tqdm(
                pool.map(_decode, jobs, chunksize=chunks), total=len(jobs), desc=desc, unit="img", disable=None
            )
    else:
        yield from tqdm(map(_decode, jobs), total=len(jobs), desc=desc, unit="img", disable=None)


def store(array: np.ndarray, i: int, img: np.ndarray, spec: ImageSpec) -> tuple[int, bool]:
    """Put one decoded image into row i of a cache array; return (its valid long side, transposed)."""
    if spec.resize == "squash":
        array[i] = img
        return spec.size, False
    transposed = img.shape[0] > img.shape[1]  # portrait: its long side goes along axis 2
    if transposed:
        img = img.transpose(1, 0, 2)
    valid = img.shape[1]
    array[i, :, :valid] = img
    array[i, :, valid:] = 0
    return valid, transposed


def fill(array: np.ndarray, paths: list[str], spec: ImageSpec, workers: int, desc: str) -> tuple[dict, list[str]]:
    """Decode `paths` into the rows of `array`; return the geometry ({valid, transposed}) and every problem."""
    geometry: dict[str, list] = {"valid": [], "transposed": []}
    problems: list[str] = []
    for i, (img, problem) in enumerate(decode_all(paths, spec, workers, desc)):
        valid, transposed = (0, False) if problem else store(array, i, img, spec)
        geometry["valid"].append(int(valid))
        geometry["transposed"].append(bool(transposed))
        if problem:
            problems.append(problem)
    return geometry, problems


def build_cache(
    ids: list[str],
    paths: list[str | Path],
    split: str,
    spec: ImageSpec,
    out_npy: str | Path,
    out_index: str | Path,
    workers: int = 1,
) -> None:
    """Decode the images of a split (`paths`, one per id) into out_npy; on any failure, list them all and
    write nothing."""
    paths = [str(p) for p in paths]
    shape = (len(ids), spec.size, spec.long_side, 3)
    with atomic_path(out_npy) as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        geometry, problems = fill(arr, paths, spec, workers, desc=f"cache {split}")
        arr.flush()
        del arr
        if problems:
            raise DataError(problems)
    index = {"split": split, **spec.describe(), "long_side": spec.long_side, "ids": list(ids), **geometry}
    write_json(index, out_index)
    log.info(
        "cached %d %s images at %dpx (%s) -> %s (%.1f MiB)",
        len(ids), split, spec.size, layout(spec), out_npy, os.path.getsize(out_npy) / 2**20,
    )  # fmt: skip


def layout(spec: ImageSpec) -> str:
    if spec.resize == "squash":
        return "squashed to squares"
    return f"aspect kept, long side up to {spec.long_side}px"


class ImageCache:
    """Cached images as every reader sees them: len(), and images[i] or images[rows] (an int, an index
    array, a slice) give uint8 (size, size, 3) or (B, size, size, 3) centre crops in the images' own
    orientation; random_crop for training. A squash cache hands out its rows unchanged."""

    def __init__(self, array: np.ndarray, spec: ImageSpec, valid, transposed):
        self.array, self.spec = array, spec
        self.valid = np.asarray(valid, dtype=np.int64)
        self.transposed = np.asarray(transposed, dtype=bool)
        self.shape = (len(array), spec.size, spec.size, 3)
        self.dtype = np.dtype(np.uint8)

    @classmethod
    def decode(cls, paths: list[str], spec: ImageSpec, workers: int, desc: str) -> ImageCache:
        """Decode `paths` into memory in the cache's layout (the Kaggle notebook's test images)."""
        array = np.zeros((len(paths), spec.size, spec.long_side, 3), np.uint8)
        geometry, problems = fill(array, paths, spec, workers, desc)
        if problems:
            raise DataError(problems)
        return cls(array, spec, geometry["valid"], geometry["transposed"])

    def __len__(self) -> int:
        return len(self.array)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[i] for i in range(len(self)))

    def _orient(self, window: np.ndarray, i: int) -> np.ndarray:
        """A window of image i's cached row, turned back to the image's own orientation."""
        return window.transpose(1, 0, 2) if self.transposed[i] else window

    def _square(self, image: np.ndarray, i: int, offset: int) -> np.ndarray:
        """The size x size window of a cached row at `offset` along its long side, in its own orientation."""
        return self._orient(image[:, offset : offset + self.spec.size], i)

    def whole(self, i: int) -> np.ndarray:
        """Image i's whole cached frame (its valid long side, no padding) in its own orientation: what
        near-duplicate hashing reads, so two copies of a photo match on more than their centres."""
        if self.spec.resize == "squash":
            return self.array[i]
        return self._orient(self.array[i][:, : int(self.valid[i])], i)

    def __getitem__(self, key):
        if self.spec.resize == "squash":
            return self.array[key]
        size = self.spec.size
        if isinstance(key, int | np.integer):
            i = int(key) % len(self)
            return self._square(self.array[i], i, (int(self.valid[i]) - size) // 2)
        rows = np.arange(len(self))[key]
        block = self.array[rows]  # one read: sorted rows come off a memory map fastest
        out = np.empty((len(rows), size, size, 3), np.uint8)
        for j, i in enumerate(rows):
            out[j] = self._square(block[j], i, (int(self.valid[i]) - size) // 2)
        return out

    def random_crop(self, i: int, seed: int) -> np.ndarray:
        """A writable copy of a size x size crop of image i, its offset drawn uniformly along the image's
        valid long side (never into the padding) from `seed`; a squash cache's row as it is."""
        if self.spec.resize == "squash":
            return np.array(self.array[i])
        room = int(self.valid[i]) - self.spec.size
        offset = int(np.random.default_rng([seed, CROP_STREAM]).integers(0, room + 1))
        return np.array(self._square(self.array[i], i, offset), order="C")


def open_cache(npy: str | Path, index: str | Path) -> ImageCache:
    """The cache written by build_cache: `npy` memory-mapped, read as its index JSON describes it.

    An index without `resize` comes from before crop mode existed: its rows are squashed squares.
    """
    array = np.load(npy, mmap_mode="r")
    meta = read_json(index)
    if "resize" in meta:
        spec = ImageSpec(int(meta["size"]), meta["resize"], float(meta["max_aspect"]))
        valid, transposed = meta["valid"], meta["transposed"]
    else:
        spec = ImageSpec(int(array.shape[1]), "squash", 1.0)
        valid, transposed = [spec.size] * len(array), [False] * len(array)
    expected = (len(meta["ids"]), spec.size, spec.long_side, 3)
    if array.shape != expected or len(valid) != len(array):
        raise ValueError(
            f"{npy} holds images of shape {array.shape}, but {index} describes {expected}; rerun the cache rule"
        )
    return ImageCache(array, spec, valid, transposed)
