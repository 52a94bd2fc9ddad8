"""The demo datasets, by name (`data.demo.kind`), each in the layout of a kind of Kaggle competition:

- `pawpularity`: Pawpularity's own layout (pawpipe.demo): a 1-100 score, twelve metadata columns.
- `shapes` (generated, multiclass): `image_name,category` in train.csv, PNG images named by a pattern
  (`train_images/{id}.png`), no test.csv: the test ids are those of sample_submission.csv, which has one
  probability column per class (the layout of Dog Breed Identification).
- `spots` (generated, binary, rare positives): ISIC-style tables (`train-metadata.csv`, an `isic_id`,
  a `target`, two tabular columns) and TIFF images in sharded folders, found through a path column.
- `digits` (real): scikit-learn's bundled 8x8 handwritten digits (1,797 scans, not made by this project)
  written in the `shapes` layout, so the multiclass overlay runs on real images.

Every generator is seeded: the same arguments write the same files.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter

from .demo import make_demo

SHAPES = ("circle", "square", "star", "triangle")


@dataclass(frozen=True)
class Demo:
    make: Callable[..., None]  # (out_dir, n_train, n_test, seed, n_duplicates)
    tables: tuple[str, ...]  # the tables it writes
    folders: tuple[str, ...]  # the image folders it writes


def _background(rng: np.random.Generator, w: int, h: int, low: int = 0, high: int = 140) -> Image.Image:
    top, bottom = rng.integers(low, high, size=3), rng.integers(low, high, size=3)
    ramp = np.linspace(0, 1, h)[:, None, None]
    bg = top * (1 - ramp) + bottom * ramp + rng.normal(0, 12, size=(h, w, 3))
    return Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8))


def _polygon(cx: float, cy: float, r: float, n: int, turn: float, inner: float | None = None) -> list[tuple]:
    """A regular polygon (or a star, with an inner radius) around (cx, cy)."""
    points = []
    for i in range(n * (2 if inner else 1)):
        radius = r if not inner or i % 2 == 0 else r * inner
        angle = turn + np.pi * 2 * i / (n * (2 if inner else 1))
        points.append((cx + radius * np.cos(angle), cy + radius * np.sin(angle)))
    return points


def draw_shape(rng: np.random.Generator, shape: str) -> Image.Image:
    w, h = int(rng.integers(72, 144)), int(rng.integers(72, 144))
    img = _background(rng, w, h)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 6))):  # clutter: small marks that are not the shape
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        draw.line(
            [x, y, x + rng.uniform(-15, 15), y + rng.uniform(-15, 15)], fill=tuple(rng.integers(0, 160, 3).tolist())
        )
    r = rng.uniform(0.15, 0.4) * min(w, h)
    cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
    colour = tuple(int(v) for v in rng.integers(120, 256, size=3))
    turn = rng.uniform(0, 2 * np.pi)
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif shape == "square":
        draw.polygon(_polygon(cx, cy, r, 4, turn), fill=colour)
    elif shape == "triangle":
        draw.polygon(_polygon(cx, cy, r, 3, turn), fill=colour)
    else:
        draw.polygon(_polygon(cx, cy, r, 5, turn, inner=0.45), fill=colour)
    return img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.5)))


def _finish(tmp: Path, out_dir: Path, names: list[str]) -> None:
    """Move the finished pieces into place, tables last: a table only exists once its images do."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in sorted(names, key=lambda n: n.endswith(".csv")):
        dst = out_dir / name
        if dst.is_dir():
            shutil.rmtree(dst)
        (tmp / name).replace(dst)


def make_shapes(out_dir: str | Path, n_train: int, n_test: int, seed: int, n_duplicates: int = 0) -> None:
    """A multiclass demo: which shape an image shows, in Dog Breed Identification's layout."""
    out_dir, rng = Path(out_dir), np.random.default_rng(seed)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.build-", dir=out_dir.parent) as build:
        tmp, rows = Path(build), {"train": [], "test": []}
        for split, n in (("train", n_train - n_duplicates), ("test", n_test)):
            (tmp / f"{split}_images").mkdir()
            for _ in range(n):
                image_id, shape = rng.bytes(6).hex(), SHAPES[int(rng.integers(len(SHAPES)))]
                draw_shape(rng, shape).save(tmp / f"{split}_images" / f"{image_id}.png")
                rows[split].append({"image_name": image_id, "category": shape})
        for src in rng.choice(len(rows["train"]), size=n_duplicates, replace=False):
            original = rows["train"][src]
            img = Image.open(tmp / "train_images" / f"{original['image_name']}.png")
            copy = rng.bytes(6).hex()
            img.resize((int(img.width * 0.9), int(img.height * 0.9))).save(tmp / "train_images" / f"{copy}.png")
            rows["train"].append({**original, "image_name": copy})
        pd.DataFrame(rows["train"]).to_csv(tmp / "train.csv", index=False)
        sample = pd.DataFrame({"image_name": [r["image_name"] for r in rows["test"]]})
        for shape in SHAPES:
            sample[shape] = 1 / len(SHAPES)
        sample.to_csv(tmp / "sample_submission.csv", index=False)
        _finish(tmp, out_dir, ["train_images", "test_images", "train.csv", "sample_submission.csv"])


def draw_spot(rng: np.random.Generator, malignant: bool) -> Image.Image:
    """A skin-toned patch with a lesion: a round even one, or (malignant) an irregular, two-toned one."""
    size = int(rng.integers(64, 112))
    base = np.array([200, 160, 130]) + rng.integers(-30, 30, size=3)
    skin = np.clip(base + rng.normal(0, 10, size=(size, size, 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(skin)
    draw = ImageDraw.Draw(img)
    cx, cy, r = size / 2 + rng.uniform(-8, 8), size / 2 + rng.uniform(-8, 8), rng.uniform(0.18, 0.32) * size
    brown = tuple(int(v) for v in np.array([110, 70, 45]) + rng.integers(-20, 20, size=3))
    if malignant:
        n = int(rng.integers(9, 15))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = r * rng.uniform(0.6, 1.3, n)
        draw.polygon([(cx + a * np.cos(t), cy + a * np.sin(t)) for a, t in zip(radii, angles, strict=True)], fill=brown)
        dark = tuple(int(v * 0.45) for v in brown)
        for _ in range(int(rng.integers(2, 5))):
            x, y, s = cx + rng.uniform(-r / 2, r / 2), cy + rng.uniform(-r / 2, r / 2), rng.uniform(2, r / 3)
            draw.ellipse([x - s, y - s, x + s, y + s], fill=dark)
    else:
        draw.ellipse([cx - r, cy - r * rng.uniform(0.8, 1.0), cx + r, cy + r], fill=brown)
    return img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))


def make_spots(out_dir: str | Path, n_train: int, n_test: int, seed: int, n_duplicates: int = 0) -> None:
    """A binary demo with rare positives, in the ISIC skin-lesion layout: metadata tables, TIFF images
    in sharded folders found through a path column, two tabular columns."""
    out_dir, rng = Path(out_dir), np.random.default_rng(seed)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.build-", dir=out_dir.parent) as build:
        tmp, rows, serial = Path(build), {"train": [], "test": []}, 0
        for split, n in (("train", n_train), ("test", n_test)):
            for _ in range(n):
                serial += 1
                image_id, malignant = f"ISIC_{int(rng.integers(10**6, 10**7))}{serial:04d}", bool(rng.random() < 0.2)
                rel = f"images/{image_id[-2:]}/{image_id}.tif"
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                draw_spot(rng, malignant).save(tmp / rel)
                age = float(np.clip(rng.normal(58 if malignant else 45, 14), 18, 90))
                size = float(np.round(rng.gamma(4, 1.6 if malignant else 1.1), 1))
                rows[split].append({"isic_id": image_id, "target": int(malignant), "age_approx": round(age),
                                    "lesion_size_mm": size, "image_path": rel})  # fmt: skip
        pd.DataFrame(rows["train"]).to_csv(tmp / "train-metadata.csv", index=False)
        test = pd.DataFrame(rows["test"]).drop(columns="target")
        test.to_csv(tmp / "test-metadata.csv", index=False)
        pd.DataFrame({"isic_id": test["isic_id"], "target": 0.5}).to_csv(tmp / "sample_submission.csv", index=False)
        _finish(tmp, out_dir, ["images", "train-metadata.csv", "test-metadata.csv", "sample_submission.csv"])


def make_digits(out_dir: str | Path, n_train: int, n_test: int, seed: int, n_duplicates: int = 0) -> None:
    """scikit-learn's bundled handwritten digits (real scans, 8x8, 16 grey levels) in the `shapes` layout:
    `n_test` of them (seeded) become the test set, up to `n_train` of the rest the training set."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.target))
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.build-", dir=out_dir.parent) as build:
        tmp, rows = Path(build), {}
        for split, picked in (("test", order[:n_test]), ("train", order[n_test : n_test + n_train])):
            (tmp / f"{split}_images").mkdir()
            rows[split] = []
            for i in picked:
                image_id = f"digit{i:04d}"
                pixels = (digits.images[i] * (255 / 16)).astype(np.uint8)
                Image.fromarray(pixels, mode="L").save(tmp / f"{split}_images" / f"{image_id}.png")
                rows[split].append({"image_name": image_id, "category": int(digits.target[i])})
        pd.DataFrame(rows["train"]).to_csv(tmp / "train.csv", index=False)
        sample = pd.DataFrame({"image_name": [r["image_name"] for r in rows["test"]]})
        for label in range(10):
            sample[str(label)] = 0.1
        sample.to_csv(tmp / "sample_submission.csv", index=False)
        _finish(tmp, out_dir, ["train_images", "test_images", "train.csv", "sample_submission.csv"])


DEMOS = {
    "pawpularity": Demo(make_demo, ("train.csv", "test.csv", "sample_submission.csv"), ("train", "test")),
    "shapes": Demo(make_shapes, ("train.csv", "sample_submission.csv"), ("train_images", "test_images")),
    "spots": Demo(make_spots, ("train-metadata.csv", "test-metadata.csv", "sample_submission.csv"), ("images",)),
    "digits": Demo(make_digits, ("train.csv", "sample_submission.csv"), ("train_images", "test_images")),
}


def get_demo(kind: str) -> Demo:
    if kind not in DEMOS:
        raise ValueError(f"data.demo.kind: unknown demo {kind!r}; known: {', '.join(DEMOS)}")
    return DEMOS[kind]
