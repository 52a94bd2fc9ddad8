"""Competitions unlike Pawpularity, each run end to end from a config overlay alone, each in its own
layout: a binary one (ISIC-like tables, a path column, TIFF images, tabular columns, ROC AUC); real
images (scikit-learn's handwritten digits) as a multiclass one (PNGs by a pattern, no test.csv, a
probability per class, log loss), as a multi-label one (RANZCR's 0/1 columns, mean column-wise ROC
AUC) and as a multi-target one (value columns, a path column, weighted R²); a generated multi-label one
in Plant Pathology's layout (space-separated labels, mean F1) and a soft-label one in HMS's (vote
shares, KL divergence). Each goes through folds, every head, the blend, the CV in the task's metric, the
figures, the submission, the Kaggle package and the notebook's rehearsal in Kaggle's conditions."""

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
from pawpipe.report import cv_markdown

pytestmark = pytest.mark.slow


def competition_run(tmp_path_factory, *variants: str, learn: bool = False, heads=None, extra=None, **demo) -> Path:
    """The shrunk demo config with the variants' overlays merged in (as --configfile does), run with its
    Kaggle rehearsal. `learn`: the demo's own micro Swin at 32 px for 6 epochs, not the test's smaller one."""
    cfg = shrink(load_config())
    if learn:
        cfg["backbone"]["kwargs"], cfg["head"]["hidden"] = {"img_size": 32}, 128
        cfg["train"].update(epochs=6, lr=1e-3)
    for variant in variants:
        merge(cfg, yaml.safe_load((REPO / "config" / "variants" / f"{variant}.yaml").read_text()))
    if heads:
        cfg["heads"] = heads
    merge(cfg, extra or {})
    cfg["data"]["demo"].update({"n_train": 120, "n_test": 12, **demo})
    workdir = make_workdir(tmp_path_factory.mktemp(variants[-1]), cfg)
    proc = run_snakemake(workdir, "--cores", "2", "all", "rehearse_kaggle", env={**os.environ, "KAGGLE_USERNAME": "t"})
    (workdir / "snakemake.out").write_text(proc.stdout + proc.stderr)
    return workdir


@pytest.fixture(scope="module")
def spots_run(tmp_path_factory):
    return competition_run(tmp_path_factory, "spots", extra={"stack": {"experiments": ["spots"], "n_estimators": 200}})


def read(workdir: Path, exp: str):
    models, subs = workdir / "models" / exp, workdir / "submissions" / exp
    return json.loads((models / "cv.json").read_text()), json.loads((models / "task.json").read_text()), models, subs


def check_end_to_end(workdir: Path, exp: str, metric: str, sample: str, id_column: str):
    cv, task, models, subs = read(workdir, exp)
    assert cv["task"]["metric"] == metric and set(cv["scores"]) >= {"mlp", "svr", "blend", "baseline"}
    label = cv["task"]["label"]
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
    if "scores" in report:  # the test set's solution is known: the notebook's submission scores as the pipeline's
        assert all(v == pytest.approx(report["scores"]["pipeline"], abs=0.02) for v in report["scores"].values())
    manifest = json.loads((subs / "kaggle" / "dataset" / "pawpipe.json").read_text())
    decision = json.loads((models / "decision.json").read_text())  # the notebook applies the fitted rule too
    assert manifest["task"] == {**task, "decision": {"rule": decision["rule"], "params": decision["params"]}
                                if decision["rule"] else None}  # fmt: skip
    return cv, task, submission


def cv_data(workdir: Path) -> str:
    return yaml.safe_load((workdir / "config" / "config.yaml").read_text())["data"]["dir"]


def test_a_binary_competition_with_a_path_column_and_tabular_columns_runs_end_to_end(spots_run):
    cv, task, sub = check_end_to_end(spots_run, "spots", "roc_auc", "sample_submission.csv", "isic_id")
    assert task["classes"] == [0, 1] and task["submission"] == "value" and sub["target"].between(0, 1).all()
    assert cv["components"]["svr[metadata]"] > 0.5  # the tabular columns carry the age signal
    assert cv["task"]["greater_is_better"] and cv["scores"]["blend"] > cv["scores"]["baseline"]
    # The stacker over its heads and the two tabular columns: probabilities of the rare class, scored by AUC.
    stack = json.loads((spots_run / "models/stack-main/stack.json").read_text())
    assert stack["tabular"] == ["age_approx", "lesion_size_mm"] and 0.5 < stack["scores"]["stack"] <= 1
    stacked = pd.read_csv(spots_run / "submissions/stack-main/submission.csv")
    assert list(stacked.columns) == ["isic_id", "target"] and stacked["target"].between(0, 1).all()


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
    header = json.loads(str(svr["header"]))
    assert header["format"] == "pawpipe-kernel/1" and header["output"] == "softmax" and "support_vectors_9" in svr.files
    oof = pd.read_csv(models / "oof.csv")
    probs = oof[[f"blend:{k}" for k in range(10)]].to_numpy()
    truth = oof["category"].map({c: i for i, c in enumerate(task["classes"])}).to_numpy()
    accuracy, majority = (probs.argmax(1) == truth).mean(), oof["category"].value_counts(normalize=True).max()
    (workdir / "digits-figures.json").write_text(
        json.dumps({"accuracy": accuracy, "majority": majority, **cv["scores"]})
    )
    assert accuracy > majority + 0.5 and cv["scores"]["blend"] < 0.5 * cv["scores"]["baseline"]


ALL_HEADS = ["mlp", "svr", "frozen_mlp"]


def test_a_multilabel_competition_of_real_images_in_label_columns(tmp_path_factory):
    """The digits tagged round, straight, odd and large as 0/1 columns: a probability per label, far above
    the label frequencies in mean column-wise ROC AUC, and a score per label in the CV table."""
    workdir = competition_run(tmp_path_factory, "digit_tags", learn=True, heads=ALL_HEADS, n_train=500, n_test=60)
    cv, task, sub = check_end_to_end(workdir, "digit_tags", "roc_auc", "sample_submission.csv", "StudyInstanceUID")
    assert task["type"] == "multilabel" and task["classes"] == ["round", "straight", "odd", "large"]
    assert task["submission"] == "probabilities" and sub[task["columns"]].apply(lambda c: c.between(0, 1)).all().all()
    assert cv["heads"] == ALL_HEADS and cv["scores"]["blend"] > cv["scores"]["baseline"] + 0.25
    assert set(cv["per_output"]) == {f"ROC AUC {c}" for c in task["classes"]}
    (workdir.parent / "digit_tags-figures.json").write_text(json.dumps(cv["scores"]))


def test_a_multitarget_competition_of_real_images_through_a_path_column(tmp_path_factory):
    """The digits' value, ink and top-half share as three targets, each bounded and weighted: a column
    per target, within its bounds, and a weighted R² far above the training means'."""
    workdir = competition_run(tmp_path_factory, "digit_measures", learn=True, heads=ALL_HEADS, n_train=500, n_test=60)
    cv, task, sub = check_end_to_end(workdir, "digit_measures", "weighted_r2", "sample_submission.csv", "sample_id")
    assert task["type"] == "multitarget" and task["submission"] == "values"
    for col, (low, high) in zip(["value", "ink", "top"], [[0, 9], [0, 16], [0, 1]], strict=True):
        assert sub[col].between(low, high).all(), col
    assert cv["scores"]["blend"] > cv["scores"]["baseline"] + 0.3
    assert set(cv["per_output"]) == {"RMSE value", "RMSE ink", "RMSE top"}
    (workdir.parent / "digit_measures-figures.json").write_text(json.dumps(cv["scores"]))


KL_FILE = {"file": str(REPO / "tests" / "metrics" / "kl_divergence_metric.py"), "greater_is_better": False,
           "label": "KL divergence (HMS's metric file)"}  # fmt: skip


def test_a_soft_label_competition_scored_by_its_own_metric_file(tmp_path_factory):
    """Vote shares per class (HMS's layout, train and test images in one folder), scored by a metric file in
    Kaggle's contract (kaggle_metric_utilities, ParticipantVisibleError): it is the CV (the built-in KL
    divergence gives the same figure on the OOF rows), the epoch chosen, the blend's weights, the board's
    column, and it scores the rehearsed notebook's submission as the pipeline's."""
    from pawpipe.metrics import kl_divergence

    workdir = competition_run(tmp_path_factory, "mixtures", heads=ALL_HEADS, n_train=200, n_test=20,
                              extra={"task": {"metric": KL_FILE}})  # fmt: skip
    cv, task, sub = check_end_to_end(workdir, "mixtures", "kl_divergence_metric", "sample_submission.csv",
                                     "spectrogram_id")  # fmt: skip
    assert task["type"] == "softlabel" and np.allclose(sub[task["columns"]].sum(axis=1), 1)
    assert cv["scores"]["blend"] < 0.8 * cv["scores"]["baseline"]
    oof = pd.read_csv(workdir / "models/mixtures/oof.csv")
    votes = ["red_vote", "green_vote", "blue_vote"]
    blend = oof[[f"blend:{k}" for k in range(3)]].to_numpy()
    assert cv["scores"]["blend"] == pytest.approx(kl_divergence(oof[votes].to_numpy(), np.clip(blend, 0, 1)), abs=1e-9)
    metrics = pd.read_csv(workdir / "models/mixtures/fold0/metrics.csv")
    best = torch_epoch(workdir / "models/mixtures/fold0/best.pt")
    assert best == int(metrics.loc[metrics["val_kl_divergence_metric"].idxmin(), "epoch"])  # the epoch it chose
    board = pd.read_csv(workdir / "models/board.csv")
    assert board["metric"].tolist() == ["kl_divergence_metric"] and not board["greater_is_better"].iloc[0]
    report = json.loads((workdir / "submissions/mixtures/kaggle/rehearsal/report.json").read_text())
    assert set(report["scores"]) == {"pipeline", "kernel-classic", "kernel-mounted"}


def torch_epoch(path) -> int:
    import torch

    return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])


def test_a_multilabel_competition_with_space_separated_labels(tmp_path_factory):
    """Plant Pathology's layout: one column of space-separated labels in, one out (the labels a row is
    predicted to show), scored by the mean F1 over rows; the rehearsal's labels equal the pipeline's."""
    workdir = competition_run(tmp_path_factory, "labels", n_train=150, n_test=12)
    cv, task, sub = check_end_to_end(workdir, "labels", "samples_f1", "sample_submission.csv", "image")
    assert task["submission"] == "labels" and task["columns"] == ["labels"]
    known = set(task["classes"])
    assert all(set(str(v).split()) <= known for v in sub["labels"].fillna(""))
    assert cv["scores"]["blend"] > cv["scores"]["baseline"]


def decided_oof_score(workdir: Path, exp: str, rule: str):
    """The OOF score of the blend decided per fold by the rule refitted on the other folds' rows only."""
    from pawpipe.rules import get_rule
    from pawpipe.task import Task

    task = Task.load(workdir / f"models/{exp}/task.json")
    oof = pd.read_csv(workdir / f"models/{exp}/oof.csv", dtype={"Id": str})
    target, blend, folds = task.encode(oof), task.get(oof, "blend"), oof["fold"].to_numpy()
    labels = np.empty(len(oof), int)
    for k in np.unique(folds):
        params = get_rule(rule).fit(task, blend[folds != k], target[folds != k])
        labels[folds == k] = task.with_decision(rule, params).labels(blend[folds == k])
    return task.scorer.score(target, labels, **task.metric_facts(task.scorer)), task, oof


GRADES = {"n_train": 400, "n_test": 40}


def test_an_ordinal_regression_scored_by_kappa_decides_grades_by_cut_points_fitted_honestly(tmp_path_factory):
    """APTOS's layout: a regression on grades 0-4 scored by quadratic kappa. The CV reports the cut-points'
    figure beside the plain rounding's, cross-fitted (each fold's grades from cut-points fitted without
    it); the submission holds whole grades decided by the cut-points fitted on every OOF row."""
    extra = {"decision": {"rule": "cutpoints"}}  # named: on so few rows `auto` may decline it (tests/test_rules.py)
    workdir = competition_run(tmp_path_factory, "digit_grades", extra=extra, learn=True, **GRADES)
    cv, task, sub = check_end_to_end(workdir, "digit_grades", "qwk", "sample_submission.csv", "id_code")
    assert task["submission"] == "label" and sub["diagnosis"].isin(range(5)).all()
    assert cv["decision"]["rule"] == "cutpoints" and len(cv["decision"]["params"]["cuts"]) == 4
    assert set(cv["decision"]["folds"]) == {"0", "1"} and "blend_rule" in cv["scores"]
    assert "blend with the cutpoints rule fitted on OOF rows (cross-fitted" in (workdir / "snakemake.out").read_text()
    honest, task, _ = decided_oof_score(workdir, "digit_grades", "cutpoints")
    assert cv["scores"]["blend_rule"] == pytest.approx(honest, abs=1e-12)
    cuts = np.sort(json.loads((workdir / "models/digit_grades/decision.json").read_text())["params"]["cuts"])
    tests = [pd.read_csv(workdir / f"models/digit_grades/fold{k}/blend_test.csv", dtype={"Id": str}) for k in range(2)]
    mean = np.mean([t.set_index("Id").loc[sub["id_code"].astype(str), "blend"].to_numpy() for t in tests], axis=0)
    assert sub["diagnosis"].tolist() == np.searchsorted(cuts, mean, side="right").tolist()  # what is submitted
    row = cv_markdown([str(workdir / "models/digit_grades/cv.json")]).splitlines()[-1]  # the docs' table
    assert row.startswith("| digit_grades | regression | quadratic") and f"{honest:.3f} (cutpoints)" in row


def test_a_multiclass_scored_by_macro_f1_fits_class_weights_honestly(tmp_path_factory):
    """The same grades as five classes scored by macro F1, one label per image: weights per class fitted on
    OOF rows, the cross-fitted figure beside the plain argmax's, the submission's labels by the weights."""
    extra = {"task": {"type": "multiclass", "metric": "macro_f1", "loss": "auto", "bounds": None},
             "decision": {"rule": "class_weights"}}  # fmt: skip
    workdir = competition_run(tmp_path_factory, "digit_grades", extra=extra, learn=True, **GRADES)
    cv, task, sub = check_end_to_end(workdir, "digit_grades", "macro_f1", "sample_submission.csv", "id_code")
    assert task["submission"] == "label" and cv["decision"]["rule"] == "class_weights"
    honest, task, _ = decided_oof_score(workdir, "digit_grades", "class_weights")
    assert cv["scores"]["blend_rule"] == pytest.approx(honest, abs=1e-12) and "blend" in cv["scores"]
    weights = np.asarray(json.loads((workdir / "models/digit_grades/decision.json").read_text())["params"]["weights"])
    tests = [pd.read_csv(workdir / f"models/digit_grades/fold{k}/blend_test.csv", dtype={"Id": str}) for k in range(2)]
    cols = [f"blend:{k}" for k in range(5)]
    mean = np.mean([t.set_index("Id").loc[sub["id_code"].astype(str), cols].to_numpy() for t in tests], axis=0)
    assert sub["diagnosis"].tolist() == [task.classes[i] for i in (mean * weights).argmax(axis=1)]
