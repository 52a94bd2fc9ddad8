"""Feature sets for the kernel head: the fold's fine-tuned embeddings, the task's tabular columns (the
`metadata` set), each frozen extractor's outputs and other experiments' embeddings.

Each set is a (train rows, test rows) pair of float32 matrices, in folds.csv order and test.csv order,
held by an ArrayLib (pawpipe.frames): CuPy on the GPU where cuML fits, numpy otherwise. Extractor
tables are read and joined on Id by cuDF or pandas. Sets are named `embedding`, `metadata`,
`{extractor}.embedding`, `{extractor}.logits` and `exp:{experiment}`. The files come from the rules
(FeatureInputs holds the paths they declare); nothing here builds a path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .data import tabular_matrix
from .frames import ArrayLib, align, host_lib, read_table
from .io import read_csv

FeatureSets = dict[str, tuple[object, object]]


@dataclass(frozen=True)
class FeatureInputs:
    """One fold's feature files: its embeddings, the tables (metadata), each extractor's table (by
    extractor name, with the outputs it takes), and for each other experiment (its embeddings.npz for
    the same fold, its folds.csv)."""

    embeddings: str
    train_table: str | None = None
    test_table: str | None = None
    task: str | None = None  # task.json: which columns are tabular (the metadata set)
    extractors: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    others: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def from_rule(cls, inputs, extractors: list[dict], experiments: list[str], k: int = 0) -> FeatureInputs:
        """From a job's named inputs (rules/inputs/svr.smk: get_svr_input, one fold; get_svr_all_folds_input,
        every fold, of which the k-th)."""

        def pick(files):
            return files if isinstance(files, str) else files[k]

        return cls(
            embeddings=pick(inputs["embeddings"]),
            train_table=inputs.get("train_table"),
            test_table=inputs.get("test_table"),
            task=inputs.get("task"),
            extractors={e["name"]: (inputs[f"extract_{e['name']}"], list(e["take"])) for e in extractors},
            others={e: (pick(inputs[f"exp_{e}"]), inputs[f"exp_{e}_folds"]) for e in experiments},
        )


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


def take_columns(columns, take: str) -> list[str]:
    """The columns of one output (`take`: embedding or logits) of an extractor's table, in order."""
    return [c for c in columns if c.startswith(f"{take}_")]


def extractor_sets(lib: ArrayLib, name: str, path: str, takes: list[str], ids: dict[str, list[str]]) -> FeatureSets:
    """`{name}.{take}` for each output the extractor takes, its rows joined on Id to `ids` per split."""
    frame = read_table(lib, path)
    sets = {}
    for take in takes:
        cols = take_columns(frame.columns, take)
        if not cols:
            raise ValueError(f"{path}: no {take} columns; rerun the extract rule for {name!r}")
        pair = tuple(
            lib.matrix(align(lib, frame.loc[frame["split"] == s, ["Id", *cols]], ids[s], f"{path} ({s})"))
            for s in ("train", "test")
        )
        sets[f"{name}.{take}"] = pair
    return sets


def load_feature_sets(
    inputs: FeatureInputs, folds: pd.DataFrame, use: dict, lib: ArrayLib | None = None, read: FeatureSets | None = None
) -> FeatureSets:
    """The enabled feature sets (`use` is svr.features; every extractor's outputs), in a fixed order.
    Extractor sets already in `read` (another fold's: they do not depend on the fold) are not read again."""
    lib, read = lib or host_lib(), read or {}
    emb = np.load(inputs.embeddings)
    _rows_match(inputs.embeddings, emb["train_ids"], folds, "fold's embed")
    ids = {"train": folds["Id"].tolist(), "test": emb["test_ids"].astype(str).tolist()}
    sets: FeatureSets = {}
    if use["embedding"]:
        sets["embedding"] = (emb["train"], emb["test"])
    if use["metadata"]:
        from .task import Task

        task = Task.load(inputs.task)
        sets["metadata"] = (
            tabular_matrix(inputs.train_table, ids["train"], task),
            tabular_matrix(inputs.test_table, ids["test"], task),
        )
    for name in use["experiments"]:
        sets[f"exp:{name}"] = other_experiment(name, *inputs.others[name], folds)
    sets = {k: (lib.asarray(a, lib.xp.float32), lib.asarray(b, lib.xp.float32)) for k, (a, b) in sets.items()}
    for name, (path, takes) in inputs.extractors.items():
        wanted = [f"{name}.{t}" for t in takes]
        sets |= (
            {n: read[n] for n in wanted}
            if all(n in read for n in wanted)
            else extractor_sets(lib, name, path, takes, ids)
        )
    if not sets:
        raise ValueError("no SVR feature set: turn on svr.features.embedding or .metadata, or add an extractor")
    return sets


def assemble(sets: dict, names: list[str], xp=np):
    """The SVR's input: the named feature sets (matrices of the same rows) side by side in the order of
    `names`, float32. The order is the one the SVR was fitted with (recorded in svr.npz); the pipeline
    (svr, tuning, selection) and the Kaggle notebook all assemble features here."""
    return xp.concatenate([sets[n] for n in names], axis=1).astype(xp.float32, copy=False)


def combine(sets: FeatureSets, lib: ArrayLib | None = None) -> tuple[object, object]:
    """All sets side by side in their loading order, train and test (on the GPU with CuPy)."""
    xp, names = (lib or host_lib()).xp, list(sets)
    return tuple(assemble({n: pair[i] for n, pair in sets.items()}, names, xp) for i in (0, 1))
