"""Plain-dict views of the config that the workflow passes to rules (no heavy imports here:
the Snakefile imports this module while it builds the DAG)."""

from __future__ import annotations

from typing import Any


def resolve_model_args(backbone: dict[str, Any], head: dict[str, Any], image_size: int) -> dict[str, Any]:
    """The constructor arguments stored in checkpoints (normalisation is added once the model exists)."""
    kwargs = backbone.get("kwargs") or {}
    if "img_size" in kwargs and int(kwargs["img_size"]) != int(image_size):
        shape = ", ".join(f"{k}={kwargs[k]}" for k in kwargs)
        raise ValueError(
            f"backbone.kwargs.img_size is {kwargs['img_size']} but image.size is {image_size}: the model would not "
            f"accept the cached images. backbone.kwargs is {{{shape}}}. A --configfile overlay is merged key by key "
            f"into config/config.yaml, whose backbone.kwargs shrink the demo's Swin; an overlay that changes the "
            f"backbone must set each of those keys itself (see config/petfinder.yaml), or set img_size to image.size"
        )
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
