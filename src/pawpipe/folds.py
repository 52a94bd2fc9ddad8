"""Seeded k-fold split, stratified as the task type says (the class; Sturges bins of a regression's
target; the labels, iteratively) or on a column of choice, with near-duplicate images and the rows of a
group column (a patient) kept in one fold; or the competitor's own fold file, checked and used as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data import ID, DataError, read_table, shown
from .task import Task, sturges_bins


def make_folds(
    train: pd.DataFrame, n_splits: int, seed: int, task: Task, groups: np.ndarray | None = None, strata=None
) -> pd.DataFrame:
    """Return Id, the target columns, group and fold (0..n_splits-1) for every training row, in the table's
    order. The task type stratifies (Task.split), on `strata` where given; rows of one group share a fold."""
    if not 2 <= n_splits <= len(train):
        raise ValueError(f"folds.n_splits={n_splits} needs 2 <= n_splits <= {len(train)} (the training rows)")
    groups = np.arange(len(train)) if groups is None else np.asarray(groups)
    fold = task.split(train, n_splits, seed, groups, strata)
    return fold_table(train, task, groups, fold)


def fold_table(train: pd.DataFrame, task: Task, groups: np.ndarray, fold: np.ndarray) -> pd.DataFrame:
    """folds.csv: Id, the target columns, group and fold, in the training table's order."""
    out = pd.DataFrame({"Id": train["Id"].to_numpy()})
    for col in task.target_columns:
        out[col] = train[col].to_numpy()
    return out.assign(group=groups, fold=fold)


def joined_groups(*labelings: np.ndarray | None) -> np.ndarray:
    """One group per set of rows linked by any labeling (rows equal in one labeling are linked): the
    connected components, numbered by their first row."""
    labelings = [np.asarray(g) for g in labelings if g is not None]
    n = len(labelings[0]) if labelings else 0
    parent = np.arange(n)

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for labels in labelings:
        first: dict = {}
        for i, g in enumerate(labels):
            j = first.setdefault(g, i)
            ri, rj = find(i), find(j)
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
    return np.array([find(i) for i in range(n)])


def stratify_on(train: pd.DataFrame, column: str, where: str) -> np.ndarray:
    """A column of choice as strata: Sturges bins where it holds numbers, its values as they are otherwise."""
    if column not in train.columns:
        raise DataError(
            [f"folds.stratify: {where} has no column {column!r}; its columns are {list(train.columns)[:20]}"]
        )
    values = pd.to_numeric(train[column], errors="coerce")
    if values.notna().all() and values.nunique() > 10:
        return sturges_bins(values)
    return pd.factorize(train[column].astype(str))[0]


def group_column(train: pd.DataFrame, column: str, where: str) -> np.ndarray:
    if column not in train.columns:
        raise DataError([f"folds.group: {where} has no column {column!r}; its columns are {list(train.columns)[:20]}"])
    missing = np.flatnonzero(train[column].isna().to_numpy())
    if len(missing):
        i = missing[0]
        raise DataError([f"{where} line {i + 2}: folds.group column {column!r} is empty ({len(missing)} rows); every "
                         f"row needs its group"])  # fmt: skip
    return pd.factorize(train[column].astype(str))[0]


def imported_folds(path: str, train: pd.DataFrame, task: Task, n_splits: int, groups: np.ndarray) -> np.ndarray:
    """The folds of a fold file of the competitor's own, for the training table's rows: refused unless every
    row is in exactly one fold of 0 .. n_splits - 1 and no group is split."""
    table = read_table(path, task.id)
    problems = []
    if ID not in table.columns or "fold" not in table.columns:
        raise DataError(
            [f"{path}: a fold file holds the id column {task.id!r} and 'fold'; it has {list(table.columns)}"]
        )
    dup = table.loc[table[ID].duplicated(), ID].tolist()
    if dup:
        problems.append(f"{path}: ids in more than one row, e.g. {dup[:3]}; each row is in one fold")
    folds = table.drop_duplicates(ID).set_index(ID)["fold"]
    absent = [i for i in train[ID] if i not in folds.index]
    if absent:
        problems.append(f"{path}: {len(absent)} training rows have no fold, e.g. {absent[:3]}")
    extra = sorted(set(folds.index) - set(train[ID]))
    if extra:
        problems.append(f"{path}: {len(extra)} ids are not training rows, e.g. {extra[:3]}")
    values = pd.to_numeric(folds, errors="coerce")
    bad = values.isna() | ~values.isin(range(n_splits))
    if bad.any():
        problems.append(f"{path}: fold {shown(folds[bad].iloc[0])} of id {folds.index[bad][0]!r} is not one of 0 .. "
                        f"{n_splits - 1} (folds.n_splits={n_splits})")  # fmt: skip
    if problems:
        raise DataError(problems)
    fold = values.loc[train[ID]].to_numpy(int)
    if sorted(np.unique(fold)) != list(range(n_splits)):
        raise DataError([f"{path}: folds {sorted(np.unique(fold).tolist())}, but folds.n_splits is {n_splits}; set it "
                         f"to the file's number of folds"])  # fmt: skip
    split = [g for g in np.unique(groups) if len(np.unique(fold[groups == g])) > 1]
    if split:
        rows = np.flatnonzero(groups == split[0])
        example, spans = train[ID].iloc[rows[:4]].tolist(), sorted(set(fold[rows].tolist()))
        raise DataError([f"{path}: {len(split)} groups span several folds, e.g. rows {example} (folds.group or "
                         f"near-duplicates) in folds {spans}; one group, one fold"])  # fmt: skip
    return fold


@dataclass(frozen=True)
class FoldsJob:
    """The folds rule's inputs (the data, the resolved task, the image cache where near-duplicates are
    grouped, a fold file of one's own) and outputs."""

    data_dir: str
    task: str  # task.json
    out_folds: str
    out_duplicates: str
    cache_npy: str | None = None
    cache_index: str | None = None
    fold_file: str | None = None  # folds.file


@dataclass(frozen=True)
class FoldSettings:
    """The `folds` block (and the seed) as the folds rule reads it."""

    n_splits: int
    seed: int
    duplicate_threshold: int
    group: str | None = None
    stratify: str | None = None


def folds_stage(job: FoldsJob, s: FoldSettings) -> pd.DataFrame:
    """The folds rule: groups (near-duplicates from the image cache, each image's whole cached frame; a
    group column), then the split, or the fold file checked against them."""
    from .cache import open_cache
    from .data import load_tables
    from .dedup import describe_groups, duplicate_groups, hashes
    from .io import write_csv
    from .logs import log

    task = Task.load(job.task)
    train, _ = load_tables(job.data_dir, task, check_images=False)
    where = task.tables["train"]
    near, dups = None, pd.DataFrame(columns=["group", "Id", *task.target_columns, "max_distance"])
    if job.cache_npy:
        images = open_cache(job.cache_npy, job.cache_index)
        codes = hashes(images.whole(i) for i in range(len(images)))
        near = duplicate_groups(codes, s.duplicate_threshold)
        dups = describe_groups(train["Id"].tolist(), train[task.target_columns], near, codes)
        log.info("near-duplicates (pHash distance <= %d): %d groups, %d images; kept in one fold each",
                 s.duplicate_threshold, dups["group"].nunique(), len(dups))  # fmt: skip
    column = group_column(train, s.group, where) if s.group else None
    groups = joined_groups(near, column) if (near is not None or column is not None) else np.arange(len(train))
    if job.fold_file:
        folds = fold_table(train, task, groups, imported_folds(job.fold_file, train, task, s.n_splits, groups))
        log.info("folds: imported from %s and checked", job.fold_file)
    else:
        strata = stratify_on(train, s.stratify, where) if s.stratify else None
        folds = make_folds(train, s.n_splits, s.seed, task, groups, strata)
    write_csv(dups, job.out_duplicates)
    write_csv(folds, job.out_folds)
    log.info("folds: %s rows per fold", folds["fold"].value_counts().sort_index().tolist())
    return folds
