"""The heads: what predicts a task's outputs from an image's features, one table by name (HEADS, the
config's `heads`). The blend combines them per fold, the CV reports each, and the Kaggle notebook
recomputes each from the files a fold ships.

- `mlp`: the MLP head fine-tuned with the backbone (train, embed; pawpipe.model, heads.objective);
- `svr`: the kernel head on the frozen features, support vector machines as the task type asks
  (heads.kernel: an SVR per target, calibrated SVCs per class or label), cuML or scikit-learn
  (heads.backend), saved as plain arrays (heads.portable);
- `frozen_mlp`: an MLP in PyTorch on the same frozen features (heads.frozen_mlp).

A frozen-feature head's entry names the fold artifact the package ships and how to load it; the loaded
head has `feature_sets` (what it reads, in order) and `predict(x, device)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Head:
    name: str
    description: str
    model_file: str | None = None  # the fold artifact that holds it (None: the backbone's checkpoint)
    load: Callable | None = None  # path -> a head with feature_sets and predict(x, device); None: the backbone's

    @property
    def frozen(self) -> bool:
        """Whether it predicts from the frozen features (rather than from the fine-tuned backbone)."""
        return self.load is not None


def _load_kernel(path):
    from .portable import load_kernel_head

    return load_kernel_head(path)


def _load_frozen_mlp(path):
    from .frozen_mlp import FittedMLP

    return FittedMLP.load(path)


HEADS = {
    h.name: h
    for h in [
        Head("mlp", "the MLP head fine-tuned with the backbone (embed: mlp_oof.csv)"),
        Head(
            "svr",
            "the kernel head on the frozen features: SVRs or calibrated SVCs (svr: svr_oof.csv)",
            "svr.npz",
            _load_kernel,
        ),  # fmt: skip
        Head(
            "frozen_mlp",
            "an MLP trained on the same frozen features (frozen_mlp: frozen_mlp_oof.csv)",
            "frozen_mlp.pt",
            _load_frozen_mlp,
        ),  # fmt: skip
    ]
}


def get_head(name: str) -> Head:
    if name not in HEADS:
        raise ValueError(f"heads: unknown head {name!r}; known: {', '.join(HEADS)}")
    return HEADS[name]
