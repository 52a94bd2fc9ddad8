"""Feature sets for the SVR: the fold's embeddings, the 12 metadata columns, the ImageNet logits and
other experiments' embeddings.

Each set is a (train rows, test rows) pair of float32 matrices, in folds.csv order and test.csv order.
The SVR fits on their concatenation and, for the CV report, on each set alone. The files come from
the rules (FeatureInputs holds the paths they declare); nothing here builds a path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .data import metadata_matrix
from .io import read_csv

FeatureSets = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class FeatureInputs:
    """One fold's feature files: its embeddings, the tables (metadata), the logits, and for each
    other experiment (its embeddings.npz for the same fold, its folds.csv)."""

    embeddings: str
    train_table: str | None = None
    test_table: str | None = None
    logits: str | None = None
    others: dict[str, tuple[str, str]] = field(default_factory=dict)


def _rows_match(path: str, ids: np.ndarray, folds: pd.DataFrame, rule: str) -> None:
    if not np.array_equal(ids, folds["Id"].to_numpy(str)):
        raise ValueError(f"{path} rows do not match the folds file; rerun the {rule} rule")


def other_experiment(name: str, embeddings: str, folds_csv: str, folds: pd.DataFrame) -> tuple:
    other = read_csv(folds_csv)
    if not (other["Id"].equals(folds["Id"]) and other["fold"].equals(folds["fold"])):
        raise ValueError(
            f"experiment {name!r} was trained on other folds ({folds_csv}); features from "
            f"several experiments need the same folds (same data, folds and seed settings)"
        )
    e = np.load(embeddings)
    return e["train"], e["test"]


def load_feature_sets(inputs: FeatureInputs, folds: pd.DataFrame, use: dict) -> FeatureSets:
    """The enabled feature sets (`use` is svr.features), in a fixed order."""
    emb = np.load(inputs.embeddings)
    _rows_match(inputs.embeddings, emb["train_ids"], folds, "fold's embed")
    test_ids = emb["test_ids"].astype(str).tolist()
    sets: FeatureSets = {}
    if use["embedding"]:
        sets["embedding"] = (emb["train"], emb["test"])
    if use["metadata"]:
        train = metadata_matrix(inputs.train_table, folds["Id"].tolist())
        sets["metadata"] = (train, metadata_matrix(inputs.test_table, test_ids))
    if use["logits"]:
        if inputs.logits is None:
            raise ValueError("svr.features.logits is on but no imagenet_logits.npz was given")
        lg = np.load(inputs.logits)
        _rows_match(inputs.logits, lg["train_ids"], folds, "imagenet_logits")
        sets["logits"] = (lg["train"], lg["test"])
    for name in use["experiments"]:
        sets[f"exp:{name}"] = other_experiment(name, *inputs.others[name], folds)
    if not sets:
        raise ValueError("svr.features enables no feature set; turn on at least embedding or metadata")
    return sets


def combine(sets: FeatureSets) -> tuple[np.ndarray, np.ndarray]:
    train = np.concatenate([s[0] for s in sets.values()], axis=1).astype(np.float32)
    test = np.concatenate([s[1] for s in sets.values()], axis=1).astype(np.float32)
    return train, test
