"""Seeded k-fold split, stratified on the class (classification) or on Sturges bins of the target
(regression); near-duplicate images kept in one fold."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from .task import Task


def sturges_bins(target: pd.Series) -> np.ndarray:
    """Bin the target into 1 + log2(n) equal-width bins (Sturges' rule)."""
    n_bins = int(np.floor(1 + np.log2(len(target))))
    return pd.cut(target, bins=n_bins, labels=False).to_numpy()


def strata(train: pd.DataFrame, task: Task) -> np.ndarray:
    """What the folds are stratified on: the class, or Sturges bins of a regression's target."""
    return task.encode(train[task.target]) if task.classification else sturges_bins(train[task.target])


def make_folds(
    train: pd.DataFrame, n_splits: int, seed: int, groups: np.ndarray | None = None, task: Task | None = None
) -> pd.DataFrame:
    """Return Id, target, group and fold (0..n_splits-1) for every training row, in the table's order.

    With `groups` (e.g. near-duplicate groups), rows of one group always share a fold. Without a task,
    the target is Pawpularity's column, a regression (the tests' shorthand).
    """
    target = task.target if task else "Pawpularity"
    if not 2 <= n_splits <= len(train):
        raise ValueError(f"folds.n_splits={n_splits} needs 2 <= n_splits <= {len(train)} (the training rows)")
    bins = strata(train, task) if task else sturges_bins(train[target])
    fold = np.full(len(train), -1, dtype=int)
    groups = np.arange(len(train)) if groups is None else np.asarray(groups)
    if len(np.unique(groups)) == len(train):
        splits = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(fold, bins)
    else:
        splits = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(fold, bins, groups)
    with warnings.catch_warnings():  # small data: some bins hold fewer rows than folds; that is fine
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for k, (_, val_idx) in enumerate(splits):
            fold[val_idx] = k
    return pd.DataFrame({"Id": train["Id"].to_numpy(), target: train[target].to_numpy(), "group": groups, "fold": fold})


@dataclass(frozen=True)
class FoldsJob:
    """The folds rule's inputs (the data, the resolved task, the image cache where near-duplicates are
    grouped) and outputs."""

    data_dir: str
    task: str  # task.json
    out_folds: str
    out_duplicates: str
    cache_npy: str | None = None
    cache_index: str | None = None


def folds_stage(job: FoldsJob, n_splits: int, seed: int, threshold: int) -> pd.DataFrame:
    """The folds rule: optional near-duplicate grouping from the image cache (each image's whole cached
    frame), then the split."""
    from .cache import open_cache
    from .data import load_tables
    from .dedup import describe_groups, duplicate_groups, hashes
    from .io import write_csv
    from .logs import log

    task = Task.load(job.task)
    train, _ = load_tables(job.data_dir, task, check_images=False)
    groups, dups = None, pd.DataFrame(columns=["group", "Id", task.target, "max_distance"])
    if job.cache_npy:
        images = open_cache(job.cache_npy, job.cache_index)
        codes = hashes(images.whole(i) for i in range(len(images)))
        groups = duplicate_groups(codes, threshold)
        dups = describe_groups(train["Id"].tolist(), train[task.target], groups, codes)
        log.info(
            "near-duplicates (pHash distance <= %d): %d groups, %d images; kept in one fold each",
            threshold,
            dups["group"].nunique(),
            len(dups),
        )
    folds = make_folds(train, n_splits, seed, groups, task)
    write_csv(dups, job.out_duplicates)
    write_csv(folds, job.out_folds)
    log.info("folds: %s rows per fold", folds["fold"].value_counts().sort_index().tolist())
    return folds
