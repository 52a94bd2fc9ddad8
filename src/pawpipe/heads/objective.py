"""What an MLP head (the fine-tuned one and the frozen-feature one) is and learns: its layers (mlp_head),
its loss, the targets it is
trained on, its starting bias, and how its outputs become predictions (the inverse of the target's
scaling). The task type chooses it (Task.objective), from a fold's training targets:

- `sigmoid_range`, loss bce: a bounded value (Pawpularity's recipe): BCE on the target scaled to [0, 1]
  over the sigmoid's range (Pawpularity / 100); predictions are the range x sigmoid. One range per
  target column for a multi-target regression.
- `affine`, loss mse or huber: the target standardised with the fold's training rows; predictions undo
  the standardisation (per target column).
- `probability`, loss bce: a probability per output (binary: the positive class; multi-label: each label).
- `softmax`, loss cross_entropy (class indices) or soft_cross_entropy (rows that are distributions over
  the classes, soft labels): predictions are the softmax over the classes.

The objective is fixed when a fold trains and stored in the checkpoint's model arguments, so the embed
stage, the ONNX export and the Kaggle notebook turn the head's outputs into predictions exactly as
training validated them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

Scale = float | list[float]  # one per target column where there are several


@dataclass(frozen=True)
class Objective:
    loss: str  # bce | mse | huber | cross_entropy | soft_cross_entropy
    output: str  # sigmoid_range | affine | probability | softmax
    n_outputs: int = 1
    low: Scale = 0.0  # sigmoid_range: the range the sigmoid spans
    high: Scale = 1.0
    center: Scale = 0.0  # affine: the target's training mean and spread
    scale: Scale = 1.0

    @classmethod
    def from_dict(cls, data: dict) -> Objective:
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)

    def _np(self, value) -> np.floating | np.ndarray:
        return np.float32(value) if not isinstance(value, list) else np.asarray(value, np.float32)

    def targets(self, y: np.ndarray) -> np.ndarray:
        """What the loss compares the head's outputs with: float32 (scaled values, 0/1, distributions), or
        int64 classes."""
        if self.loss == "cross_entropy":
            return np.asarray(y, np.int64)
        y = np.asarray(y, np.float32)
        if self.output == "sigmoid_range":
            low, span = self._np(self.low), self._np(self.high) - self._np(self.low)
            return (y - low) / span if np.any(low) else y / span
        if self.output == "affine":
            return (y - self._np(self.center)) / self._np(self.scale)
        return y

    def criterion(self) -> torch.nn.Module:
        return {
            "bce": torch.nn.BCEWithLogitsLoss,
            "mse": torch.nn.MSELoss,
            "huber": torch.nn.HuberLoss,
            "cross_entropy": torch.nn.CrossEntropyLoss,
            "soft_cross_entropy": torch.nn.CrossEntropyLoss,  # takes rows of class probabilities as targets
        }[self.loss]()

    def initial_bias(self, targets: np.ndarray) -> list[float]:
        """The output layer's bias for a head that starts at the training rows' average: early epochs then
        fit signal, not offset."""
        if self.loss == "cross_entropy":
            freq = np.bincount(np.asarray(targets, np.int64), minlength=self.n_outputs) / len(targets)
            return [math.log(max(f, 1e-3)) for f in freq]
        if self.loss == "soft_cross_entropy":
            return [math.log(max(float(f), 1e-3)) for f in np.asarray(targets, float).mean(axis=0)]
        if self.loss == "bce":  # the mean in the targets' own dtype, then in float64 (as fold results were made)
            p = np.atleast_1d(np.clip(np.asarray(targets).mean(axis=0), 1e-3, 1 - 1e-3))
            return [math.log(float(v) / (1 - float(v))) for v in p]
        return [0.0] * self.n_outputs

    def _torch(self, value, like: torch.Tensor):
        return value if not isinstance(value, list) else torch.tensor(value, dtype=like.dtype, device=like.device)

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        """The head's outputs as predictions: values on the target's scale, or probabilities."""
        x = logits.float()
        if self.output == "sigmoid_range":
            low, high = self._torch(self.low, x), self._torch(self.high, x)
            y = torch.sigmoid(x) * (high - low)
            return y + low if np.any(self.low) else y
        if self.output == "affine":
            return x * self._torch(self.scale, x) + self._torch(self.center, x)
        if self.output == "probability":
            return torch.sigmoid(x)
        return torch.softmax(x, dim=-1)


def mlp_head(dim: int, hidden: int, dropout: float, n_outputs: int) -> torch.nn.Sequential:
    """The MLP both MLP heads are: Linear(dim, hidden) -> GELU -> Dropout -> Linear(hidden, outputs)."""
    nn = torch.nn
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, n_outputs))
