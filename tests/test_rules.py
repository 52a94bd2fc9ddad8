"""Decision rules fitted on out-of-fold rows (pawpipe.rules): each beats the plain rule where the plain
rule is wrong, each fold's parameters never see that fold's rows, and `decision.rule: auto` declines a
rule whose cross-fitted CV is no better than the plain blend's. Plain numpy on the CPU."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pawpipe.report import fit_decision
from pawpipe.rules import cross_fitted_score, get_rule
from pawpipe.task import Task

N, FOLDS = 600, 3
RECORD = {"id": "Id", "target": "y", "image": "{id}.png", "image_column": None, "features": [], "bounds": None,
          "integer": False, "loss": "auto", "tables": {}, "columns": ["y"]}  # fmt: skip


def make(kind: str, metric: str, submission: str, **fields) -> Task:
    return Task.load({**RECORD, "type": kind, "metric": metric, "submission": submission, **fields})


def problem(name: str, seed: int = 0):
    """(task, prediction, target) where the plain rule is wrong in the way `name` corrects."""
    rng = np.random.default_rng(seed)
    if name == "cutpoints":  # grades 0-4 predicted squeezed towards the middle: rounding loses the ends
        y = rng.integers(0, 5, N)
        task = make("regression", "qwk", "label", bounds=[0, 4], integer=True)
        return task, 2 + 0.4 * (y - 2) + rng.normal(0, 0.15, N), y
    if name == "thresholds":  # rare positives whose probabilities stay below 0.5
        y = (rng.random(N) < 0.15).astype(int)
        task = make("binary", "fbeta", "label", classes=[0, 1], positive=1)
        return task, np.clip(0.1 + 0.3 * y + rng.normal(0, 0.08, N), 0, 1), y
    if name == "class_weights":  # class 2 under-predicted by a factor
        y = rng.integers(0, 3, N)
        p = np.full((N, 3), 0.2)
        p[np.arange(N), y] += rng.uniform(0.1, 0.6, N)
        p[:, 2] *= 0.45
        task = make("multiclass", "macro_f1", "label", classes=[0, 1, 2], columns=["y"])
        return task, p / p.sum(axis=1, keepdims=True), y
    # temperature: calibrated logits made three times too confident
    logit = rng.normal(0, 1.2, N)
    y = (rng.random(N) < 1 / (1 + np.exp(-logit))).astype(int)
    task = make("binary", "log_loss", "value", classes=[0, 1], positive=1)
    return task, 1 / (1 + np.exp(-3 * logit)), y


def folds_of(n: int) -> np.ndarray:
    return np.arange(n) % FOLDS


@pytest.mark.parametrize("name", ["cutpoints", "thresholds", "class_weights", "temperature"])
def test_each_rule_beats_the_plain_rule_where_the_plain_rule_is_wrong(name):
    task, pred, y = problem(name)
    assert task.decision_rule == name, "the metric calls for this rule under decision.rule: auto"
    params = get_rule(name).fit(task, pred, y)
    plain, decided = task.score(y, pred), task.with_decision(name, params).score(y, pred)
    assert task.scorer.gain(plain, decided) > 0.01, (plain, decided, params)
    honest, _ = cross_fitted_score(task, name, pred, y, folds_of(N))
    assert task.scorer.gain(plain, honest) > 0, "the cross-fitted figure still beats the plain rule here"
    assert not task.scorer.better(honest, decided) or name == "temperature", "in-sample is the optimistic one"


@pytest.mark.parametrize("name", ["cutpoints", "thresholds", "class_weights", "temperature"])
def test_a_folds_parameters_never_see_its_own_rows(name):
    """Replacing fold 0's targets by noise changes the rule fitted for the other folds but not fold 0's."""
    task, pred, y = problem(name)
    folds = folds_of(N)
    noisy = y.copy()
    noisy[folds == 0] = np.random.default_rng(1).permutation(y[folds == 0])
    _, before = cross_fitted_score(task, name, pred, y, folds)
    _, after = cross_fitted_score(task, name, pred, noisy, folds)
    assert after["0"] == before["0"]
    assert after["1"] != before["1"] or after["2"] != before["2"], "the other folds do see fold 0's rows"


def oof_frame(task: Task, pred, y, folds) -> pd.DataFrame:
    oof = pd.DataFrame({"Id": [str(i) for i in range(len(y))], "y": y, "fold": folds})
    task.put(oof, "blend", pred)
    return oof


def test_auto_declines_a_rule_that_does_not_beat_the_plain_blend_and_a_named_one_is_applied():
    """One fold's probabilities three times too confident, the other's three times too timid: the
    temperature fitted on either fold makes the other worse, so cross-fitted it loses to the plain blend;
    `auto` records its figure and applies nothing, `decision.rule: temperature` applies it as asked."""
    rng = np.random.default_rng(3)
    logit = rng.normal(0, 1.2, N)
    y = (rng.random(N) < 1 / (1 + np.exp(-logit))).astype(int)
    folds = np.arange(N) % 2
    p = 1 / (1 + np.exp(-np.where(folds == 0, 3.0, 1 / 3) * logit))
    task = make("binary", "log_loss", "value", classes=[0, 1], positive=1)
    oof = oof_frame(task, p, y, folds)
    honest, _ = cross_fitted_score(task, "temperature", p, y, folds)
    assert task.scorer.better(task.score(y, p), honest), "the data must make the rule worse, cross-fitted"
    auto = fit_decision(task, oof, y, "auto")
    assert (auto["rule"], auto["params"], auto["declined"]) == (None, None, "temperature")
    assert auto["cv_score"] == pytest.approx(honest) and "not applied" in auto["note"]
    named = fit_decision(task, oof, y, "temperature")
    assert named["rule"] == "temperature" and named["cv_score"] == pytest.approx(honest)
    decided = task.with_decision("temperature", named["params"])
    assert not np.allclose(decided.adjusted(p), p), "the named rule changes what is submitted"


def test_auto_applies_a_rule_that_beats_the_plain_blend():
    task, pred, y = problem("cutpoints")
    decision = fit_decision(task, oof_frame(task, pred, y, folds_of(N)), y, "auto")
    assert decision["rule"] == "cutpoints" and len(decision["params"]["cuts"]) == 4
    assert task.scorer.better(decision["cv_score"], task.score(y, pred))
