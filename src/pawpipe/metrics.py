"""The competition's metric."""

from __future__ import annotations

import numpy as np


def rmse(pred, target) -> float:
    """Root mean squared error of two equally long sequences, in the target's units."""
    return float(np.sqrt(np.mean((np.asarray(pred, float) - np.asarray(target, float)) ** 2)))
