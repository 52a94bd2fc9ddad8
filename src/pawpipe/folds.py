"""Seeded k-fold split, stratified as the task type says (the class; Sturges bins of a regression's
target; the labels, iteratively), near-duplicate images kept in one fold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .task import Task


def make_folds(
    train: pd.DataFrame, n_splits: int, seed: int, task: Task, groups: np.ndarray | None = None
) -> pd.DataFrame:
    """Return Id, the target columns, group and fold (0..n_splits-1) for every training row, in the table's
    order. The task type stratifies (Task.split); rows of one group (near-duplicates) share a fold."""
    if not 2 <= n_splits <= len(train):
        raise ValueError(f"folds.n_splits={n_splits} needs 2 <= n_splits <= {len(train)} (the training rows)")
    groups = np.arange(len(train)) if groups is None else np.asarray(groups)
    fold = task.split(train, n_splits, seed, groups)
    out = pd.DataFrame({"Id": train["Id"].to_numpy()})
    for col in task.target_columns:
        out[col] = train[col].to_numpy()
    return out.assign(group=groups, fold=fold)


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
    groups, dups = None, pd.DataFrame(columns=["group", "Id", *task.target_columns, "max_distance"])
    if job.cache_npy:
        images = open_cache(job.cache_npy, job.cache_index)
        codes = hashes(images.whole(i) for i in range(len(images)))
        groups = duplicate_groups(codes, threshold)
        dups = describe_groups(train["Id"].tolist(), train[task.target_columns], groups, codes)
        log.info(
            "near-duplicates (pHash distance <= %d): %d groups, %d images; kept in one fold each",
            threshold,
            dups["group"].nunique(),
            len(dups),
        )
    folds = make_folds(train, n_splits, seed, task, groups)
    write_csv(dups, job.out_duplicates)
    write_csv(folds, job.out_folds)
    log.info("folds: %s rows per fold", folds["fold"].value_counts().sort_index().tolist())
    return folds
