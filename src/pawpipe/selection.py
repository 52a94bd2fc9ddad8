"""Forward selection of the kernel head's feature sets on the out-of-fold metric, with an honest CV.

Start from nothing; at each step add the set whose addition improves the OOF score most (the task's
metric, in its direction); stop when the best addition helps by no more than svr.select.min_gain (in
the metric's units) or nothing is left. That is how the
contest's winner chose among frozen features of many pretrained models.

A selection scored on the rows that made it flatters itself. So it runs once per fold k on the OOF
rows of the other folds only, and fold k's SVR then fits the combination chosen without its rows: its
OOF predictions, and so the CV report, are never scored on rows that chose them. This is nearly, not
strictly, nested: fold k's rows did train the other folds' SVRs (and backbones) whose OOF predictions
scored its choice; what they never do is score it. The same selection on all rows is recorded too,
labelled optimistic. The fits a path needs are shared by every path (a
combination's OOF predictions are computed once), so k + 1 selections cost little more than one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .features import FeatureInputs, assemble, load_feature_sets
from .frames import ArrayLib, lib_for
from .io import read_csv, write_json
from .logs import log
from .svr import SVRConfig, classes_of, fit_target, run_fits, select_backend
from .task import Task

Combination = tuple[str, ...]


@dataclass
class Selection:
    """One selection: the rows it is scored on (all, or all but one fold's) and its steps so far."""

    rows: np.ndarray
    sets: list[str] = field(default_factory=list)
    score: float = float("nan")  # the metric of the sets so far (none yet: nan)
    steps: list[dict] = field(default_factory=list)
    done: bool = False

    def candidates(self, names: list[str]) -> list[str]:
        return [n for n in names if n not in self.sets]


class OOFPredictions:
    """Each combination's out-of-fold SVR predictions over all training rows, fitted once."""

    def __init__(
        self, fold_sets: list[dict], fold_of: np.ndarray, y: np.ndarray, cfg: SVRConfig, lib: ArrayLib, task: Task
    ):
        self.fold_sets, self.fold_of, self.y, self.cfg, self.lib, self.task = fold_sets, fold_of, y, cfg, lib, task
        self.names = list(fold_sets[0])
        self.done: dict[Combination, np.ndarray] = {}
        self.fits = 0

    def key(self, sets: list[str]) -> Combination:
        return tuple(n for n in self.names if n in sets)

    def compute(self, wanted: set[Combination], backend: str) -> None:
        """Each new combination's OOF predictions: its folds fitted together, one combination at a time,
        keeping only the predictions (the feature copies and fitted SVRs are freed before the next)."""
        for combo in sorted(c for c in wanted if c not in self.done):
            tasks = []
            for k, sets in enumerate(self.fold_sets):
                x = assemble(sets, list(combo), self.lib.xp)
                val_host = self.fold_of == k
                val = self.lib.asarray(val_host)
                tasks.append((self.cfg, x[~val], fit_target(self.y[~val_host], self.cfg, self.task), x[val]))
            shape = (len(self.y), self.task.n_outputs) if self.task.n_outputs > 1 else len(self.y)
            oof = np.empty(shape)
            fits = run_fits(backend, self.cfg.threads, tasks, keep_heads=False, n_classes=classes_of(self.task))
            for k, fit in enumerate(fits):
                oof[self.fold_of == k] = fit["preds"][0]
            self.done[combo] = oof
            self.fits += len(tasks)


def step(path: Selection, oof: OOFPredictions, y: np.ndarray, min_gain: float) -> None:
    """Score every candidate addition on the path's rows; add the best if it helps by more than min_gain."""
    task = oof.task
    names = path.candidates(oof.names)
    scores = {c: task.score(y[path.rows], oof.done[oof.key([*path.sets, c])][path.rows]) for c in names}
    best = names[task.scorer.best([scores[c] for c in names])]
    gain = task.scorer.gain(path.score, scores[best]) if path.sets else None
    taken = gain is None or gain > min_gain
    path.steps.append({"scores": scores, "best": best, "score": scores[best], "gain": gain, "added": taken})
    if taken:
        path.sets.append(best)
        path.score = scores[best]
    path.done = not taken or not path.candidates(oof.names)


def forward_select(oof: OOFPredictions, paths: dict[str, Selection], backend: str, min_gain: float) -> None:
    """Advance every path one step at a time; each step's new combinations are fitted together."""
    while active := [p for p in paths.values() if not p.done]:
        wanted = {oof.key([*p.sets, c]) for p in active for c in p.candidates(oof.names)}
        oof.compute(wanted, backend)
        for p in active:
            step(p, oof, oof.y, min_gain)


def load_fold_sets(fold_inputs: list[FeatureInputs], folds, cfg: SVRConfig, lib: ArrayLib) -> list[dict]:
    """Every fold's train-row feature sets; the extractor tables (the same for every fold) read once."""
    first = load_feature_sets(fold_inputs[0], folds, cfg.features, lib)
    out = [first] + [load_feature_sets(inputs, folds, cfg.features, lib, read=first) for inputs in fold_inputs[1:]]
    return [{n: pair[0] for n, pair in sets.items()} for sets in out]


def select_features(
    fold_inputs: list[FeatureInputs], folds_csv: str, cfg: SVRConfig, out_json: str, task: Task
) -> dict:
    """Forward selection per fold (on the other folds' OOF rows) and on all rows (optimistic), written
    to out_json with every step's scores."""
    t0 = time.perf_counter()
    folds = read_csv(folds_csv)
    fold_of, y = folds["fold"].to_numpy(), task.encode(folds[task.target])
    fold_ids = sorted(np.unique(fold_of).tolist())
    if fold_ids != list(range(len(fold_inputs))):
        raise ValueError(f"{folds_csv}: folds {fold_ids}, but {len(fold_inputs)} folds' embeddings were given")
    backend = select_backend(cfg, "feature selection")
    lib = lib_for(backend)
    oof = OOFPredictions(load_fold_sets(fold_inputs, folds, cfg, lib), fold_of, y, cfg, lib, task)
    min_gain = float(cfg.select["min_gain"])
    paths = {"all": Selection(np.ones(len(y), bool))} | {str(k): Selection(fold_of != k) for k in fold_ids}
    forward_select(oof, paths, backend, min_gain)
    honest = np.empty(oof.done[oof.key(paths["0"].sets)].shape)
    for k in fold_ids:
        honest[fold_of == k] = oof.done[oof.key(paths[str(k)].sets)][fold_of == k]
    summary = {
        "candidates": oof.names,
        "min_gain": min_gain,
        "alone": paths["all"].steps[0]["scores"],
        "folds": {
            k: {"sets": list(oof.key(p.sets)), "order": p.sets, "score_other_folds": p.score, "steps": p.steps}
            for k, p in paths.items()
            if k != "all"
        },
        "all_rows": {"sets": list(oof.key(paths["all"].sets)), "order": paths["all"].sets, "steps": paths["all"].steps},
        "metric": task.metric,
        "cv_score": task.score(y, honest),
        "cv_score_in_sample": paths["all"].score,
        "backend": backend,
        "arrays": lib.name,
        "fits": oof.fits,
        "seconds": time.perf_counter() - t0,
    }
    write_json(summary, out_json)
    per_fold = {k: "+".join(v["order"]) for k, v in summary["folds"].items()}
    log.info(
        "feature selection: %s on all rows (OOF %s %.4f, optimistic); per fold %s; honest CV %.4f; %d fits in %.1f s",
        "+".join(paths["all"].sets), task.scorer.label, summary["cv_score_in_sample"], per_fold, summary["cv_score"],
        oof.fits, summary["seconds"],
    )  # fmt: skip
    return summary
