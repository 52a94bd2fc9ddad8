"""A deterministic demo dataset in the Pawpularity competition's exact layout (the other demos:
pawpipe.demos).

Each image shows a smooth background and an elliptical "pet". The score rises with the pet's size
and brightness (visible content) plus Gaussian noise, so a model can learn part of it but not all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter

from .io import built_folder

METADATA = [
    "Subject Focus", "Eyes", "Face", "Near", "Action", "Accessory",
    "Group", "Collage", "Human", "Occlusion", "Info", "Blur",
]  # fmt: skip
TARGET = "Pawpularity"


def _draw(rng: np.random.Generator) -> tuple[Image.Image, float, dict[str, int]]:
    w, h = int(rng.integers(96, 192)), int(rng.integers(96, 192))
    top, bottom = rng.integers(0, 140, size=3), rng.integers(0, 140, size=3)
    ramp = np.linspace(0, 1, h)[:, None, None]
    bg = top * (1 - ramp) + bottom * ramp + rng.normal(0, 12, size=(h, w, 3))
    img = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 7))):  # background clutter: every scene looks different
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        x1, y1 = x0 + rng.uniform(10, w / 2), y0 + rng.uniform(10, h / 2)
        shade = tuple(int(v) for v in rng.integers(0, 150, size=3))
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)([x0, y0, x1, y1], fill=shade)

    size = rng.uniform(0.15, 0.9)  # pet's diameter as a share of the shorter side
    bright = rng.uniform(0.0, 1.0)
    colour = tuple(int(v) for v in 90 + 165 * bright * rng.uniform(0.8, 1.0, size=3))
    d = size * min(w, h)
    cx, cy = rng.uniform(d / 2, w - d / 2), rng.uniform(d / 2, h - d / 2)
    ImageDraw.Draw(img).ellipse([cx - d / 2, cy - d / 2, cx + d / 2, cy + d / 2], fill=colour)

    meta = {c: int(rng.random() < 0.3) for c in METADATA}
    meta["Near"] = int(size > 0.55)
    meta["Blur"] = int(rng.random() < 0.15)
    if meta["Blur"]:
        img = img.filter(ImageFilter.GaussianBlur(3))
    signal = 0.6 * (size - 0.15) / 0.75 + 0.4 * bright  # in [0, 1]
    return img, signal, meta


def make_demo(out_dir: str | Path, n_train: int, n_test: int, seed: int, n_duplicates: int = 0) -> None:
    """Write train.csv, test.csv, sample_submission.csv, train/*.jpg and test/*.jpg under out_dir.

    `n_duplicates` training images get a near-duplicate (resized, re-encoded, re-scored), as the
    competition's data has; they count towards n_train.
    """
    rng = np.random.default_rng(seed)
    with built_folder(out_dir) as tmp:
        rows = {"train": [], "test": []}
        for split, n in (("train", n_train - n_duplicates), ("test", n_test)):
            (tmp / split).mkdir(parents=True)
            for _ in range(n):
                image_id = rng.bytes(16).hex()  # 32 hex characters, like the competition's Ids
                img, signal, meta = _draw(rng)
                score = 10 + 70 * signal + rng.normal(0, 8) - 5 * meta["Blur"]
                img.save(tmp / split / f"{image_id}.jpg", quality=90)
                rows[split].append({"Id": image_id, **meta, TARGET: int(np.clip(round(score), 1, 100))})
        for src in rng.choice(len(rows["train"]), size=n_duplicates, replace=False):
            original = rows["train"][src]
            img = Image.open(tmp / "train" / f"{original['Id']}.jpg")
            w, h = img.size
            image_id = rng.bytes(16).hex()
            img.resize((int(w * 0.9), int(h * 0.9))).save(tmp / "train" / f"{image_id}.jpg", quality=70)
            score = int(np.clip(original[TARGET] + rng.normal(0, 8), 1, 100))
            rows["train"].append({**original, "Id": image_id, TARGET: score})
        train = pd.DataFrame(rows["train"])
        test = pd.DataFrame(rows["test"]).drop(columns=TARGET)
        train.to_csv(tmp / "train.csv", index=False)
        test.to_csv(tmp / "test.csv", index=False)
        pd.DataFrame({"Id": test["Id"], TARGET: 0.0}).to_csv(tmp / "sample_submission.csv", index=False)
