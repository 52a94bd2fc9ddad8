"""Competitions unlike Pawpularity, each run end to end from a config overlay alone: a multiclass one
(a pattern for the image files, PNGs, no test.csv, one probability column per class, log loss), a
binary one (ISIC-like tables, a path column, TIFF images, tabular columns, ROC AUC), and real images
(scikit-learn's handwritten digits) through the multiclass overlay. Each goes through folds, both
heads, the blend, the CV in the task's metric, the figures, the submission, the Kaggle package and
the notebook's rehearsal in Kaggle's conditions."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, load_config, make_workdir, run_snakemake, shrink
from pawpipe.config import merge
from pawpipe.metrics import get_metric

pytestmark = pytest.mark.slow


def competition_run(tmp_path_factory, *variants: str, learn: bool = False, **demo) -> Path:
    """The shrunk demo config with the variants' overlays merged in (as --configfile does), run with its
    Kaggle rehearsal. `learn`: the demo's own micro Swin at 32 px for 6 epochs, not the test's smaller one."""
    cfg = shrink(load_config())
    if learn:
        cfg["backbone"]["kwargs"], cfg["head"]["hidden"] = {"img_size": 32}, 128
        cfg["train"].update(epochs=6, lr=1e-3)
    for variant in variants:
        merge(cfg, yaml.safe_load((REPO / "config" / "variants" / f"{variant}.yaml").read_text()))
    cfg["data"]["demo"].update({"n_train": 120, "n_test": 12, **demo})
    workdir = make_workdir(tmp_path_factory.mktemp(variants[-1]), cfg)
    proc = run_snakemake(workdir, "--cores", "2", "all", "rehearse_kaggle", env={**os.environ, "KAGGLE_USERNAME": "t"})
    (workdir / "snakemake.out").write_text(proc.stdout + proc.stderr)
    return workdir


@pytest.fixture(scope="module")
def spots_run(tmp_path_factory):
    return competition_run(tmp_path_factory, "spots")


def read(workdir: Path, exp: str):
    models, subs = workdir / "models" / exp, workdir / "submissions" / exp
    return json.loads((models / "cv.json").read_text()), json.loads((models / "task.json").read_text()), models, subs


def check_end_to_end(workdir: Path, exp: str, metric: str, sample: str, id_column: str):
    cv, task, models, subs = read(workdir, exp)
    assert cv["task"]["metric"] == metric and set(cv["scores"]) >= {"mlp", "svr", "blend", "baseline"}
    label = get_metric(metric).label
    assert f"CV {label} for experiment '{exp}'" in (workdir / "snakemake.out").read_text()  # the printed table
    for figure in ("score_by_fold.svg", "oof.svg", "curve.svg", "training_curves.svg"):
        assert (models / "report" / figure).stat().st_size > 0, figure
    expected = pd.read_csv(workdir / cv_data(workdir) / sample)
    submission = pd.read_csv(subs / "submission.csv")
    assert list(submission.columns) == list(expected.columns) and list(submission[id_column]) == list(
        expected[id_column]
    )
    report = json.loads((subs / "kaggle" / "rehearsal" / "report.json").read_text())
    assert sorted(report["layouts"]) == ["classic", "mounted"]
    assert all(layout["max_abs_diff"] <= 0.05 for layout in report["layouts"].values())
    manifest = json.loads((subs / "kaggle" / "dataset" / "pawpipe.json").read_text())
    assert manifest["task"] == task
    return cv, task, submission


def cv_data(workdir: Path) -> str:
    return yaml.safe_load((workdir / "config" / "config.yaml").read_text())["data"]["dir"]


def test_a_binary_competition_with_a_path_column_and_tabular_columns_runs_end_to_end(spots_run):
    cv, task, sub = check_end_to_end(spots_run, "spots", "roc_auc", "sample_submission.csv", "isic_id")
    assert task["classes"] == [0, 1] and task["submission"] == "value" and sub["target"].between(0, 1).all()
    assert cv["components"]["svr[metadata]"] > 0.5  # the tabular columns carry the age signal
    assert cv["task"]["greater_is_better"] and cv["scores"]["blend"] > cv["scores"]["baseline"]


def test_a_multiclass_competition_of_real_images_runs_end_to_end_from_its_overlay(tmp_path_factory):
    """scikit-learn's handwritten digits (real scans, not made here) in the shapes layout (PNGs named by a
    pattern, a probability per class, log loss), run through config/variants/shapes.yaml unchanged
    (digits.yaml sets only the data folder and the demo): every stage, the rehearsal, and a model that
    beats the majority class by far."""
    workdir = competition_run(tmp_path_factory, "shapes", "digits", learn=True, n_train=600, n_test=100)
    cv, task, sub = check_end_to_end(workdir, "digits", "log_loss", "sample_submission.csv", "image_name")
    models = workdir / "models" / "digits"
    assert task["classes"] == list(range(10)) and task["submission"] == "probabilities"
    assert np.allclose(sub[[str(k) for k in task["classes"]]].sum(axis=1), 1)
    svr = np.load(models / "fold0/svr.npz", allow_pickle=False)
    assert json.loads(str(svr["header"]))["format"] == "pawpipe-svc/1" and "support_vectors_9" in svr.files
    oof = pd.read_csv(models / "oof.csv")
    probs = oof[[f"blend:{k}" for k in range(10)]].to_numpy()
    truth = oof["category"].map({c: i for i, c in enumerate(task["classes"])}).to_numpy()
    accuracy, majority = (probs.argmax(1) == truth).mean(), oof["category"].value_counts(normalize=True).max()
    (workdir / "digits-figures.json").write_text(
        json.dumps({"accuracy": accuracy, "majority": majority, **cv["scores"]})
    )
    assert accuracy > majority + 0.5 and cv["scores"]["blend"] < 0.5 * cv["scores"]["baseline"]
