"""What the fine-tuned MLP head learns for a task: its loss, the targets it is trained on, its starting
bias, and how its outputs become predictions (the inverse of the target's scaling).

- regression with `loss: bce` (a bounded target, Pawpularity's recipe): BCE on the target scaled to [0, 1]
  over the sigmoid's range (task.sigmoid_range: Pawpularity / 100); predictions are the range x sigmoid.
- regression with `mse` or `huber`: the loss on the target standardised with the fold's training rows;
  predictions undo the standardisation.
- binary: BCE on the positive class; predictions are its probability.
- multiclass: cross-entropy; predictions are the softmax over the classes.

The objective is fixed when a fold trains (`for_task`, from that fold's training targets) and stored in
the checkpoint's model arguments, so the embed stage, the ONNX export and the Kaggle notebook turn the
head's outputs into predictions exactly as training validated them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .task import Task


@dataclass(frozen=True)
class Objective:
    loss: str  # bce | mse | huber | cross_entropy
    output: str  # sigmoid_range | affine | probability | softmax
    n_outputs: int = 1
    low: float = 0.0  # sigmoid_range: the range the sigmoid spans
    high: float = 1.0
    center: float = 0.0  # affine: the target's training mean and spread
    scale: float = 1.0

    @classmethod
    def for_task(cls, task: Task, y_fit: np.ndarray) -> Objective:
        """The objective of `task`, scaled on a fold's training targets `y_fit` (values or class indices)."""
        loss = task.resolved_loss
        if task.type == "multiclass":
            return cls("cross_entropy", "softmax", task.n_outputs)
        if task.type == "binary":
            return cls("bce", "probability")
        if loss == "bce":
            low, high = task.sigmoid_range
            return cls("bce", "sigmoid_range", low=low, high=high)
        y = np.asarray(y_fit, np.float64)
        return cls(loss, "affine", center=float(y.mean()), scale=float(y.std()) or 1.0)

    @classmethod
    def from_dict(cls, data: dict) -> Objective:
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)

    def targets(self, y: np.ndarray) -> np.ndarray:
        """What the loss compares the head's outputs with: float32 (scaled values, 0/1), or int64 classes."""
        if self.loss == "cross_entropy":
            return np.asarray(y, np.int64)
        y = np.asarray(y, np.float32)
        if self.output == "sigmoid_range":
            return (y - self.low) / (self.high - self.low) if self.low else y / (self.high - self.low)
        if self.output == "affine":
            return (y - np.float32(self.center)) / np.float32(self.scale)
        return y

    def as_predictions(self, targets: np.ndarray) -> np.ndarray:
        """Training targets back on the prediction's scale, computed as predictions are (what validation
        scores against): values for a regression, the classes unchanged."""
        if self.output == "sigmoid_range":
            return targets * (self.high - self.low) + self.low if self.low else targets * (self.high - self.low)
        if self.output == "affine":
            return targets * np.float32(self.scale) + np.float32(self.center)
        return targets

    def criterion(self) -> torch.nn.Module:
        return {
            "bce": torch.nn.BCEWithLogitsLoss,
            "mse": torch.nn.MSELoss,
            "huber": torch.nn.HuberLoss,
            "cross_entropy": torch.nn.CrossEntropyLoss,
        }[self.loss]()

    def initial_bias(self, targets: np.ndarray) -> list[float]:
        """The output layer's bias for a head that starts at the training rows' average: early epochs then
        fit signal, not offset."""
        if self.loss == "cross_entropy":
            freq = np.bincount(np.asarray(targets, np.int64), minlength=self.n_outputs) / len(targets)
            return [math.log(max(f, 1e-3)) for f in freq]
        if self.loss == "bce":
            p = float(np.clip(np.asarray(targets).mean(), 1e-3, 1 - 1e-3))
            return [math.log(p / (1 - p))]
        return [0.0]

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        """The head's outputs as predictions: values on the target's scale, or probabilities."""
        x = logits.float()
        if self.output == "sigmoid_range":
            y = torch.sigmoid(x) * (self.high - self.low)
            return y + self.low if self.low else y
        if self.output == "affine":
            return x * self.scale + self.center
        if self.output == "probability":
            return torch.sigmoid(x)
        return torch.softmax(x, dim=-1)
