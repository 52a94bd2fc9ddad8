"""The model: a timm backbone (pooled embedding) followed by an MLP head with one output per number the
task predicts (pawpipe.heads.objective turns them into predictions).

`model_args` is a plain dict stored in every checkpoint, so any later stage rebuilds the exact
architecture, and how its outputs become predictions, from the checkpoint alone (weights then come
from the checkpoint, never the hub).
"""

from __future__ import annotations

import pickle
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import timm
import torch
from torch import nn

from . import zoo  # noqa: F401  (registers the demo's micro Swin with timm)
from .heads.objective import Objective, mlp_head


class PawModel(nn.Module):
    def __init__(
        self, backbone: nn.Module, hidden: int, dropout: float, meta_dim: int = 0, objective: Objective | None = None
    ):
        super().__init__()
        self.backbone = backbone
        self.meta_dim = meta_dim
        self.objective = objective or Objective("bce", "sigmoid_range", low=0.0, high=100.0)
        dim = backbone.num_features + meta_dim
        out = self.objective.n_outputs
        self.head = mlp_head(dim, hidden, dropout, out)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone embedding, (N, num_features)."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor, meta: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (logits (N,) or (N, K), embeddings (N, D)); self.objective.predict(logits) are the
        predictions. A metadata-aware head (meta_dim > 0) reads the tabular columns beside the embedding.
        """
        f = self.features(x)
        if self.meta_dim:
            if meta is None:
                raise ValueError("this model's head reads the metadata columns (head.metadata): pass them")
            h = torch.cat([f, meta.to(device=f.device, dtype=f.dtype)], dim=1)
        else:
            h = f
        logits = self.head(h)
        return (logits.squeeze(-1) if self.objective.n_outputs == 1 else logits), f


def _weights_cached(name: str) -> bool:
    """Whether timm's pretrained weights for `name` are already in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    cfg = timm.models.get_pretrained_cfg(name)
    hub_id = getattr(cfg, "hf_hub_id", None)
    files = ("model.safetensors", "pytorch_model.bin")
    return bool(hub_id) and any(isinstance(try_to_load_from_cache(hub_id, f), str) for f in files)


def hub_reachable(timeout: float = 3.0) -> bool:
    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _unreachable(name: str, why: str, key: str = "backbone") -> RuntimeError:
    return RuntimeError(
        f"pretrained weights for {key} model {name!r} cannot be reached ({why}). Download them where there is "
        f"network access (e.g. timm.create_model({name!r}, pretrained=True) fills the Hugging Face cache, or fetch "
        f"the model's .safetensors from https://huggingface.co/timm), then set {key}.weights: /path/to/file; "
        f"or set {key}.pretrained: false"
    )


def create_backbone(args: dict[str, Any], load_pretrained: bool, num_classes: int | None = 0) -> nn.Module:
    """timm model without its classifier (num_classes=0), or with timm's own head (num_classes=None).
    `args` is the backbone's model_args, or an extractor's (pawpipe.extract.model_args); errors name
    the config key they came from (args["config_key"], default backbone)."""
    name, kwargs, key = args["name"], dict(args.get("kwargs") or {}), args.get("config_key", "backbone")
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    pretrained = bool(args.get("pretrained")) and load_pretrained
    weights = args.get("weights")
    if pretrained and weights:
        if not Path(weights).is_file():
            raise FileNotFoundError(f"{key}.weights: {weights} not found; put the timm checkpoint for {name!r} there")
        # Through timm's own loader, so its checkpoint filtering (e.g. Swin's) and head removal apply.
        kwargs["pretrained_cfg_overlay"] = {"file": str(weights)}
    elif pretrained and not _weights_cached(name) and not hub_reachable():
        raise _unreachable(name, "no network connection to the Hugging Face hub and nothing in its local cache", key)
    try:
        return timm.create_model(name, pretrained=pretrained, **kwargs)
    except (RuntimeError, OSError, ValueError) as exc:
        if not pretrained:
            raise
        if "size mismatch" in str(exc):
            source = weights or "the Hugging Face hub"
            raise RuntimeError(
                f"the pretrained weights for {name!r} from {source} do not fit the model that {key}.kwargs "
                f"{dict(args.get('kwargs') or {})} builds: {str(exc)[:300]}. Remove or correct the shape keys "
                f"(img_size, window_size, embed_dim, depths, num_heads) in {key}.kwargs"
            ) from exc
        raise _unreachable(name, f"{type(exc).__name__}: {str(exc)[:300]}", key) from exc


def create_model(args: dict[str, Any], *, load_pretrained: bool = True) -> PawModel:
    """Build the model from `model_args`. `load_pretrained=False` when weights follow from a checkpoint."""
    from .finetune import apply_finetune

    backbone = apply_finetune(create_backbone(args, load_pretrained), args.get("finetune"))
    objective = Objective.from_dict(args["objective"]) if args.get("objective") else None
    hidden, dropout = int(args["head_hidden"]), float(args["head_dropout"])
    return PawModel(backbone, hidden, dropout, meta_dim=int(args.get("meta_dim", 0)), objective=objective)


def resolve_normalization(model: PawModel) -> tuple[list[float], list[float]]:
    """Mean and std the backbone expects, as timm declares them."""
    cfg = timm.data.resolve_model_data_config(model.backbone)
    return list(cfg["mean"]), list(cfg["std"])


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> tuple[PawModel, dict]:
    """Rebuild a model from a checkpoint written by the train stage; return (model, checkpoint).

    Loaded with weights_only=True: tensors and plain containers only, so a checkpoint that came from
    elsewhere (a downloaded Kaggle dataset) cannot run code. Half-precision weights (the Kaggle
    package's) are cast to the model's float32 parameters.
    """
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0][:300]
        raise RuntimeError(
            f"{path}: holds more than tensors and plain containers, and pawpipe loads checkpoints only with "
            f"weights_only=True (loading must run no code): {first}. Retrain the fold with this version of pawpipe"
        ) from None
    model = create_model(ckpt["model_args"], load_pretrained=False)
    model.load_state_dict(ckpt["model"])
    return model.to(device), ckpt


def count_parameters(model: nn.Module) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def check_pretrained(args: dict[str, Any]) -> dict[str, Any]:
    """Load the pretrained backbone once, early: a missing file or hub fails before any training."""
    if not args.get("pretrained"):
        return {"pretrained": False}
    backbone = create_backbone(args, load_pretrained=True)
    n = sum(p.numel() for p in backbone.parameters())
    return {"pretrained": True, "name": args["name"], "weights": args.get("weights") or "hub", "parameters": n}
