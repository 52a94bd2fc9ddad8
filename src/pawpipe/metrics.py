"""The metrics a competition is scored on, by name: one table (METRICS), like scikit-learn's scorers.
Each entry knows its direction, the task types it fits, what it reads of a prediction (values,
probabilities or labels) and the arguments it takes; adding one is one entry.

A metric is called with the targets and what it reads, both as the task type encodes them
(pawpipe.task): values (n,) or (n, targets); a binary task's positive-class probability (n,); a row of
probabilities per class (n, classes) or per label (n, labels); labels as class indices (n,), whole
numbers (an ordinal regression) or a 0/1 matrix (multi-label). The task type turns a prediction into
what the metric reads (Task.read), with the same function that makes the submission, so the CV
scores what is submitted. Where scikit-learn has the metric it computes it; the others (partial AUC
above a TPR, MAP@k, KL divergence, weighted log loss) are written here and checked against a
reference in the tests. A competition's own metric file is an entry too (pawpipe.metric_file).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

TIE = 1e-12  # scores this close (relative) are equal when choosing the best: the first of them wins


def rmse(target, values) -> float:
    from sklearn.metrics import root_mean_squared_error

    return float(root_mean_squared_error(np.asarray(target, float), np.asarray(values, float)))


def mcrmse(target, values) -> float:
    """The mean over target columns of each column's RMSE (Feedback Prize's MCRMSE)."""
    from sklearn.metrics import root_mean_squared_error

    return float(root_mean_squared_error(target, values, multioutput="uniform_average"))


def mae(target, values) -> float:
    from sklearn.metrics import mean_absolute_error

    return float(mean_absolute_error(target, values))


def r2(target, values) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(target, values))


def weighted_r2(target, values, weights=None) -> float:
    """R² of each target column, averaged with the task's per-target weights (uniform without)."""
    from sklearn.metrics import r2_score

    return float(r2_score(target, values, multioutput=np.asarray(weights, float) if weights else "uniform_average"))


def accuracy(target, labels) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(target, labels))


def _f1(average: str):
    def f1(target, labels) -> float:
        from sklearn.metrics import f1_score

        return float(f1_score(target, labels, average=average, zero_division=0))

    f1.__doc__ = f"F1, {average}-averaged (scikit-learn's f1_score)."
    return f1


def fbeta(target, labels, beta: float = 1.0, average: str = "macro") -> float:
    """F-beta (beta > 1 favours recall): the positive class's for a binary task (the task says so), else
    averaged over the classes or labels (macro unless task.metric_args sets average)."""
    from sklearn.metrics import fbeta_score

    return float(fbeta_score(target, labels, beta=beta, average=average, zero_division=0))


def quadratic_kappa(target, labels) -> float:
    """Cohen's kappa with quadratic weights over the labels that occur (scikit-learn's cohen_kappa_score)."""
    from sklearn.metrics import cohen_kappa_score

    target, labels = np.asarray(target), np.asarray(labels)
    if len(np.union1d(target, labels)) < 2:
        return 1.0
    return float(cohen_kappa_score(target, labels, weights="quadratic"))


def log_loss(target, probabilities) -> float:
    """Mean negative log-likelihood of the target classes (scikit-learn's log_loss, which clips to eps)."""
    from sklearn.metrics import log_loss as sk_log_loss

    p = np.asarray(probabilities, float)
    p = np.stack([1 - p, p], axis=1) if p.ndim == 1 else p
    with warnings.catch_warnings():  # a blend of probability rows sums to one within rounding
        warnings.filterwarnings("ignore", message="The y_prob values do not sum to one")
        return float(sk_log_loss(np.asarray(target, int), p, labels=list(range(p.shape[1]))))


def weighted_log_loss(target, probabilities, weights=None) -> float:
    """Binary log loss of each label column, averaged with the task's per-label weights (RSNA's shape)."""
    target, p = np.asarray(target, int), np.asarray(probabilities, float)
    losses = [log_loss(target[:, j], p[:, j]) for j in range(target.shape[1])]
    return float(np.average(losses, weights=weights))


def roc_auc(target, probabilities) -> float:
    """Area under the ROC curve: of the positive class's probability (binary), one class against the rest
    averaged over the classes (multiclass), or each label column's averaged (multi-label: mean
    column-wise ROC AUC). NaN where a column has one class only."""
    from sklearn.metrics import roc_auc_score

    p, target = np.asarray(probabilities, float), np.asarray(target, int)
    try:
        if p.ndim == 2 and target.ndim == 1:
            return float(roc_auc_score(target, p, multi_class="ovr", labels=list(range(p.shape[1]))))
        return float(roc_auc_score(target, p, average="macro"))
    except ValueError:
        return float("nan")


def partial_auc(target, probabilities, min_tpr: float = 0.8) -> float:
    """The area under the ROC curve above a true positive rate of min_tpr (0 .. 1 - min_tpr), as ISIC 2024
    scores it: the ROC of the flipped task, cut at a false positive rate of 1 - min_tpr."""
    from sklearn.metrics import auc, roc_curve

    flipped = 1 - np.asarray(target, int)
    max_fpr = 1 - float(min_tpr)
    fpr, tpr, _ = roc_curve(flipped, 1 - np.asarray(probabilities, float))
    stop = int(np.searchsorted(fpr, max_fpr, "right"))
    if stop == len(fpr):
        return float(auc(fpr, tpr))
    tpr = np.append(tpr[:stop], np.interp(max_fpr, fpr[stop - 1 : stop + 1], tpr[stop - 1 : stop + 1]))
    return float(auc(np.append(fpr[:stop], max_fpr), tpr))


def map_at_k(target, probabilities, k: int = 5) -> float:
    """Mean average precision at k with one true class per row (Happywhale): 1/rank of the true class among
    the k most probable, 0 beyond."""
    p, target = np.asarray(probabilities, float), np.asarray(target, int)
    top = np.argsort(-p, axis=1, kind="stable")[:, : int(k)]
    hit = top == target[:, None]
    rank = np.argmax(hit, axis=1) + 1
    return float(np.mean(np.where(hit.any(axis=1), 1.0 / rank, 0.0)))


def kl_divergence(target, probabilities) -> float:
    """Mean over rows of KL(target || prediction), the prediction clipped to [1e-15, 1] (HMS 2024)."""
    y, p = np.asarray(target, float), np.clip(np.asarray(probabilities, float), 1e-15, 1)
    terms = np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / p), 0.0)
    return float(np.mean(terms.sum(axis=1)))


def mse_objective(preds: np.ndarray, target: np.ndarray):
    """(loss, gradient) in the blend weights w of the mean squared error of preds @ w: RMSE's weights."""
    return (
        lambda w: np.mean((preds @ w - target) ** 2),
        lambda w: 2 * preds.T @ (preds @ w - target) / len(target),
    )


def log_loss_objective(preds: np.ndarray, target: np.ndarray):
    """(loss, gradient) in w of the log loss of preds @ w (rows x components, or rows x classes x components)."""

    def picked(w):  # the probability given to each row's true class
        p = preds @ w
        return p[np.arange(len(p)), target] if p.ndim == 2 else np.where(target == 1, p, 1 - p)

    def grad(w):
        chosen = preds[np.arange(len(target)), target] if preds.ndim == 3 else np.where(
            (target == 1)[:, None], preds, 1 - preds)  # fmt: skip
        sign = 1 if preds.ndim == 3 else np.where(target == 1, 1, -1)[:, None]
        return -np.mean(sign * chosen / np.clip(picked(w), 1e-15, None)[:, None], axis=0)

    return (lambda w: log_loss(target, preds @ w)), grad


@dataclass(frozen=True)
class Metric:
    name: str
    label: str  # as the CV table prints it
    greater_is_better: bool
    tasks: tuple[str, ...]  # the task types it fits
    reads: str  # values | probabilities | labels | submission (a metric file)
    fn: Callable  # (target, what it reads, **args) -> float
    takes: tuple[str, ...] = ()  # the task's facts it is given by name (weights, average: Task.facts)
    defaults: dict = field(default_factory=dict)  # its arguments and their defaults (task.metric_args sets them)
    # (preds, target) -> (loss, gradient) in the blend weights, where the weights can be fitted directly
    objective: Callable | None = None
    calibrated: bool = False  # it scores how well calibrated the probabilities are: a temperature can help

    def score(self, target, read, **args) -> float:
        """The metric of what it reads against the targets."""
        return float(self.fn(target, read, **{**self.defaults, **args}))

    def better(self, a: float, b: float) -> bool:
        """Whether score a is strictly better than score b."""
        return a > b if self.greater_is_better else a < b

    def best(self, scores) -> int:
        """The index of the best of `scores`, the first among those equal to it up to rounding (1e-12
        relative): two libraries' float noise in one tie (a rank-sum AUC and a trapezoid AUC) must not
        pick different weights, thresholds or feature sets."""
        scores = np.asarray(scores, float)
        top = np.nanmax(scores) if self.greater_is_better else np.nanmin(scores)
        if not np.isfinite(top):
            return int(np.argmax(scores) if self.greater_is_better else np.argmin(scores))
        return int(np.flatnonzero(np.abs(scores - top) <= TIE * max(1.0, abs(top)))[0])

    def gain(self, old: float, new: float) -> float:
        """How much better `new` is than `old` (positive when it improves)."""
        return new - old if self.greater_is_better else old - new

    @property
    def worst(self) -> float:
        return -np.inf if self.greater_is_better else np.inf

    @property
    def direction(self) -> str:
        return "higher is better" if self.greater_is_better else "lower is better"


CLASSIFICATION = ("binary", "multiclass")
LABELLED = (*CLASSIFICATION, "multilabel")
METRICS = {
    m.name: m
    for m in [
        Metric("rmse", "RMSE", False, ("regression",), "values", rmse, objective=mse_objective),
        Metric("mae", "MAE", False, ("regression",), "values", mae),
        Metric("r2", "R²", True, ("regression",), "values", r2),
        Metric("mcrmse", "mean column-wise RMSE", False, ("multitarget",), "values", mcrmse),
        Metric("weighted_r2", "weighted R²", True, ("multitarget",), "values", weighted_r2, takes=("weights",)),
        Metric("roc_auc", "ROC AUC", True, LABELLED, "probabilities", roc_auc),
        Metric(
            "partial_auc", "partial AUC", True, ("binary",), "probabilities", partial_auc, defaults={"min_tpr": 0.8}
        ),  # fmt: skip
        Metric(
            "log_loss",
            "log loss",
            False,
            CLASSIFICATION,
            "probabilities",
            log_loss,
            objective=log_loss_objective,
            calibrated=True,
        ),  # fmt: skip
        Metric(
            "weighted_log_loss",
            "weighted log loss",
            False,
            ("multilabel",),
            "probabilities",
            weighted_log_loss,
            takes=("weights",),
            calibrated=True,
        ),  # fmt: skip
        Metric("map_at_k", "MAP@k", True, ("multiclass",), "probabilities", map_at_k, defaults={"k": 5}),
        Metric(
            "kl_divergence", "KL divergence", False, ("softlabel",), "probabilities", kl_divergence, calibrated=True
        ),
        Metric("accuracy", "accuracy", True, LABELLED, "labels", accuracy),
        Metric("macro_f1", "macro F1", True, LABELLED, "labels", _f1("macro")),
        Metric("micro_f1", "micro F1", True, ("multiclass", "multilabel"), "labels", _f1("micro")),
        Metric("samples_f1", "samples F1", True, ("multilabel",), "labels", _f1("samples")),
        Metric("fbeta", "F-beta", True, LABELLED, "labels", fbeta, takes=("average",), defaults={"beta": 1.0}),
        Metric("qwk", "quadratic weighted kappa", True, ("regression", "multiclass"), "labels", quadratic_kappa),
    ]
}


def get_metric(name) -> Metric:
    """A metric by name (a built-in of METRICS), or the metric a competition's file defines
    (task.metric: {file: ...}, pawpipe.metric_file)."""
    if isinstance(name, dict):
        from .metric_file import file_metric

        return file_metric(name)
    if name not in METRICS:
        raise ValueError(f"task.metric: unknown metric {name!r}; known: {', '.join(METRICS)}, or {{file: path.py}}")
    return METRICS[name]


def metric_name(metric) -> str:
    """How a metric is named in tables and file names: a built-in's name, a file's stem."""
    return metric if isinstance(metric, str) else get_metric(metric).name


def recorded_label(task: dict) -> str:
    """A metric's label from a cv.json's task block (a metric file's is recorded there; older files have none)."""
    return task.get("label") or get_metric(task["metric"]).label
