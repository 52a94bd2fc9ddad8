"""Seeded k-fold split, stratified on Sturges bins of the target."""

from __future__ import annotations

import warnings

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
    fold = np.full(len(train), -1, dtype=int)
    skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # small data: some bins hold fewer rows than folds; that is fine
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for k, (_, val_idx) in enumerate(skf.split(np.zeros(len(train)), bins)):
            fold[val_idx] = k
    return pd.DataFrame({"Id": train["Id"].to_numpy(), TARGET: train[TARGET].to_numpy(), "fold": fold})
