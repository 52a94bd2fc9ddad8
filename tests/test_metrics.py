"""Each metric of the registry against scikit-learn's implementation, on predictions of every shape."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from pawpipe.metrics import METRICS, get_metric, to_labels


def problem(kind: str, n: int = 300, k: int = 4, seed: int = 0):
    """(target, prediction) of a task type: values, a positive class's probability, or class probabilities."""
    rng = np.random.default_rng(seed)
    if kind == "regression":
        target = rng.integers(0, 5, n).astype(float)
        return target, target + rng.normal(0, 0.8, n)
    if kind == "binary":
        target = (rng.random(n) < 0.3).astype(int)
        return target, np.clip(0.3 + 0.4 * target + rng.normal(0, 0.25, n), 0.001, 0.999)
    target = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k)) + 1.5 * np.eye(k)[target]
    return target, np.exp(logits) / np.exp(logits).sum(1, keepdims=True)


def reference(name: str, kind: str, target, pred) -> float:
    """scikit-learn's figure for the same prediction, read as the registry reads it."""
    labels = to_labels(pred, kind, target)
    if name == "rmse":
        return float(np.sqrt(sk.mean_squared_error(target, pred)))
    if name == "mae":
        return float(sk.mean_absolute_error(target, pred))
    if name == "accuracy":
        return float(sk.accuracy_score(target, labels))
    if name == "macro_f1":
        return float(sk.f1_score(target, labels, average="macro"))
    if name == "qwk":
        return float(sk.cohen_kappa_score(target, labels, weights="quadratic"))
    if name == "log_loss":
        return float(sk.log_loss(target, pred, labels=list(range(pred.shape[1])) if pred.ndim == 2 else [0, 1]))
    if name == "roc_auc":
        return float(sk.roc_auc_score(target, pred, multi_class="ovr", average="macro"))
    raise AssertionError(name)


CASES = [(m.name, kind) for m in METRICS.values() for kind in m.tasks]


@pytest.mark.parametrize("name, kind", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_every_metric_agrees_with_scikit_learn(name, kind):
    for seed in range(3):
        target, pred = problem(kind, seed=seed)
        assert get_metric(name).score(target, pred, kind) == pytest.approx(reference(name, kind, target, pred), 1e-9)


def test_every_metric_knows_its_direction():
    target, pred = problem("multiclass")
    noisy = np.full_like(pred, 1 / pred.shape[1])
    for name in ("log_loss", "accuracy", "macro_f1", "roc_auc"):
        m = get_metric(name)
        good, bad = m.score(target, pred, "multiclass"), m.score(target, noisy, "multiclass")
        assert m.better(good, bad) and m.gain(bad, good) > 0 and m.best([bad, good]) == 1, name


def test_an_unknown_metric_fails_listing_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown metric 'f2'; known: rmse, mae, roc_auc, log_loss, accuracy"):
        get_metric("f2")


def test_the_schema_offers_exactly_the_registered_metrics_and_task_types():
    from pawpipe.config import load_schema
    from pawpipe.task import TYPES

    task = load_schema()["properties"]["task"]["properties"]
    assert task["metric"]["enum"] == list(METRICS) and task["type"]["enum"] == list(TYPES)
