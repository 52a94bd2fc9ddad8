"""Each metric of the registry against a reference implementation (scikit-learn's, scipy's, or one
written here from the metric's definition), for every task type it fits, on what that type reads."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import rel_entr
from sklearn import metrics as sk

from pawpipe.metrics import METRICS, get_metric


def problem(kind: str, n: int = 300, k: int = 4, seed: int = 0):
    """(target, what a metric of that task type reads as probabilities or values), with some signal."""
    rng = np.random.default_rng(seed)
    if kind == "regression":
        target = rng.integers(0, 5, n).astype(float)
        return target, target + rng.normal(0, 0.8, n)
    if kind == "multitarget":
        target = rng.normal(0, 1, (n, 3)) * [1, 10, 100]
        return target, target + rng.normal(0, 1, (n, 3)) * [0.5, 8, 30]
    if kind == "binary":
        target = (rng.random(n) < 0.3).astype(int)
        return target, np.clip(0.3 + 0.4 * target + rng.normal(0, 0.25, n), 0.001, 0.999)
    if kind == "multilabel":
        target = (rng.random((n, k)) < [0.2, 0.4, 0.5, 0.1]).astype(int)
        return target, np.clip(0.3 + 0.4 * target + rng.normal(0, 0.25, (n, k)), 0.001, 0.999)
    logits = rng.normal(0, 1, (n, k))
    if kind == "softlabel":
        target = np.exp(2 * logits) / np.exp(2 * logits).sum(1, keepdims=True)
        noisy = logits + rng.normal(0, 0.5, (n, k))
        return target, np.exp(2 * noisy) / np.exp(2 * noisy).sum(1, keepdims=True)
    target = rng.integers(0, k, n)
    logits += 1.5 * np.eye(k)[target]
    return target, np.exp(logits) / np.exp(logits).sum(1, keepdims=True)


def labels_of(kind: str, read):
    """Labels as the task types decide them (argmax, 0.5, or a regression's rounded grade)."""
    if kind == "multiclass":
        return read.argmax(axis=1)
    if kind in ("binary", "multilabel"):
        return (read >= 0.5).astype(int)
    return np.rint(read)


def brute_partial_auc(target, p, min_tpr):
    """The area between the ROC curve and TPR = min_tpr where the curve is above it, on a fine FPR grid
    (each ROC point's TPR held until the next: the curve's upper staircase, interpolated)."""
    fpr, tpr, _ = sk.roc_curve(target, p)
    grid = np.linspace(0, 1, 200001)
    curve = np.interp(grid, fpr, tpr)
    return float(np.trapezoid(np.clip(curve - min_tpr, 0, None), grid))


def brute_map_at_k(target, p, k):
    total = 0.0
    for row, true in zip(p, target, strict=True):
        ranked = list(np.argsort(-row, kind="stable")[:k])
        total += 1 / (ranked.index(true) + 1) if true in ranked else 0.0
    return total / len(target)


def reference(name: str, kind: str, target, read, labels) -> float:
    weights = [1.0, 2.0, 3.0, 4.0][: target.shape[1]] if target.ndim == 2 else None
    refs = {
        "rmse": lambda: np.sqrt(sk.mean_squared_error(target, read)),
        "mae": lambda: sk.mean_absolute_error(target, read),
        "r2": lambda: sk.r2_score(target, read),
        "mcrmse": lambda: np.mean([np.sqrt(np.mean((target[:, j] - read[:, j]) ** 2)) for j in range(3)]),
        "weighted_r2": lambda: np.average([sk.r2_score(target[:, j], read[:, j]) for j in range(3)], weights=weights),
        "roc_auc": lambda: (
            sk.roc_auc_score(target, read, multi_class="ovr")
            if kind == "multiclass"
            else np.mean([sk.roc_auc_score(t, p) for t, p in zip(target.T, read.T, strict=True)])
            if kind == "multilabel"
            else sk.roc_auc_score(target, read)
        ),  # fmt: skip
        "partial_auc": lambda: brute_partial_auc(target, read, 0.8),
        "log_loss": lambda: sk.log_loss(target, read, labels=list(range(read.shape[1])) if read.ndim == 2 else [0, 1]),
        "weighted_log_loss": lambda: np.average(
            [sk.log_loss(t, p, labels=[0, 1]) for t, p in zip(target.T, read.T, strict=True)], weights=weights
        ),  # fmt: skip
        "map_at_k": lambda: brute_map_at_k(target, read, 5),
        "kl_divergence": lambda: np.mean(rel_entr(target, np.clip(read, 1e-15, 1)).sum(axis=1)),
        "accuracy": lambda: sk.accuracy_score(target, labels),
        "macro_f1": lambda: sk.f1_score(target, labels, average="macro"),
        "micro_f1": lambda: sk.f1_score(target, labels, average="micro"),
        "samples_f1": lambda: sk.f1_score(target, labels, average="samples"),
        "fbeta": lambda: sk.fbeta_score(target, labels, beta=2.0, average="binary" if kind == "binary" else "macro"),
        "qwk": lambda: sk.cohen_kappa_score(target, labels, weights="quadratic"),
    }
    return float(refs[name]())


def facts(name: str, kind: str, target) -> dict:
    m = get_metric(name)
    given = {"weights": [1.0, 2.0, 3.0, 4.0][: target.shape[1]] if target.ndim == 2 else None,
             "average": "binary" if kind == "binary" else "macro"}  # fmt: skip
    return {**{k: given[k] for k in m.takes}, **({"beta": 2.0} if name == "fbeta" else {})}


CASES = [(m.name, kind) for m in METRICS.values() for kind in m.tasks]


@pytest.mark.parametrize("name, kind", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_every_metric_agrees_with_its_reference(name, kind):
    m = get_metric(name)
    for seed in range(3):
        target, read = problem(kind, seed=seed)
        labels = labels_of(kind, read)
        got = m.score(target, labels if m.reads == "labels" else read, **facts(name, kind, target))
        expected = reference(name, kind, target, read, labels)
        assert got == pytest.approx(expected, abs=1e-6 if name == "partial_auc" else 1e-9)


def test_the_partial_auc_spans_zero_to_one_minus_the_tpr():
    target = np.r_[np.zeros(50, int), np.ones(50, int)]
    perfect, reversed_ = target.astype(float), 1 - target.astype(float)
    m = get_metric("partial_auc")
    assert m.score(target, perfect) == pytest.approx(0.2) and m.score(target, reversed_) == pytest.approx(0.0)
    assert m.score(target, perfect, min_tpr=0.5) == pytest.approx(0.5)


def test_every_metric_knows_its_direction():
    target, pred = problem("multiclass")
    noisy = np.full_like(pred, 1 / pred.shape[1])
    for name in ("log_loss", "roc_auc", "map_at_k"):
        m = get_metric(name)
        good, bad = m.score(target, pred), m.score(target, noisy)
        assert m.better(good, bad) and m.gain(bad, good) > 0 and m.best([bad, good]) == 1, name


def test_an_unknown_metric_fails_listing_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown metric 'f2'; known: rmse, mae, r2, mcrmse"):
        get_metric("f2")


def test_the_schema_offers_exactly_the_registered_metrics_and_task_types():
    from pawpipe.config import load_schema
    from pawpipe.task import TYPES

    task = load_schema()["properties"]["task"]["properties"]
    assert task["metric"]["oneOf"][0]["enum"] == list(METRICS) and set(task["type"]["enum"]) == set(TYPES)


@pytest.mark.parametrize("name", ["roc_auc", "rmse"])
def test_the_best_score_is_the_first_of_those_equal_up_to_float_noise(name):
    """A tie scored by one library a unit in the last place apart (scikit-learn's trapezoid AUC against a
    rank-sum AUC) picks the first candidate, as an exact tie does; a real difference still wins."""
    scorer = get_metric(name)
    tie = 0.7428571428571429
    noisy = np.nextafter(tie, np.inf if scorer.greater_is_better else -np.inf)
    assert scorer.best([0.1 if scorer.greater_is_better else 9.0, tie, noisy]) == 1
    better = tie + (1e-9 if scorer.greater_is_better else -1e-9)
    assert scorer.best([tie, better]) == 1
    assert scorer.best([np.nan, tie]) == 1
