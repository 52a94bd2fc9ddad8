"""Real images that ship inside an installed package: scikit-learn's bundled handwritten digits (1,797
scans of 8x8 pixels in 16 grey levels, not made by this project), written in the layouts of three kinds
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

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

TAGS = {"round": {0, 6, 8, 9}, "straight": {1, 4, 7}, "odd": {1, 3, 5, 7, 9}, "large": {5, 6, 7, 8, 9}}
MEASURES = ("value", "ink", "top")


def _finish(tmp: Path, out_dir: Path, names: list[str]) -> None:
    """Move the finished pieces into place, tables last: a table only exists once its images do."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in sorted(names, key=lambda n: n.endswith(".csv")):
        dst = out_dir / name
        if dst.is_dir():
            shutil.rmtree(dst)
        (tmp / name).replace(dst)


def scans(n_train: int, n_test: int, seed: int) -> tuple[object, dict[str, np.ndarray]]:
    """scikit-learn's digits and the seeded rows of each split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.target))
    return digits, {"test": order[:n_test], "train": order[n_test : n_test + n_train]}


def pixels(digits, i: int) -> np.ndarray:
    return (digits.images[i] * (255 / 16)).astype(np.uint8)


def make_digits(out_dir: str | Path, n_train: int, n_test: int, seed: int, n_duplicates: int = 0) -> None:
    """scikit-learn's bundled handwritten digits (real scans, 8x8, 16 grey levels) in the `shapes` layout:
    `n_test` of them (seeded) become the test set, up to `n_train` of the rest the training set."""
    digits, picks = scans(n_train, n_test, seed)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.build-", dir=out_dir.parent) as build:
        tmp, rows = Path(build), {}
        for split, picked in picks.items():
            (tmp / f"{split}_images").mkdir()
            rows[split] = []
            for i in picked:
                image_id = f"digit{i:04d}"
                Image.fromarray(pixels(digits, i), mode="L").save(tmp / f"{split}_images" / f"{image_id}.png")
                rows[split].append({"image_name": image_id, "category": int(digits.target[i])})
        pd.DataFrame(rows["train"]).to_csv(tmp / "train.csv", index=False)
        sample = pd.DataFrame({"image_name": [r["image_name"] for r in rows["test"]]})
        for label in range(10):
            sample[str(label)] = 0.1
        sample.to_csv(tmp / "sample_submission.csv", index=False)
        _finish(tmp, out_dir, ["train_images", "test_images", "train.csv", "sample_submission.csv"])


def make_digit_tags(out_dir: str | Path, n_train: int, n_test: int, seed: int, n_duplicates: int = 0) -> None:
    """The digits as a multi-label task in RANZCR CLiP's layout (see the module's docstring)."""
    digits, picks = scans(n_train, n_test, seed)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.build-", dir=out_dir.parent) as build:
        tmp, rows = Path(build), {}
        for split, picked in picks.items():
            (tmp / split).mkdir()
            rows[split] = []
            for i in picked:
                uid = f"1.2.826.0.1.3680043.8.498.{i:05d}"
                Image.fromarray(pixels(digits, i), mode="L").save(tmp / split / f"{uid}.png")
                rows[split].append(
                    {"StudyInstanceUID": uid, **{t: int(digits.target[i] in d) for t, d in TAGS.items()}}
                )
        pd.DataFrame(rows["train"]).to_csv(tmp / "train.csv", index=False)
        test = pd.DataFrame(rows["test"])
        test[["StudyInstanceUID"]].to_csv(tmp / "test.csv", index=False)
        test.to_csv(tmp / "solution.csv", index=False)
        test[["StudyInstanceUID"]].assign(**dict.fromkeys(TAGS, 0.5)).to_csv(tmp / "sample_submission.csv", index=False)
        _finish(tmp, out_dir, ["train", "test", "train.csv", "test.csv", "solution.csv", "sample_submission.csv"])


def measures(image: np.ndarray, digit: int) -> dict[str, float]:
    """What a scan shows: the digit's value, its ink (mean grey level, 0..16) and the share of its ink in
    the top half (0..1)."""
    return {"value": float(digit), "ink": float(image.mean()), "top": float(image[:4].sum() / image.sum())}


def make_digit_measures(out_dir: str | Path, n_train: int, n_test: int, seed: int, n_duplicates: int = 0) -> None:
    """The digits as a multi-target regression with an image path column (see the module's docstring)."""
    digits, picks = scans(n_train, n_test, seed)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.build-", dir=out_dir.parent) as build:
        tmp, rows = Path(build), {}
        (tmp / "scans").mkdir()
        for split, picked in picks.items():
            rows[split] = []
            for i in picked:
                sample_id = f"ID{i:04d}"
                Image.fromarray(pixels(digits, i), mode="L").save(tmp / "scans" / f"{sample_id}.png")
                rows[split].append({"sample_id": sample_id, "image_path": f"scans/{sample_id}.png",
                                    **measures(digits.images[i], int(digits.target[i]))})  # fmt: skip
        pd.DataFrame(rows["train"]).to_csv(tmp / "train.csv", index=False)
        test = pd.DataFrame(rows["test"])
        test[["sample_id", "image_path"]].to_csv(tmp / "test.csv", index=False)
        test[["sample_id", *MEASURES]].to_csv(tmp / "solution.csv", index=False)
        test[["sample_id"]].assign(**dict.fromkeys(MEASURES, 0.0)).to_csv(tmp / "sample_submission.csv", index=False)
        _finish(tmp, out_dir, ["scans", "train.csv", "test.csv", "solution.csv", "sample_submission.csv"])


def make_digit_grades(out_dir: str | Path, n_train: int, n_test: int, seed: int, n_duplicates: int = 0) -> None:
    """The digits as grades 0-4 (the digit halved) in APTOS 2019's layout (see the module's docstring)."""
    digits, picks = scans(n_train, n_test, seed)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.build-", dir=out_dir.parent) as build:
        tmp, rows = Path(build), {}
        for split, picked in picks.items():
            (tmp / f"{split}_images").mkdir()
            rows[split] = []
            for i in picked:
                code = f"{i * 7919 % 10**6:06x}{i:04d}"
                Image.fromarray(pixels(digits, i), mode="L").save(tmp / f"{split}_images" / f"{code}.png")
                rows[split].append({"id_code": code, "diagnosis": int(digits.target[i]) // 2})
        pd.DataFrame(rows["train"]).to_csv(tmp / "train.csv", index=False)
        test = pd.DataFrame(rows["test"])
        test[["id_code"]].to_csv(tmp / "test.csv", index=False)
        test.to_csv(tmp / "solution.csv", index=False)
        test[["id_code"]].assign(diagnosis=0).to_csv(tmp / "sample_submission.csv", index=False)
        _finish(tmp, out_dir, ["train_images", "test_images", "train.csv", "test.csv", "solution.csv",
                               "sample_submission.csv"])  # fmt: skip
