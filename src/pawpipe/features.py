"""Feature sets for the SVR: the fold's embeddings, the 12 metadata columns, other experiments' embeddings.

Each set is a (train rows, test rows) pair of float32 matrices, in folds.csv order and test.csv order.
The SVR fits on their concatenation and, for the CV report, on each set alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .data import METADATA, read_table

FeatureSets = dict[str, tuple[np.ndarray, np.ndarray]]


def load_feature_sets(
    *,
    embeddings: str,
    folds: pd.DataFrame,
    use: dict,
    train_table: str | None = None,
    test_table: str | None = None,
    other_embeddings: dict[str, str] | None = None,
    other_folds: dict[str, str] | None = None,
    logits: str | None = None,
) -> FeatureSets:
    emb = np.load(embeddings)
    if not np.array_equal(emb["train_ids"], folds["Id"].to_numpy(str)):
        raise ValueError(f"{embeddings} rows do not match the folds file; rerun that fold's embed rule")
    sets: FeatureSets = {}
    if use.get("embedding", True):
        sets["embedding"] = (emb["train"], emb["test"])
    if use.get("metadata", False):
        train = read_table(train_table).set_index("Id").loc[folds["Id"], METADATA]
        test = read_table(test_table).set_index("Id").loc[emb["test_ids"].astype(str), METADATA]
        sets["metadata"] = (train.to_numpy(np.float32), test.to_numpy(np.float32))
    if use.get("logits", False):
        if logits is None:
            raise ValueError("svr.features.logits is on but no imagenet_logits.npz was given")
        lg = np.load(logits)
        if not np.array_equal(lg["train_ids"], folds["Id"].to_numpy(str)):
            raise ValueError(f"{logits} rows do not match the folds file; rerun the imagenet_logits rule")
        sets["logits"] = (lg["train"], lg["test"])
    for name, path in (other_embeddings or {}).items():
        other = pd.read_csv(other_folds[name], dtype={"Id": str})
        if not (other["Id"].equals(folds["Id"]) and other["fold"].equals(folds["fold"])):
            raise ValueError(
                f"experiment {name!r} was trained on other folds ({other_folds[name]}); features from "
                f"several experiments need the same folds (same data, folds and seed settings)"
            )
        e = np.load(path)
        sets[f"exp:{name}"] = (e["train"], e["test"])
    if not sets:
        raise ValueError("svr.features enables no feature set; turn on at least embedding or metadata")
    return sets


def combine(sets: FeatureSets) -> tuple[np.ndarray, np.ndarray]:
    train = np.concatenate([s[0] for s in sets.values()], axis=1).astype(np.float32)
    test = np.concatenate([s[1] for s in sets.values()], axis=1).astype(np.float32)
    return train, test


def other_experiment_files(experiments: list[str], fold: int) -> tuple[dict[str, str], dict[str, str]]:
    emb = {e: f"models/{e}/fold{fold}/embeddings.npz" for e in experiments}
    folds = {e: f"models/{e}/folds.csv" for e in experiments}
    for e, p in emb.items():
        if not Path(p).exists():
            raise FileNotFoundError(
                f"svr.features.experiments lists {e!r} but {p} does not exist; run that "
                f"experiment first (snakemake --configfile <its config>)"
            )
    return emb, folds


def fold_feature_sets(
    *,
    embeddings: str,
    folds: pd.DataFrame,
    fold: int,
    use: dict,
    train_table: str | None,
    test_table: str | None,
    logits: str | None = None,
) -> FeatureSets:
    """The feature sets of one fold, with other experiments' embeddings for the same fold."""
    other_emb, other_folds = other_experiment_files(use.get("experiments") or [], fold)
    return load_feature_sets(
        embeddings=embeddings,
        folds=folds,
        use=use,
        train_table=train_table,
        test_table=test_table,
        other_embeddings=other_emb,
        other_folds=other_folds,
        logits=logits,
    )
