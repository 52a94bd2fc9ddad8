"""A second-level stacker: gradient-boosted trees (XGBoost) over the chosen experiments' out-of-fold
predictions, optionally the competition's tabular columns and a few row-wise summaries of the
predictions, trained on the task's objective (Task.stacker), as the top ISIC 2024 solutions end.

XGBoost rather than LightGBM: its PyPI wheel also runs on CUDA (`device: cuda`, the GPU machines this
is for), it saves a model in its own portable format (UBJSON, read without pickle), it grows
multi-output trees for multi-target and multi-label tasks, and soft labels train as weighted rows.

Honest CV: for each outer fold (the experiments' own folds) the stacker is fitted on the other folds'
OOF rows only, its early stopping on a seeded share of those rows, and it predicts the fold's own rows;
no fold's rows ever reach the model that predicts them. The CV table puts it beside the best single
experiment, the simplex ensemble of the same components (pawpipe.blend, cross-fitted over the folds)
and each experiment's blend; a stacker that does not beat them is reported as such. Test predictions:
each outer fold's stacker on the experiments' folds-mean test predictions, averaged (blend.fold_mean).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .blend import cross_fit, mix
from .data import ID, DataError, read_table, tabular_features
from .ensemble import EnsembleJob, components, one_task
from .io import atomic_path, read_json, write_csv, write_json
from .logs import log
from .report import check_submission
from .task import Task

FORMAT = "ubj"  # XGBoost's binary JSON: the booster alone, no pickle


@dataclass(frozen=True)
class StackSettings:
    """The `stack` block of the config (its defaults live in the schema)."""

    n_estimators: int
    learning_rate: float
    max_depth: int
    subsample: float
    colsample_bytree: float
    min_child_weight: float
    reg_lambda: float
    early_stopping_rounds: int
    validation_share: float
    summaries: bool
    tabular: list[str] | None  # None: task.features
    seed: int = 0
    device: str = "cpu"  # how (x-runtime): cpu | cuda
    threads: int = 1  # how (x-runtime)


@dataclass(frozen=True)
class StackJob(EnsembleJob):
    """The stack rule's inputs (the ensemble's, and the train table) and outputs (the ensemble's, with
    `out_models`: a folder of one booster per outer fold)."""

    train_table: str = ""
    out_models: str = ""
    out_cv: str | None = None  # a cv.json record of the stacker (what publish, submit and the leaderboard read)

    def __post_init__(self):
        if not (self.train_table and self.out_models):
            raise TypeError("StackJob needs train_table and out_models")


def summary_columns(task: Task, parts: list[np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """Row-wise summaries across the components, per output: their mean, spread, least and most (fold-safe:
    each row's from its own predictions only)."""
    stacked = np.stack([p.reshape(len(p), -1) for p in parts], axis=-1)  # rows x outputs x components
    cols, names = [], []
    for stat in ("mean", "std", "min", "max"):
        values = getattr(np, stat)(stacked, axis=-1)
        cols.append(values)
        names += [f"{stat}:{k}" for k in range(values.shape[1])]
    return np.concatenate(cols, axis=1), names


def feature_matrix(task: Task, parts: dict[str, np.ndarray], tabular: np.ndarray | None, summaries: bool,
                   tabular_names: list[str] | None = None):  # fmt: skip
    """The stacker's input: each component's prediction column(s), the tabular columns (named
    `tabular_names`, else by position), the summaries."""
    cols, names = [], []
    for name, p in parts.items():
        p = p.reshape(len(p), -1)
        cols.append(p)
        names += [name] if p.shape[1] == 1 else [f"{name}:{k}" for k in range(p.shape[1])]
    if tabular is not None and tabular.shape[1]:
        cols.append(tabular)
        names += [f"tabular:{c}" for c in (tabular_names or range(tabular.shape[1]))]
    if summaries and len(parts) > 1:
        values, more = summary_columns(task, list(parts.values()))
        cols.append(values)
        names += more
    return np.concatenate(cols, axis=1).astype(np.float32), names


def training_rows(task: Task, x: np.ndarray, y: np.ndarray):
    """(x, labels, sample weights) as XGBoost trains on them: soft labels become one weighted row per class."""
    spec = task.stacker
    if not spec.get("soft"):
        return x, y, None
    k = y.shape[1]
    return np.repeat(x, k, axis=0), np.tile(np.arange(k), len(x)), y.reshape(-1)


def fit_stacker(task: Task, x: np.ndarray, y: np.ndarray, s: StackSettings, seed: int):
    """One booster on (x, y): early stopping on a seeded share of these rows (validation_share), the rest to fit."""
    import xgboost as xgb

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_val = max(1, int(round(s.validation_share * len(x))))
    val, fit = order[:n_val], order[n_val:]
    objective = {k: v for k, v in task.stacker.items() if k != "soft"}
    params = {**objective, "eta": s.learning_rate, "max_depth": s.max_depth, "subsample": s.subsample,
              "colsample_bytree": s.colsample_bytree, "min_child_weight": s.min_child_weight, "lambda": s.reg_lambda,
              "seed": int(seed), "device": s.device, "nthread": s.threads, "tree_method": "hist"}  # fmt: skip
    dfit, dval = (xgb.DMatrix(*training_pair(task, x[rows], y[rows])) for rows in (fit, val))
    booster = xgb.train(params, dfit, num_boost_round=s.n_estimators, evals=[(dval, "validation")],
                        early_stopping_rounds=s.early_stopping_rounds, verbose_eval=False)  # fmt: skip
    return booster


def training_pair(task: Task, x, y) -> tuple:
    rows, labels, weights = training_rows(task, x, y)
    return (rows, labels) if weights is None else (rows, labels, weights)


def predict_stacker(booster, x: np.ndarray) -> np.ndarray:
    """The booster's predictions up to its best iteration: values, or probabilities (float64)."""
    import xgboost as xgb

    rounds = (0, booster.best_iteration + 1) if booster.best_iteration is not None else (0, 0)
    return booster.predict(xgb.DMatrix(x), iteration_range=rounds).astype(np.float64)


def tabular_columns(task: Task, s: StackSettings) -> list[str]:
    return list(task.features) if s.tabular is None else list(s.tabular)


def tabular_of(job: StackJob, task: Task, s: StackSettings, ids: dict[str, list[str]]):
    """The tabular columns the stacker reads (stack.tabular, else task.features), for the train and test
    rows; an unknown column is refused, naming it, before any fit."""
    columns = tabular_columns(task, s)
    if not columns:
        return None, None
    tables = {
        split: read_table(path, task.id) for split, path in (("train", job.train_table), ("test", job.test_table))
    }
    for split, table in tables.items():
        missing = [c for c in columns if c not in table.columns]
        if missing:
            where = job.train_table if split == "train" else job.test_table
            raise DataError([f"stack.tabular: {where} has no column {missing[0]!r} (columns {missing}); its columns "
                             f"are {list(table.columns)[:20]}"])  # fmt: skip
    return tuple(tabular_features(tables[s_], ids[s_], columns, p) for s_, p in
                 (("train", job.train_table), ("test", job.test_table)))  # fmt: skip


def resolve_device(device: str) -> str:
    """stack.device: cpu and cuda as given; auto is cuda where a GPU is visible and XGBoost was built with CUDA."""
    if device != "auto":
        return device
    import xgboost as xgb

    from .gpus import visible_gpus

    return "cuda" if visible_gpus() and xgb.build_info().get("USE_CUDA") else "cpu"


def save_booster(booster, path: Path) -> None:
    """XGBoost's own format (UBJSON): the trees and their parameters, nothing that runs when loaded."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(bytes(booster.save_raw(raw_format=FORMAT)))


def load_booster(path: str | Path):
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(bytearray(Path(path).read_bytes()))
    return booster


def run_stack(job: StackJob, s: StackSettings) -> dict:
    """The stacker's honest CV over the outer folds, its test predictions and its comparison."""
    task = one_task(job.task_jsons)
    test_ids = read_table(job.test_table, task.id)[ID].tolist()
    base, oof_parts, test_parts = components(job, task, test_ids)
    tab_train, tab_test = tabular_of(job, task, s, {"train": base.index.tolist(), "test": test_ids})
    x, names = feature_matrix(task, oof_parts, tab_train, s.summaries, tabular_columns(task, s))
    x_test, _ = feature_matrix(task, test_parts, tab_test, s.summaries)
    y, folds = task.encode(base), base["fold"].to_numpy()
    oof, tests, per_fold = None, [], {}
    Path(job.out_models).mkdir(parents=True, exist_ok=True)
    for k in sorted(np.unique(folds)):
        rows = folds == k
        booster = fit_stacker(task, x[~rows], y[~rows], s, s.seed * 1000 + int(k))
        pred = predict_stacker(booster, x[rows])
        oof = np.empty((len(x), *pred.shape[1:])) if oof is None else oof
        oof[rows] = pred
        tests.append(predict_stacker(booster, x_test))
        save_booster(booster, Path(job.out_models) / f"fold{k}.{FORMAT}")
        per_fold[str(int(k))] = {"rows_fitted": int((~rows).sum()), "rounds": int(booster.best_iteration + 1),
                                 "score": task.score(y[rows], pred)}  # fmt: skip
    fitted = {"oof": oof, "tests": tests, "test_ids": test_ids, "folds": per_fold, "features": names,
              "tabular": tabular_columns(task, s), "summaries": s.summaries}  # fmt: skip
    return report_stack(job, task, base, oof_parts, fitted)


def report_stack(job: StackJob, task: Task, base: pd.DataFrame, oof_parts: dict, fitted: dict) -> dict:
    """The stacker beside the best single experiment, the simplex ensemble of the same predictions and each
    experiment's blend; its OOF rows and its submission."""
    y, folds, oof, test_ids = task.encode(base), base["fold"].to_numpy(), fitted["oof"], fitted["test_ids"]
    preds = list(oof_parts.values())
    ensemble = mix(cross_fit(preds, y, folds, task), preds)
    blends = {e: read_json(cv)["scores"]["blend"] for e, cv in zip(job.experiments, job.cv_jsons, strict=True)}
    best = task.scorer.best(list(blends.values()))
    scores = {
        "stack": task.score(y, oof),
        "ensemble": task.score(y, ensemble),
        "best_experiment": list(blends.values())[best],
    } | {f"blend:{e}": v for e, v in blends.items()}
    beats = all(task.scorer.better(scores["stack"], scores[k]) for k in ("ensemble", "best_experiment"))
    frame = base.copy()
    for name, part in oof_parts.items():
        task.put(frame, name, part)
    task.put(frame, "stack", oof)
    task.put(frame, "ensemble", ensemble)
    sub = task.submission_frame(test_ids, fitted["tests"])
    check_submission(sub, test_ids, task, job.out_submission)
    summary = {
        "name": job.name, "experiments": job.experiments, "metric": task.metric_name, "label": task.scorer.label,
        "greater_is_better": task.scorer.greater_is_better, "scores": scores,
        "best_experiment": job.experiments[best], "stack_beats_the_others": beats, "folds": fitted["folds"],
        "features": fitted["features"], "components": list(oof_parts), "tabular": fitted["tabular"],
        "summaries": fitted["summaries"],
        "notes": {"stack": "each fold's OOF rows predicted by a stacker fitted on the other folds' OOF rows only",
                  "ensemble": "the simplex ensemble of the same components, cross-fitted over the folds"},
    }  # fmt: skip
    write_csv(frame.reset_index(), job.out_oof)
    write_json(summary, job.out_json)
    if job.out_cv:
        write_json(cv_record(summary, base), job.out_cv)
    write_csv(sub, job.out_submission)
    log.info("\n%s", format_stack(summary))
    return summary


def cv_record(summary: dict, base: pd.DataFrame) -> dict:
    """The stacker as a cv.json holds an experiment: its one head `stack`, whose figure is what it submits."""
    folds = base["fold"].value_counts().sort_index()
    return {
        "exp": f"stack-{summary['name']}", "heads": ["stack"], "n_folds": len(folds), "n_oof": len(base),
        "task": {k: summary[k] for k in ("metric", "label", "greater_is_better")},
        "scores": {"stack": summary["scores"]["stack"], "blend": summary["scores"]["stack"],
                   "ensemble": summary["scores"]["ensemble"], "best_experiment": summary["scores"]["best_experiment"]},
        "folds": [{"fold": int(k), "n": int(n), "stack": summary["folds"][str(k)]["score"],
                   "blend": summary["folds"][str(k)]["score"]} for k, n in folds.items()],
    }  # fmt: skip


def format_stack(summary: dict) -> str:
    label, s = summary["label"], summary["scores"]
    direction = "higher is better" if summary["greater_is_better"] else "lower is better"
    lines = [f"stack {summary['name']!r}: CV {label} over {', '.join(summary['experiments'])} ({direction})",
             f"  stacker (XGBoost, cross-fitted over folds): {s['stack']:.4f}",
             f"  simplex ensemble of the same predictions:  {s['ensemble']:.4f}",
             f"  best single experiment ({summary['best_experiment']}): {s['best_experiment']:.4f}"]  # fmt: skip
    verdict = "beats" if summary["stack_beats_the_others"] else "does NOT beat"
    lines.append(f"  the stacker {verdict} the ensemble and the best experiment on this CV")
    return "\n".join(lines)
