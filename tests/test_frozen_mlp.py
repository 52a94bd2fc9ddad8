"""The head trained on frozen features (pawpipe.frozen_mlp): it learns, stops early by the task's metric,
reruns to the same predictions, and saves plain tensors that predict the same after loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import assert_same_csv, cpu_only, pawpularity_task, task_of, validated_config
from pawpipe.heads.frozen_mlp import FittedMLP, FrozenMLPConfig, fit_frozen_mlp
from pawpipe.metrics import rmse


def config(**changes) -> FrozenMLPConfig:
    return FrozenMLPConfig(**{**validated_config()["frozen_mlp"], **changes})


def regression(n=600, d=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = np.clip(np.round(40 + 12 * x[:, 0] + 8 * np.tanh(x[:, 1] * x[:, 2]) + rng.normal(0, 4, n)), 1, 100)
    return x, y


def test_it_learns_the_signal_and_stops_early_on_the_metric():
    x, y = regression()
    fitted, info = fit_frozen_mlp(x[:400], y[:400], x[400:500], y[400:500], pawpularity_task(), config(), seed=0)
    held = fitted.predict(x[500:])
    assert rmse(held, y[500:]) < 0.6 * rmse(np.full(100, y[:400].mean()), y[500:])
    scores = [h["val_rmse"] for h in info["history"]]
    assert info["val_score"] == min(scores) and scores.index(min(scores)) + 1 == info["best_epoch"]
    assert info["epochs_run"] <= info["best_epoch"] + config().patience  # it stopped after `patience` epochs


def test_a_rerun_reproduces_it_and_the_saved_tensors_predict_the_same(tmp_path):
    x, y = regression()
    task = pawpularity_task()
    runs = [fit_frozen_mlp(x[:400], y[:400], x[400:500], y[400:500], task, config(epochs=30), seed=3) for _ in range(2)]
    first, second = (r[0].predict(x[500:]) for r in runs)
    assert np.array_equal(first, second)
    runs[0][0].meta["feature_sets"] = ["embedding", "metadata"]
    runs[0][0].save(tmp_path / "frozen.pt")
    loaded = FittedMLP.load(tmp_path / "frozen.pt")
    assert np.array_equal(loaded.predict(x[500:]), first) and loaded.feature_sets == ["embedding", "metadata"]
    torch.load(tmp_path / "frozen.pt", weights_only=True)  # tensors and plain values only


def test_for_a_multiclass_task_it_predicts_probabilities():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 8)).astype(np.float32)
    y = np.digitize(x[:, 0], [-0.6, 0.6])
    task = task_of("multiclass", metric="log_loss", classes=[0, 1, 2])
    fitted, _ = fit_frozen_mlp(x[:300], y[:300], x[300:400], y[300:400], task, config(), seed=0)
    probs = fitted.predict(x[400:])
    assert probs.shape == (100, 3) and np.allclose(probs.sum(1), 1) and (probs.argmax(1) == y[400:]).mean() > 0.8


def test_the_heads_the_schema_offers_are_the_registered_ones():
    from pawpipe.config import config_problems, load_schema
    from pawpipe.heads import HEADS

    assert load_schema()["properties"]["heads"]["items"]["enum"] == list(HEADS)
    cfg = validated_config()
    assert any("lacks ['svr']" in p for p in config_problems({**cfg, "heads": ["mlp", "frozen_mlp"]}))


@pytest.mark.slow
def test_the_frozen_head_in_the_pipeline_the_report_and_the_notebook(pipeline_run, tmp_path):
    """heads: [mlp, svr, frozen_mlp] on the tiny run: only the new head and what reads it run, the CV
    report lists it, a forced rerun reproduces its predictions, and the packaged notebook computes it."""
    import json
    import os
    import shutil

    from conftest import run_snakemake

    work = tmp_path / "run"
    shutil.copytree(pipeline_run, work, symlinks=True)
    (work / "heads.yaml").write_text("heads: [mlp, svr, frozen_mlp]\n")
    config = ("--configfile", "config/config.yaml", "heads.yaml")
    env = {**os.environ, "KAGGLE_USERNAME": "t"}
    before = {p: p.stat().st_mtime_ns for p in (work / "models/tiny").rglob("best.pt")}
    run_snakemake(work, "--cores", "2", "all", "rehearse_kaggle", *config, env=env)
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())  # no training reran
    cv = json.loads((work / "models/tiny/cv.json").read_text())
    assert cv["heads"] == ["mlp", "svr", "frozen_mlp"] and "frozen_mlp" in cv["components"]
    assert set(cv["folds"][0]["weights"]) == {"mlp", "svr", "frozen_mlp"}
    oof = work / "models/tiny/fold0/frozen_mlp_oof.csv"
    shutil.copy(oof, tmp_path / "first.csv")
    run_snakemake(work, "--cores", "2", "-R", "frozen_mlp", *config, env=env)
    assert_same_csv(oof, tmp_path / "first.csv", exact=cpu_only())  # a rerun reproduces it (on a GPU: nearly)
    report = json.loads((work / "submissions/tiny/kaggle/rehearsal/report.json").read_text())
    assert all(layout["max_abs_diff"] < 0.05 for layout in report["layouts"].values())
    assert (work / "submissions/tiny/kaggle/dataset/fold1-frozen_mlp.pt").is_file()
