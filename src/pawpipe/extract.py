"""Frozen feature extractors: pretrained timm models whose outputs become SVR feature sets.

The contest's winner fitted SVRs on frozen features of many pretrained models (CLIP, BEiT, ConvNeXt,
EVA; ImageNet-1k classifier outputs beat pooled embeddings) and chose the combination by CV. Each
extractor here is one job per experiment, not per fold: the features do not depend on the fold.
Every image is decoded from its file with the model's own preprocessing (timm's eval transform: its
input size, crop and interpolation; its mean and std on the device), batched through the shared
predictor (bf16 where the device has it, flip TTA as embed.tta_hflip says), and written as one
parquet table: Id, split, and a column per output (`embedding_0`.., `logits_0`..).

The Kaggle notebook builds the same model from the packaged weights and runs the same function.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .data import read_rgb, read_table
from .embed import EmbedSettings
from .io import atomic_path, write_json
from .logs import log
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

TAKES = ("embedding", "logits")


def model_args(spec: dict[str, Any]) -> dict[str, Any]:
    """An extractor's entry as the arguments model.create_backbone takes."""
    return {
        "name": spec["model"],
        "pretrained": spec["pretrained"],
        "weights": spec.get("weights"),
        "kwargs": spec.get("kwargs") or {},
        "config_key": f"extractors[{spec['name']}]",
    }


def create_extractor(spec: dict[str, Any], seed: int, load_pretrained: bool = True) -> torch.nn.Module:
    """The extractor's timm model, with its classifier when `take` asks for logits. A model without
    pretrained weights is initialised from `seed`, so the Kaggle package rebuilds the same weights."""
    from .model import create_backbone

    torch.manual_seed(seed)
    num_classes = None if "logits" in spec["take"] else 0
    return create_backbone(model_args(spec), load_pretrained, num_classes=num_classes).eval()


def data_config(model: torch.nn.Module) -> dict[str, Any]:
    """timm's preprocessing for the model: input size, interpolation, crop, mean and std (JSON-ready)."""
    import timm

    cfg = timm.data.resolve_model_data_config(model)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}


class DecodedImages:
    """Image files decoded on demand, batch by batch, with timm's eval transform (resize, centre crop)
    into uint8 (B, H, W, 3) arrays, in `workers` threads (PIL decodes and resizes without the GIL)."""

    def __init__(self, paths: list[Path], cfg: dict[str, Any], workers: int):
        from timm.data import create_transform

        self.paths, self.workers = paths, max(1, workers)
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()}
        self.transform = create_transform(**kwargs, is_training=False, use_prefetcher=True)
        # timm resizes the short side to input_size / crop_pct before its centre crop: decode no smaller
        short = math.ceil(max(cfg["input_size"][1:]) / cfg.get("crop_pct", 1.0))
        self.draft = (short, short)

    def __len__(self) -> int:
        return len(self.paths)

    def _one(self, i: int) -> np.ndarray:
        with read_rgb(self.paths[i], self.draft) as img:
            chw = np.asarray(self.transform(img))  # a uint8 tensor (timm 1.x) or array: (3, H, W) either way
            return chw.transpose(1, 2, 0)

    def __getitem__(self, rows) -> np.ndarray:
        rows = np.atleast_1d(rows)
        with ThreadPoolExecutor(self.workers) as pool:
            return np.stack(list(pool.map(self._one, rows.tolist())))


def extractor_forward(model: torch.nn.Module, norm: Normalizer, amp, take: list[str]) -> Callable:
    """(outputs in `take` order) of a batch: the pooled embedding and/or the classifier's logits."""

    def forward(x: torch.Tensor, meta: torch.Tensor | None):
        with autocast(norm.device, amp):
            feats = model.forward_features(norm(x))
            out = {"embedding": model.forward_head(feats, pre_logits=True)}
            if "logits" in take:
                out["logits"] = model.forward_head(feats)
        return tuple(out[t].float() for t in take)

    return forward


def run_extractor(model, cfg: dict, take: list[str], images: DecodedImages, settings: EmbedSettings, desc: str):
    """{take: float32 (N, D)} for every image of `images`, through the shared batched predictor, run as
    the embed stage runs (settings' device, amp, threads, batch size, flip TTA; always PyTorch, eager)."""
    dev = resolve_device(settings.device)
    model = model.to(dev).requires_grad_(False).eval()
    inf = Inference(settings.batch_size, settings.hflip, amp_dtype(settings.amp, dev), compile=False)
    forward = extractor_forward(model, Normalizer(cfg["mean"], cfg["std"], dev), inf.amp, take)
    with explain_oom("extract"):
        outputs = batched_predict(forward, images, np.arange(len(images)), inf, dev, desc=desc)
    return dict(zip(take, outputs, strict=True))


def feature_frame(ids: list[str], split: str, outputs: dict[str, np.ndarray]) -> pd.DataFrame:
    """Id, split and one float32 column per output dimension (`embedding_0`, ..., `logits_0`, ...)."""
    parts = [pd.DataFrame({"Id": ids, "split": split})]
    for take, values in outputs.items():
        cols = [f"{take}_{i}" for i in range(values.shape[1])]
        parts.append(pd.DataFrame(values.astype(np.float32), columns=cols))
    return pd.concat(parts, axis=1)


@dataclass(frozen=True)
class ExtractJob:
    """The extract rule's inputs and outputs: one extractor over the train and test images."""

    data_dir: str
    train_table: str
    test_table: str
    out_table: str
    out_info: str
    task: str  # task.json: the id column and where each row's image lies


def extract(job: ExtractJob, spec: dict[str, Any], seed: int, settings: EmbedSettings) -> dict:
    """One extractor's outputs for every train and test image, as a parquet table."""
    from .task import Task

    set_threads(settings.threads)
    t0 = time.perf_counter()
    task = Task.load(job.task)
    model = create_extractor(spec, seed)
    if not spec["pretrained"]:
        log.warning("extractor %s: pretrained is false, so its features come from random weights", spec["name"])
    cfg = data_config(model)
    frames, shapes = [], {}
    for split, table in (("train", job.train_table), ("test", job.test_table)):
        rows = read_table(table, task.id)
        ids = rows["Id"].tolist()
        images = DecodedImages(task.image_paths(job.data_dir, split, rows), cfg, settings.threads)
        outputs = run_extractor(model, cfg, spec["take"], images, settings, f"{spec['name']} {split}")
        frames.append(feature_frame(ids, split, outputs))
        shapes = {t: int(v.shape[1]) for t, v in outputs.items()}
    with atomic_path(job.out_table) as tmp:
        pd.concat(frames, ignore_index=True).to_parquet(tmp, index=False)
    info = {"name": spec["name"], "model": spec["model"], "data_config": cfg, "dims": shapes}
    info |= {"rows": sum(len(f) for f in frames), "seconds": time.perf_counter() - t0}
    write_json(info, job.out_info)
    log.info(
        "extractor %s (%s, %s px): %s for %d images in %.1f s",
        spec["name"], spec["model"], cfg["input_size"][1], shapes, info["rows"], info["seconds"],
    )  # fmt: skip
    return info
