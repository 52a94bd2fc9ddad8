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

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter

from .demo import make_demo
from .digits import make_digit_grades, make_digit_measures, make_digit_tags, make_digits
from .io import built_folder

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


def make_shapes(out_dir: str | Path, n_train: int, n_test: int, seed: int, n_duplicates: int = 0) -> None:
    """A multiclass demo: which shape an image shows, in Dog Breed Identification's layout."""
    rng = np.random.default_rng(seed)
    with built_folder(out_dir) as tmp:
        rows = {"train": [], "test": []}
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
    rng = np.random.default_rng(seed)
    with built_folder(out_dir) as tmp:
        rows, serial = {"train": [], "test": []}, 0
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


LABELS = ("circle", "square", "star", "triangle")  # the labels of the `labels` demo: which shapes an image shows


def make_labels(out_dir: str | Path, n_train: int, n_test: int, seed: int, n_duplicates: int = 0) -> None:
    """A multi-label demo in Plant Pathology 2021's layout: train.csv holds image,labels (the shapes an
    image shows, space-separated), the images are JPEGs named by a pattern, there is no test.csv and the
    submission is one column of space-separated labels."""
    rng = np.random.default_rng(seed)
    with built_folder(out_dir) as tmp:
        rows = {"train": [], "test": []}
        for split, n in (("train", n_train), ("test", n_test)):
            (tmp / f"{split}_images").mkdir()
            for _ in range(n):
                image_id = rng.bytes(6).hex()
                shown = [label for label in LABELS if rng.random() < 0.4] or [LABELS[int(rng.integers(len(LABELS)))]]
                draw_labels(rng, shown).save(tmp / f"{split}_images" / f"{image_id}.jpg", quality=92)
                rows[split].append({"image": f"{image_id}.jpg", "labels": " ".join(shown)})
        pd.DataFrame(rows["train"]).to_csv(tmp / "train.csv", index=False)
        pd.DataFrame(rows["test"]).to_csv(tmp / "solution.csv", index=False)  # the hidden labels, as Kaggle keeps them
        pd.DataFrame({"image": [r["image"] for r in rows["test"]], "labels": "circle"}).to_csv(
            tmp / "sample_submission.csv", index=False
        )


def draw_labels(rng: np.random.Generator, shown: list[str]) -> Image.Image:
    """An image with each shape of `shown` drawn once, in its own quarter, among clutter."""
    w, h = int(rng.integers(96, 144)), int(rng.integers(96, 144))
    img = _background(rng, w, h)
    draw = ImageDraw.Draw(img)
    quarters = rng.permutation(4)
    for shape, q in zip(shown, quarters, strict=False):
        r = rng.uniform(0.12, 0.2) * min(w, h)
        cx = (q % 2 + rng.uniform(0.3, 0.7)) * w / 2
        cy = (q // 2 + rng.uniform(0.3, 0.7)) * h / 2
        colour, turn = tuple(int(v) for v in rng.integers(140, 256, size=3)), rng.uniform(0, 2 * np.pi)
        if shape == "circle":
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        else:
            n, inner = {"square": (4, None), "triangle": (3, None), "star": (5, 0.45)}[shape]
            draw.polygon(_polygon(cx, cy, r, n, turn, inner), fill=colour)
    return img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.0)))


MIXTURE_CLASSES = ("red_vote", "green_vote", "blue_vote")  # the `mixtures` demo's classes


def make_mixtures(out_dir: str | Path, n_train: int, n_test: int, seed: int, n_duplicates: int = 0) -> None:
    """A soft-label demo in HMS 2024's layout: each image is a field of coloured patches whose shares of
    red, green and blue are a hidden mixture; a few simulated experts each name the colour of a random
    patch, and the row's target is their vote shares (train.csv: an id, a patient column, one share per
    class); the submission is a probability per class, scored by KL divergence."""
    rng = np.random.default_rng(seed)
    with built_folder(out_dir) as tmp:
        rows = {"train": [], "test": []}
        (tmp / "spectrograms").mkdir()
        for split, n in (("train", n_train), ("test", n_test)):
            for _ in range(n):
                sample_id = str(int(rng.integers(10**8, 10**9)))
                mixture = rng.dirichlet([0.6, 0.6, 0.6])
                img, patches = draw_mixture(rng, mixture)
                img.save(tmp / "spectrograms" / f"{sample_id}.png")
                votes = np.bincount(rng.choice(patches, size=int(rng.integers(3, 12))), minlength=3)
                shares = votes / votes.sum()
                rows[split].append({"spectrogram_id": sample_id, "patient_id": int(rng.integers(1000, 1060)),
                                    **dict(zip(MIXTURE_CLASSES, np.round(shares, 6), strict=True))})  # fmt: skip
        train = pd.DataFrame(rows["train"])
        train[list(MIXTURE_CLASSES)] = train[list(MIXTURE_CLASSES)].div(
            train[list(MIXTURE_CLASSES)].sum(axis=1), axis=0
        )
        train.to_csv(tmp / "train.csv", index=False)
        test = pd.DataFrame(rows["test"])
        test[["spectrogram_id", "patient_id"]].to_csv(tmp / "test.csv", index=False)
        test[["spectrogram_id", *MIXTURE_CLASSES]].to_csv(tmp / "solution.csv", index=False)
        test[["spectrogram_id"]].assign(**{c: 1 / 3 for c in MIXTURE_CLASSES}).to_csv(
            tmp / "sample_submission.csv", index=False
        )


def draw_mixture(rng: np.random.Generator, mixture: np.ndarray) -> tuple[Image.Image, np.ndarray]:
    """An 8 x 8 field of noisy patches, each red, green or blue with the mixture's probabilities; the
    image and each patch's colour."""
    patches = rng.choice(3, size=64, p=mixture)
    grid = np.zeros((8, 8, 3))
    grid[np.arange(64) // 8, np.arange(64) % 8, patches] = 1
    pixels = np.kron(grid, np.ones((8, 8, 1))) * rng.uniform(140, 230) + rng.normal(30, 20, (64, 64, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), patches


DEMOS = {
    "pawpularity": Demo(make_demo, ("train.csv", "test.csv", "sample_submission.csv"), ("train", "test")),
    "shapes": Demo(make_shapes, ("train.csv", "sample_submission.csv"), ("train_images", "test_images")),
    "spots": Demo(make_spots, ("train-metadata.csv", "test-metadata.csv", "sample_submission.csv"), ("images",)),
    "digits": Demo(make_digits, ("train.csv", "sample_submission.csv"), ("train_images", "test_images")),
    "labels": Demo(
        make_labels, ("train.csv", "solution.csv", "sample_submission.csv"), ("train_images", "test_images")
    ),
    "mixtures": Demo(
        make_mixtures, ("train.csv", "test.csv", "solution.csv", "sample_submission.csv"), ("spectrograms",)
    ),  # fmt: skip
    "digit_tags": Demo(
        make_digit_tags, ("train.csv", "test.csv", "solution.csv", "sample_submission.csv"), ("train", "test")
    ),  # fmt: skip
    "digit_grades": Demo(
        make_digit_grades,
        ("train.csv", "test.csv", "solution.csv", "sample_submission.csv"),
        ("train_images", "test_images"),
    ),  # fmt: skip
    "digit_measures": Demo(
        make_digit_measures, ("train.csv", "test.csv", "solution.csv", "sample_submission.csv"), ("scans",)
    ),  # fmt: skip
}


def get_demo(kind: str) -> Demo:
    if kind not in DEMOS:
        raise ValueError(f"data.demo.kind: unknown demo {kind!r}; known: {', '.join(DEMOS)}")
    return DEMOS[kind]
