"""Plain-dict views of the config that the workflow passes to rules (no heavy imports here:
the Snakefile imports this module while it builds the DAG)."""

from __future__ import annotations

from typing import Any


def resolve_model_args(backbone: dict[str, Any], head: dict[str, Any], image_size: int) -> dict[str, Any]:
    """The constructor arguments stored in checkpoints (normalisation is added once the model exists)."""
    return {
        "name": backbone["name"],
        "pretrained": bool(backbone.get("pretrained", False)),
        "weights": backbone.get("weights"),
        "kwargs": dict(backbone.get("kwargs") or {}),
        "finetune": dict(backbone.get("finetune") or {"mode": "full"}),
        "head_hidden": int(head["hidden"]),
        "head_dropout": float(head["dropout"]),
        "head_metadata": bool(head.get("metadata", False)),
        "image_size": int(image_size),
    }
