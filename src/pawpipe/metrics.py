"""The metrics a competition is scored on, by name: one table (METRICS), each entry with its direction,
the task types it fits and what it reads from a prediction (values, probabilities or labels).

A prediction is what the heads output: a value per row for regression, the positive class's probability
per row for binary, a row of class probabilities for multiclass. Targets are values for regression and
class indices (0..K-1, in the order task.json records) for classification. `Metric.score(target, pred)`
turns the prediction into what the metric reads (labels: the most probable class, or the rounded value
for a regression) and scores it. Each is checked against scikit-learn's implementation in the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def rmse(pred, target) -> float:
    """Root mean squared error of two equally long sequences, in the target's units."""
    return float(np.sqrt(np.mean((np.asarray(pred, float) - np.asarray(target, float)) ** 2)))


def mae(pred, target) -> float:
    return float(np.mean(np.abs(np.asarray(pred, float) - np.asarray(target, float))))


def accuracy(labels, target) -> float:
    return float(np.mean(np.asarray(labels) == np.asarray(target)))


def macro_f1(labels, target) -> float:
    """F1 per label (every label that occurs in the target or the prediction), averaged unweighted."""
    labels, target = np.asarray(labels), np.asarray(target)
    scores = []
    for c in np.union1d(labels, target):
        tp = np.sum((labels == c) & (target == c))
        wrong = np.sum((labels == c) != (target == c))  # false positives + false negatives
        scores.append(2 * tp / (2 * tp + wrong) if tp + wrong else 0.0)
    return float(np.mean(scores))


def quadratic_kappa(labels, target) -> float:
    """Cohen's kappa with quadratic weights over the labels that occur (as scikit-learn counts them)."""
    labels, target = np.asarray(labels), np.asarray(target)
    values = np.union1d(labels, target)
    k = len(values)
    if k < 2:
        return 1.0
    a, b = np.searchsorted(values, target), np.searchsorted(values, labels)
    observed = np.zeros((k, k))
    np.add.at(observed, (a, b), 1)
    expected = np.outer(observed.sum(1), observed.sum(0)) / observed.sum()
    weights = (np.arange(k)[:, None] - np.arange(k)[None, :]) ** 2
    return float(1 - (weights * observed).sum() / (weights * expected).sum())


def log_loss(probabilities, target) -> float:
    """Mean negative log-likelihood of the target classes; probabilities clipped to [eps, 1 - eps]."""
    p = np.asarray(probabilities, float)
    p = np.stack([1 - p, p], axis=1) if p.ndim == 1 else p
    eps = np.finfo(p.dtype).eps
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(np.log(p[np.arange(len(p)), np.asarray(target, int)])))


def _binary_auc(scores, positive) -> float:
    from scipy.stats import rankdata

    positive = np.asarray(positive, bool)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_auc(probabilities, target) -> float:
    """Area under the ROC curve: of the positive class's probability (binary), or one class against the
    rest averaged over the classes (multiclass)."""
    p, target = np.asarray(probabilities, float), np.asarray(target, int)
    if p.ndim == 1:
        return _binary_auc(p, target == 1)
    return float(np.mean([_binary_auc(p[:, c], target == c) for c in range(p.shape[1])]))


@dataclass(frozen=True)
class Metric:
    name: str
    label: str  # as the CV table prints it
    greater_is_better: bool
    tasks: tuple[str, ...]  # the task types it fits
    reads: str  # values | probabilities | labels
    fn: Callable  # (what it reads, target) -> float
    smooth: bool = False  # differentiable in the prediction: the ensemble can fit weights on it directly

    def score(self, target, pred, kind: str = "regression") -> float:
        """The metric of a prediction of a task of type `kind` (see the module's docstring)."""
        return self.fn(to_labels(pred, kind, target) if self.reads == "labels" else pred, target)

    def better(self, a: float, b: float) -> bool:
        """Whether score a is strictly better than score b."""
        return a > b if self.greater_is_better else a < b

    def best(self, scores) -> int:
        """The index of the best of `scores` (the first, among equals)."""
        scores = np.asarray(scores, float)
        return int(np.argmax(scores) if self.greater_is_better else np.argmin(scores))

    def gain(self, old: float, new: float) -> float:
        """How much better `new` is than `old` (positive when it improves)."""
        return new - old if self.greater_is_better else old - new

    @property
    def worst(self) -> float:
        return -np.inf if self.greater_is_better else np.inf

    @property
    def direction(self) -> str:
        return "higher is better" if self.greater_is_better else "lower is better"


def to_labels(pred, kind: str, target=None) -> np.ndarray:
    """Labels from a prediction: the most probable class (multiclass), the positive class from a
    probability of 0.5 (binary), or a regression's value rounded to a whole number within the target's
    range (quadratic kappa on ordinal scores)."""
    pred = np.asarray(pred, float)
    if kind == "multiclass":
        return pred.argmax(axis=1)
    if kind == "binary":
        return (pred >= 0.5).astype(int)
    lo, hi = (np.min(target), np.max(target)) if target is not None else (-np.inf, np.inf)
    return np.clip(np.rint(pred), lo, hi)


CLASSIFICATION = ("binary", "multiclass")
METRICS = {
    m.name: m
    for m in [
        Metric("rmse", "RMSE", False, ("regression",), "values", rmse, smooth=True),
        Metric("mae", "MAE", False, ("regression",), "values", mae),
        Metric("roc_auc", "ROC AUC", True, CLASSIFICATION, "probabilities", roc_auc),
        Metric("log_loss", "log loss", False, CLASSIFICATION, "probabilities", log_loss, smooth=True),
        Metric("accuracy", "accuracy", True, CLASSIFICATION, "labels", accuracy),
        Metric("macro_f1", "macro F1", True, CLASSIFICATION, "labels", macro_f1),
        Metric("qwk", "quadratic weighted kappa", True, ("regression", "multiclass"), "labels", quadratic_kappa),
    ]
}


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise ValueError(f"task.metric: unknown metric {name!r}; known: {', '.join(METRICS)}")
    return METRICS[name]
