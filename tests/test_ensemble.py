"""Blending heads across experiments: weights on the simplex, never worse than the best component."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import run_snakemake
from pawpipe.ensemble import simplex_weights


@pytest.mark.parametrize("seed", range(5))
def test_weights_are_on_the_simplex_and_never_worse_than_the_best_component(seed):
    rng = np.random.default_rng(seed)
    target = rng.uniform(1, 100, 500)
    preds = np.stack([target + rng.normal(b, s, 500) for b, s in [(0, 8), (3, 10), (-2, 12), (0, 30)]], axis=1)
    w = simplex_weights(preds, target)
    assert (w >= 0).all() and w.sum() == pytest.approx(1)
    rmse = lambda p: np.sqrt(np.mean((p - target) ** 2))  # noqa: E731
    assert rmse(preds @ w) <= min(rmse(preds[:, i]) for i in range(4)) + 1e-9


def test_the_ensembles_oof_figure_is_cross_fitted_over_folds():
    from pawpipe.ensemble import cross_fit_ensemble

    rng = np.random.default_rng(1)
    target = rng.uniform(1, 100, 300)
    preds = np.stack([target + rng.normal(0, 15, 300), target + rng.normal(0, 15, 300)], axis=1)
    folds = np.arange(300) % 3
    honest = cross_fit_ensemble(preds, target, folds)
    for k in range(3):  # fold k's rows get exactly the weights fitted on the other folds
        w = simplex_weights(preds[folds != k], target[folds != k])
        assert np.allclose(honest[folds == k], preds[folds == k] @ w)
    rmse = lambda p: np.sqrt(np.mean((p - target) ** 2))  # noqa: E731
    assert rmse(honest) > rmse(preds @ simplex_weights(preds, target))  # in-sample flatters


def test_weights_recover_a_known_mix():
    rng = np.random.default_rng(0)
    target = rng.uniform(1, 100, 20000)
    # Independent errors with variances 1 : 4: the best mix is 0.8 / 0.2, and the useless third gets ~0.
    preds = np.stack(
        [target + rng.normal(0, 5, 20000), target + rng.normal(0, 10, 20000), rng.uniform(1, 100, 20000)], axis=1
    )
    w = simplex_weights(preds, target)
    assert w == pytest.approx([0.8, 0.2, 0.0], abs=0.02)


@pytest.mark.slow
def test_ensemble_rule_blends_the_heads_of_listed_experiments(pipeline_run, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(pipeline_run, workdir, symlinks=True)
    (workdir / "ens.yaml").write_text("ensemble:\n  name: t\n  experiments: [tiny]\n")
    run_snakemake(workdir, "--cores", "2", "--configfile", "config/config.yaml", "ens.yaml")
    summary = json.loads((workdir / "models/ensemble-t/ensemble.json").read_text())
    assert set(summary["weights"]) == {"tiny:mlp", "tiny:svr"}
    assert sum(summary["weights"].values()) == pytest.approx(1)
    r = summary["scores"]
    assert r["ensemble_in_sample"] <= min(r["tiny:mlp"], r["tiny:svr"]) + 1e-9
    # The headline is cross-fitted over folds: each fold's rows blended with the other folds' weights.
    oof = pd.read_csv(workdir / "models/ensemble-t/oof.csv", dtype={"Id": str})
    assert r["ensemble"] == pytest.approx(np.sqrt(np.mean((oof["ensemble"] - oof["Pawpularity"]) ** 2)))
    assert "optimistic" in summary["notes"]["ensemble_in_sample"]
    sub = pd.read_csv(workdir / "submissions/ensemble-t/submission.csv", dtype={"Id": str})
    test = pd.read_csv(workdir / "data/tiny/test.csv", dtype={"Id": str})
    assert sub["Id"].tolist() == test["Id"].tolist() and sub["Pawpularity"].between(1, 100).all()
