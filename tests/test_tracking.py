"""W&B in offline mode: one run per fold and stage, holding the metrics the stage logged."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import run_snakemake
from conftest import train_fold_0 as train_run
from pawpipe.tracking import Tracker, tracked
from wandb_files import read_run

pytest.importorskip("wandb")


def run_files(root):
    return sorted(root.glob("wandb/offline-run-*/run-*.wandb"))


def test_disabled_tracking_logs_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.chdir(tmp_path)
    with tracked("exp", "train", 0) as tracker:
        assert tracker.run is None
        tracker.log({"x": 1})
    assert not (tmp_path / "wandb").exists()


def test_offline_training_run_holds_config_and_every_epoch(prepared_train, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    with tracked("tinyexp", "train", 0, {"train": {"epochs": 2}}) as tracker:
        result = train_run(prepared_train, tmp_path / "out", epochs=2, tracker=tracker)
    (path,) = run_files(tmp_path)
    run = read_run(path)
    assert (run["run"].run_group, run["run"].job_type, run["run"].display_name) == ("tinyexp", "train", "fold0")
    assert json.loads(run["config"]["train"]) == {"epochs": 2}
    metrics = pd.read_csv(tmp_path / "out" / "metrics.csv")
    logged = [float(h["val_rmse"]) for h in run["history"] if "val_rmse" in h]
    assert logged == pytest.approx(metrics["val_rmse"].tolist())
    assert float(run["summary"]["best_val_rmse"]) == pytest.approx(result["best_score"])


@pytest.mark.slow
def test_workflow_runs_are_grouped_by_experiment(pipeline_run):
    # Turning W&B on reruns nothing by itself; forcing the blends logs one run per fold plus the CV report.
    dry = run_snakemake(pipeline_run, "-n", "--config", "wandb={mode: offline}")
    assert "Nothing to be done" in dry.stdout + dry.stderr
    run_snakemake(pipeline_run, "--cores", "2", "-R", "blend", "--config", "wandb={mode: offline}")
    runs = [read_run(p) for p in run_files(pipeline_run)]
    by_job = {(r["run"].job_type, r["run"].display_name): r for r in runs if r["run"].run_group == "tiny"}
    assert {("blend", "fold0"), ("blend", "fold1"), ("cv", "cv")} <= set(by_job)
    cv = json.loads((pipeline_run / "models/tiny/cv.json").read_text())
    assert float(by_job[("cv", "cv")]["summary"]["cv_rmse_blend"]) == pytest.approx(cv["scores"]["blend"])


def test_tracker_without_a_run_is_inert(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PAWPIPE_WANDB_CHECKPOINTS", "1")
    t = Tracker()
    t.log({"a": 1})
    t.summary({"b": 2})
    t.artifact("missing.pt", "x", "model")  # a missing file is not even looked at
    assert t.run is None and list(tmp_path.iterdir()) == []
