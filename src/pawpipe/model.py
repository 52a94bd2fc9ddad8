"""The model: a timm backbone (pooled embedding) followed by an MLP head that outputs one logit.

`model_args` is a plain dict stored in every checkpoint, so any later stage rebuilds the exact
architecture from the checkpoint alone (weights then come from the checkpoint, never the hub).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn


class PawModel(nn.Module):
    def __init__(self, backbone: nn.Module, hidden: int, dropout: float):
        super().__init__()
        self.backbone = backbone
        dim = backbone.num_features
        self.head = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone embedding, (N, num_features)."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (logits (N,), embeddings (N, D)). Pawpularity = 100 * sigmoid(logit)."""
        f = self.features(x)
        return self.head(f).squeeze(-1), f


def _create_backbone(args: dict[str, Any], load_pretrained: bool) -> nn.Module:
    name, kwargs = args["name"], dict(args.get("kwargs") or {})
    pretrained = bool(args.get("pretrained")) and load_pretrained
    weights = args.get("weights")
    if pretrained and weights:
        if not Path(weights).is_file():
            raise FileNotFoundError(
                f"backbone.weights: {weights} not found; download the timm checkpoint for {name!r} there"
            )
        kwargs["pretrained_cfg_overlay"] = {"file": str(weights)}
    try:
        return timm.create_model(name, pretrained=pretrained, num_classes=0, **kwargs)
    except (RuntimeError, OSError, ValueError) as exc:
        if not pretrained:
            raise
        raise RuntimeError(
            f"could not load pretrained weights for backbone {name!r} ({exc}). Without network access, "
            f"download them once and set backbone.weights to the file, or set backbone.pretrained: false"
        ) from exc


def create_model(args: dict[str, Any], *, load_pretrained: bool = True) -> PawModel:
    """Build the model from `model_args`. `load_pretrained=False` when weights follow from a checkpoint."""
    backbone = _create_backbone(args, load_pretrained)
    return PawModel(backbone, hidden=int(args["head_hidden"]), dropout=float(args["head_dropout"]))


def resolve_normalization(model: PawModel) -> tuple[list[float], list[float]]:
    """Mean and std the backbone expects, as timm declares them."""
    cfg = timm.data.resolve_model_data_config(model.backbone)
    return list(cfg["mean"]), list(cfg["std"])


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> tuple[PawModel, dict]:
    """Rebuild a model from a checkpoint written by the train stage; return (model, checkpoint)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model = create_model(ckpt["model_args"], load_pretrained=False)
    model.load_state_dict(ckpt["model"])
    return model.to(device), ckpt


def count_parameters(model: nn.Module) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
