"""Blending heads across experiments: weights on the simplex, never worse than the best component."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import pawpularity_task, run_snakemake
from pawpipe.blend import cross_fit, fit_weights, mix


def rmse(p, target):
    return np.sqrt(np.mean((p - target) ** 2))


@pytest.mark.parametrize("seed", range(5))
def test_weights_are_on_the_simplex_and_never_worse_than_the_best_component(seed):
    """Four components, RMSE: the metric's objective minimised on the simplex (SLSQP)."""
    rng = np.random.default_rng(seed)
    target = rng.uniform(1, 100, 500)
    preds = [target + rng.normal(b, s, 500) for b, s in [(0, 8), (3, 10), (-2, 12), (0, 30)]]
    w = fit_weights(preds, target, pawpularity_task())
    assert (w >= 0).all() and w.sum() == pytest.approx(1)
    assert rmse(mix(w, preds), target) <= min(rmse(p, target) for p in preds) + 1e-9


def test_a_metric_without_an_objective_gets_greedy_selection_never_worse_than_the_best():
    """MAE has no differentiable objective: with five components the weights are counts of greedy
    selection (multiples of 1/50), and the mix scores no worse than its best component."""
    rng = np.random.default_rng(2)
    target = rng.uniform(1, 100, 400)
    preds = [target + rng.normal(0, s, 400) for s in (6, 8, 9, 12, 40)]
    task = pawpularity_task(metric="mae")
    w = fit_weights(preds, target, task)
    assert np.allclose(w * 50, np.round(w * 50)) and w.sum() == pytest.approx(1)
    assert task.score(target, mix(w, preds)) <= min(task.score(target, p) for p in preds)


def test_the_ensembles_oof_figure_is_cross_fitted_over_folds():
    rng = np.random.default_rng(1)
    target = rng.uniform(1, 100, 300)
    preds = [target + rng.normal(0, 15, 300) for _ in range(4)]
    folds, task = np.arange(300) % 3, pawpularity_task()
    weights = cross_fit(preds, target, folds, task)
    for k in range(3):  # fold k's rows get exactly the weights fitted on the other folds
        w = fit_weights([p[folds != k] for p in preds], target[folds != k], task)
        assert np.allclose(weights[folds == k], w)
    assert rmse(mix(weights, preds), target) > rmse(mix(fit_weights(preds, target, task), preds), target)  # flatters


def test_weights_recover_a_known_mix():
    rng = np.random.default_rng(0)
    target = rng.uniform(1, 100, 20000)
    # Independent errors with variances 1 : 4: the best mix is 0.8 / 0.2, and the useless third gets ~0.
    preds = [target + rng.normal(0, 5, 20000), target + rng.normal(0, 10, 20000), rng.uniform(1, 100, 20000)]
    assert fit_weights(preds, target, pawpularity_task()) == pytest.approx([0.8, 0.2, 0.0], abs=0.02)


def test_the_blend_and_the_ensemble_share_one_core():
    """One formula, one fold mean, one weight fitter, one cross-fit: the ensemble calls the blend's."""
    from pawpipe import blend, ensemble

    assert ensemble.fit_weights is blend.fit_weights and ensemble.cross_fit is blend.cross_fit
    assert ensemble.mix is blend.mix and ensemble.fold_mean is blend.fold_mean


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
