"""Real images that ship inside an installed package: scikit-learn's bundled handwritten digits (1,797
scans of 8x8 pixels in 16 grey levels, not made by this project), written in the layouts of four kinds
of competition, each with its own targets read off the scans:

- `digits` (multiclass): the digit, in the `shapes` layout (Dog Breed Identification's);
- `digit_tags` (multi-label): four tags of the digit (round, straight, odd, large) as 0/1 columns, in
  RANZCR CLiP's layout (an id column, a column per label, train/ and test/ folders, a probability per
  label in the submission, mean column-wise ROC AUC);
- `digit_grades` (ordinal): the digit halved into a grade 0-4, in APTOS 2019's layout (id_code,diagnosis,
  train_images/<id_code>.png, a test.csv, one grade per image in the submission), for quadratic kappa;
- `digit_measures` (multi-target): three measures of a scan (the digit's value, its ink, the share of its
  ink in the top half) as value columns, with each row's image path in a column (CSIRO Image2Biomass' kind of
  layout), a column per target in the submission, weighted R².

Every writer is seeded: the same arguments write the same files; `n_test` scans (seeded) are the test set,
up to `n_train` of the rest the training set, and the test set's targets go to solution.csv (what
Kaggle keeps hidden, for the rehearsal to score against).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .io import built_folder

TAGS = {"round": {0, 6, 8, 9}, "straight": {1, 4, 7}, "odd": {1, 3, 5, 7, 9}, "large": {5, 6, 7, 8, 9}}
MEASURES = ("value", "ink", "top")


def scans(n_train: int, n_test: int, seed: int) -> tuple[object, dict[str, np.ndarray]]:
    """scikit-learn's digits and the seeded rows of each split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.target))
    return digits, {"test": order[:n_test], "train": order[n_test : n_test + n_train]}


def pixels(digits, i: int) -> np.ndarray:
    return (digits.images[i] * (255 / 16)).astype(np.uint8)


def save_scans(digits, picks: dict[str, np.ndarray], tmp: Path, path: Callable[[str, int], str],
               row: Callable[[int], dict]) -> dict[str, pd.DataFrame]:  # fmt: skip
    """Write each picked scan as a PNG at `path(split, i)` under `tmp`; each split's table of `row(i)`."""
    tables = {}
    for split, picked in picks.items():
        for i in picked:
            (tmp / path(split, i)).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels(digits, i), mode="L").save(tmp / path(split, i))
        tables[split] = pd.DataFrame([row(i) for i in picked])
    return tables


def make_digits(out_dir: str | Path, n_train: int, n_test: int, seed: int, n_duplicates: int = 0) -> None:
    """scikit-learn's bundled handwritten digits (real scans, 8x8, 16 grey levels) in the `shapes` layout:
    `n_test` of them (seeded) become the test set, up to `n_train` of the rest the training set."""
    digits, picks = scans(n_train, n_test, seed)
    with built_folder(out_dir) as tmp:
        tables = save_scans(digits, picks, tmp, lambda split, i: f"{split}_images/digit{i:04d}.png",
                            lambda i: {"image_name": f"digit{i:04d}", "category": int(digits.target[i])})  # fmt: skip
        tables["train"].to_csv(tmp / "train.csv", index=False)
        sample = tables["test"][["image_name"]].copy()
        for label in range(10):
            sample[str(label)] = 0.1
        sample.to_csv(tmp / "sample_submission.csv", index=False)


def make_digit_tags(out_dir: str | Path, n_train: int, n_test: int, seed: int, n_duplicates: int = 0) -> None:
    """The digits as a multi-label task in RANZCR CLiP's layout (see the module's docstring)."""
    digits, picks = scans(n_train, n_test, seed)
    with built_folder(out_dir) as tmp:
        uid = "1.2.826.0.1.3680043.8.498.{:05d}".format
        tables = save_scans(digits, picks, tmp, lambda split, i: f"{split}/{uid(i)}.png",
                            lambda i: {"StudyInstanceUID": uid(i),
                                       **{t: int(digits.target[i] in d) for t, d in TAGS.items()}})  # fmt: skip
        tables["train"].to_csv(tmp / "train.csv", index=False)
        test = tables["test"]
        test[["StudyInstanceUID"]].to_csv(tmp / "test.csv", index=False)
        test.to_csv(tmp / "solution.csv", index=False)
        test[["StudyInstanceUID"]].assign(**dict.fromkeys(TAGS, 0.5)).to_csv(tmp / "sample_submission.csv", index=False)


def measures(image: np.ndarray, digit: int) -> dict[str, float]:
    """What a scan shows: the digit's value, its ink (mean grey level, 0..16) and the share of its ink in
    the top half (0..1)."""
    return {"value": float(digit), "ink": float(image.mean()), "top": float(image[:4].sum() / image.sum())}


def make_digit_measures(out_dir: str | Path, n_train: int, n_test: int, seed: int, n_duplicates: int = 0) -> None:
    """The digits as a multi-target regression with an image path column (see the module's docstring)."""
    digits, picks = scans(n_train, n_test, seed)
    with built_folder(out_dir) as tmp:
        tables = save_scans(digits, picks, tmp, lambda split, i: f"scans/ID{i:04d}.png",
                            lambda i: {"sample_id": f"ID{i:04d}", "image_path": f"scans/ID{i:04d}.png",
                                       **measures(digits.images[i], int(digits.target[i]))})  # fmt: skip
        tables["train"].to_csv(tmp / "train.csv", index=False)
        test = tables["test"]
        test[["sample_id", "image_path"]].to_csv(tmp / "test.csv", index=False)
        test[["sample_id", *MEASURES]].to_csv(tmp / "solution.csv", index=False)
        test[["sample_id"]].assign(**dict.fromkeys(MEASURES, 0.0)).to_csv(tmp / "sample_submission.csv", index=False)


def make_digit_grades(out_dir: str | Path, n_train: int, n_test: int, seed: int, n_duplicates: int = 0) -> None:
    """The digits as grades 0-4 (the digit halved) in APTOS 2019's layout (see the module's docstring)."""
    digits, picks = scans(n_train, n_test, seed)
    with built_folder(out_dir) as tmp:
        code = lambda i: f"{i * 7919 % 10**6:06x}{i:04d}"  # noqa: E731
        tables = save_scans(digits, picks, tmp, lambda split, i: f"{split}_images/{code(i)}.png",
                            lambda i: {"id_code": code(i), "diagnosis": int(digits.target[i]) // 2})  # fmt: skip
        tables["train"].to_csv(tmp / "train.csv", index=False)
        test = tables["test"]
        test[["id_code"]].to_csv(tmp / "test.csv", index=False)
        test.to_csv(tmp / "solution.csv", index=False)
        test[["id_code"]].assign(diagnosis=0).to_csv(tmp / "sample_submission.csv", index=False)
