"""Searches over every fold at once for the kernel head (rule svr_search): C and epsilon on a grid
(svr.grid), or forward selection of its feature sets (svr.select), each on the out-of-fold metric.

Forward selection starts from nothing; at each step it adds the set whose addition improves the OOF
score most (the task's metric, in its direction), and stops when the best addition helps by no more
than svr.select.min_gain (in the metric's units) or nothing is left. That is how the contest's winner
chose among frozen features of many pretrained models.

A selection scored on the rows that made it flatters itself. So it runs once per fold k on the OOF
rows of the other folds only, and fold k's kernel head then fits the combination chosen without its
rows: its OOF predictions, and so the CV report, are never scored on rows that chose them. This is
nearly, not strictly, nested: fold k's rows did train the other folds' heads (and backbones) whose OOF
predictions scored its choice; what they never do is score it. The same selection on all rows is
recorded too, labelled optimistic. The fits a path needs are shared by every path (a combination's
OOF predictions are computed once), so k + 1 selections cost little more than one.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace

import numpy as np

from ..features import FeatureInputs, assemble, combine, load_feature_sets
from ..frames import ArrayLib, lib_for
from ..io import read_csv, write_json
from ..logs import log
from ..task import Task
from .backend import SVRConfig, run_fits, select_backend


def oof_array(task: Task, n: int) -> np.ndarray:
    """An empty out-of-fold prediction for n rows, of the task's shape."""
    return np.empty((n, task.n_outputs) if task.n_outputs > 1 else n)


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
                tasks.append((self.cfg, x[~val], self.y[~val_host], x[val]))
            oof = oof_array(self.task, len(self.y))
            fits = run_fits(backend, self.cfg.threads, self.task.kernel, tasks, keep_heads=False)
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
    fold_of, y = folds["fold"].to_numpy(), task.encode(folds)
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
        "metric": task.metric_name,
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


def tune_svr(fold_inputs: list[FeatureInputs], folds_csv: str, cfg: SVRConfig, out_json: str, task: Task) -> dict:
    """Every (C, epsilon) of svr.grid fitted on every fold (`fold_inputs` in fold order), one trial at a
    time: its folds' fits (in parallel over svr.threads processes with scikit-learn) keep only their
    predictions, so memory holds one trial's models, not the grid's."""
    folds = read_csv(folds_csv)
    fold_of = folds["fold"].to_numpy()
    fold_ids = sorted(np.unique(fold_of).tolist())
    y = task.encode(folds)
    backend = select_backend(cfg, "tuning")
    lib = lib_for(backend)
    features = [combine(load_feature_sets(inputs, folds, cfg.features, lib), lib)[0] for inputs in fold_inputs]
    trials = [
        replace(cfg, C=float(C), epsilon=float(e)) for C, e in itertools.product(cfg.grid["C"], cfg.grid["epsilon"])
    ]
    t0, results = time.perf_counter(), []
    for trial in trials:
        tasks = []
        for k, x in zip(fold_ids, features, strict=True):
            val = fold_of == k
            mask = lib.asarray(val)
            tasks.append((trial, x[~mask], y[~val], x[mask]))
        oof = oof_array(task, len(folds))
        for k, fit in zip(fold_ids, run_fits(backend, cfg.threads, task.kernel, tasks, keep_heads=False), strict=True):
            oof[fold_of == k] = fit["preds"][0]
        results.append({"C": trial.C, "epsilon": trial.epsilon, "oof_score": task.score(y, oof)})
        log.info("C=%g epsilon=%g: OOF %s %.4f", trial.C, trial.epsilon, task.scorer.label, results[-1]["oof_score"])
    best = results[task.scorer.best([r["oof_score"] for r in results])]
    summary = {
        "metric": task.metric_name,
        "best": best,
        "grid": results,
        "backend": backend,
        "fits": len(trials) * len(fold_ids),
        "seconds": time.perf_counter() - t0,
    }
    write_json(summary, out_json)
    log.info(
        "kernel head tuning: best C=%g epsilon=%g (OOF %s %.4f) from %d fits in %.1f s",
        best["C"], best["epsilon"], task.scorer.label, best["oof_score"], summary["fits"], summary["seconds"],
    )  # fmt: skip
    return summary
