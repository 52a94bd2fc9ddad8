"""Seeded k-fold split, stratified on Sturges bins of the target."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from .data import TARGET


def sturges_bins(target: pd.Series) -> np.ndarray:
    """Bin the target into 1 + log2(n) equal-width bins (Sturges' rule)."""
    n_bins = int(np.floor(1 + np.log2(len(target))))
    return pd.cut(target, bins=n_bins, labels=False).to_numpy()


def make_folds(train: pd.DataFrame, n_splits: int, seed: int) -> pd.DataFrame:
    """Return Id, target and fold (0..n_splits-1) for every training row, in train.csv order."""
    if not 2 <= n_splits <= len(train):
        raise ValueError(f"folds.n_splits={n_splits} needs 2 <= n_splits <= {len(train)} (the training rows)")
    bins = sturges_bins(train[TARGET])
    # Bins rarer than n_splits cannot be spread over every fold; fold them into their neighbour.
    counts = np.bincount(bins)
    while (counts[counts > 0] < n_splits).any() and (counts > 0).sum() > 1:
        rare = np.flatnonzero((counts > 0) & (counts < n_splits))[0]
        nonempty = np.flatnonzero(counts > 0)
        target_bin = nonempty[nonempty != rare][np.argmin(np.abs(nonempty[nonempty != rare] - rare))]
        bins[bins == rare] = target_bin
        counts = np.bincount(bins, minlength=len(counts))
    fold = np.full(len(train), -1, dtype=int)
    skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for k, (_, val_idx) in enumerate(skf.split(np.zeros(len(train)), bins)):
        fold[val_idx] = k
    return pd.DataFrame({"Id": train["Id"].to_numpy(), TARGET: train[TARGET].to_numpy(), "fold": fold})
