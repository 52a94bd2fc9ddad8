"""How much of the backbone trains: everything, LoRA adapters only (peft), or all but a frozen prefix.

The mode is part of the model's constructor arguments, so a checkpoint rebuilds the same adapted
network (adapters included) and the embed stage extracts embeddings from it.
"""

from __future__ import annotations

from typing import Any

from torch import nn

LORA_TARGETS = ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")


def _stages(backbone: nn.Module) -> nn.ModuleList:
    stages = getattr(backbone, "layers", None) or getattr(backbone, "stages", None)
    if stages is None:
        raise ValueError(f"{type(backbone).__name__} has no stages (layers/stages); use finetune mode full")
    return stages


def lora_target_regex(stages: list[int] | None, n_stages: int, targets: list[str]) -> str:
    chosen = range(n_stages) if stages is None else stages
    for s in chosen:
        if not 0 <= s < n_stages:
            raise ValueError(f"backbone.finetune.lora.stages: stage {s} does not exist (0..{n_stages - 1})")
    modules = "|".join(t.replace(".", r"\.") for t in targets)
    return rf"layers\.({'|'.join(map(str, chosen))})\.blocks\.\d+\.({modules})"


def apply_finetune(backbone: nn.Module, spec: dict[str, Any] | None) -> nn.Module:
    """Adapt `backbone` in place for the fine-tuning mode and return it (the head always trains)."""
    spec = spec or {}
    mode = spec.get("mode", "full")
    if mode == "full":
        return backbone
    if mode == "frozen":
        n = int(spec.get("freeze_stages", 0))
        stages = _stages(backbone)
        if n > len(stages):
            raise ValueError(f"backbone.finetune.freeze_stages={n}, but the backbone has {len(stages)} stages")
        for module in [backbone.patch_embed, *stages[:n]]:
            module.requires_grad_(False)
        return backbone
    if mode == "lora":
        from peft import LoraConfig, inject_adapter_in_model

        lora = spec.get("lora") or {}
        regex = lora_target_regex(lora.get("stages"), len(_stages(backbone)), lora.get("targets") or list(LORA_TARGETS))
        config = LoraConfig(
            r=int(lora.get("r", 8)),
            lora_alpha=float(lora.get("alpha", 16)),
            lora_dropout=float(lora.get("dropout", 0.0)),
            target_modules=regex,
        )
        backbone = inject_adapter_in_model(config, backbone)  # freezes every non-adapter weight
        if not any(p.requires_grad for p in backbone.parameters()):
            raise ValueError(f"backbone.finetune.lora matched no layer of {type(backbone).__name__} ({regex})")
        return backbone
    raise ValueError(f"backbone.finetune.mode must be full, lora or frozen, not {mode!r}")
