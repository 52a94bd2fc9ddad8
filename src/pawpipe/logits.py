"""The pretrained network's own classifier outputs (e.g. ImageNet-1k logits) for every image.

The contest's winner found these a better SVR input than pooled embeddings. They come from the
pretrained weights, not a fine-tuned fold, so one job per experiment serves every fold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import timm
import torch

from .cache import open_cache
from .embed import EmbedSettings
from .io import read_json, write_npz
from .logs import log
from .model import create_classifier
from .runtime import (
    Inference,
    Normalizer,
    amp_dtype,
    autocast,
    batched_predict,
    explain_oom,
    resolve_device,
    set_threads,
)


@dataclass(frozen=True)
class LogitsJob:
    """The imagenet_logits rule's inputs and output."""

    train_npy: str
    test_npy: str
    train_index: str
    test_index: str
    out_npz: str


def classifier_forward(model, norm: Normalizer, amp: torch.dtype | None):
    def forward(x: torch.Tensor, meta: torch.Tensor | None):
        with autocast(norm.device, amp):
            return (model(norm(x)),)

    return forward


def imagenet_logits(job: LogitsJob, model_args: dict, settings: EmbedSettings) -> dict:
    set_threads(settings.threads)
    dev = resolve_device(settings.device)
    if not model_args.get("pretrained"):
        log.warning("backbone.pretrained is false: these 'logits' come from a randomly initialised classifier")
    model = create_classifier(model_args).to(dev).eval()
    cfg = timm.data.resolve_model_data_config(model)
    inf = Inference(settings.batch_size, settings.hflip, amp_dtype(settings.amp, dev), compile=False)
    forward = classifier_forward(model, Normalizer(cfg["mean"], cfg["std"], dev), inf.amp)
    with explain_oom("embed"):
        outputs = {}
        for split, npy, index in (("train", job.train_npy, job.train_index), ("test", job.test_npy, job.test_index)):
            images = open_cache(npy, index)
            (outputs[split],) = batched_predict(forward, images, np.arange(len(images)), inf, dev, desc="logits")
    write_npz(
        job.out_npz,
        **{split: out.astype(np.float32) for split, out in outputs.items()},
        train_ids=np.asarray(read_json(job.train_index)["ids"], str),
        test_ids=np.asarray(read_json(job.test_index)["ids"], str),
    )
    log.info("classifier outputs: %s train, %s test", outputs["train"].shape, outputs["test"].shape)
    return {"classes": int(outputs["train"].shape[1])}
