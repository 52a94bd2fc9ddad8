"""Device, precision and batched inference shared by the train and embed stages."""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch
from tqdm import tqdm

from .model import PawModel


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available; set device: auto or cpu")
    return torch.device(name)


def choose_amp(mode: str, capability: tuple[int, int] | None) -> str | None:
    """`amp: auto|bf16|fp16|off` on a CUDA device of this compute capability (None: not CUDA) -> bf16, fp16
    or None. auto takes bf16 only where the GPU computes it natively (compute capability 8.0, Ampere, and
    newer): torch.cuda.is_bf16_supported() also counts emulation, which runs at fp32 speed or worse (T4)."""
    if capability is None or mode == "off":
        return None
    if mode == "auto":
        return "bf16" if capability >= (8, 0) else "fp16"
    return mode


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for `amp: auto|bf16|fp16|off`. Mixed precision is used on CUDA only."""
    capability = torch.cuda.get_device_capability(device) if device.type == "cuda" else None
    chosen = choose_amp(mode, capability)
    return {"bf16": torch.bfloat16, "fp16": torch.float16, None: None}[chosen]


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_threads(threads: int) -> None:
    torch.set_num_threads(max(1, int(threads)))
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))


class Normalizer:
    """uint8 NHWC batches -> normalised float NCHW on the device (normalising there, not in workers)."""

    def __init__(self, mean, std, device: torch.device, channels_last: bool = False):
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1) * 255
        self.device = device
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float()
        return ((x - self.mean) / self.std).contiguous(memory_format=self.memory_format)


@torch.no_grad()
def predict(
    model: PawModel,
    images: np.ndarray,
    indices: np.ndarray,
    batch_size: int,
    norm: Normalizer,
    amp: torch.dtype | None,
    desc: str = "predict",
    hflip: bool = False,
    meta: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pawpularity predictions (1..100 scale) and embeddings for images[indices], in that order.

    With `hflip`, each image is also seen mirrored: probabilities and embeddings are the means of
    both views, so an image and its mirror get the same outputs. `meta` (rows aligned with `images`)
    feeds a metadata-aware head.
    """
    model.eval()
    preds, feats = [], []
    bar = tqdm(range(0, len(indices), batch_size), desc=desc, unit="batch", disable=None, leave=False)
    for start in bar:
        idx = indices[start : start + batch_size]
        x = norm(torch.from_numpy(np.ascontiguousarray(images[np.sort(idx)])))
        order = np.argsort(np.argsort(idx))  # memmap reads want sorted indices; restore the order asked
        m = torch.from_numpy(meta[np.sort(idx)]).to(norm.device) if meta is not None else None
        views = [x, x.flip(3)] if hflip else [x]
        prob, emb = 0, 0
        for view in views:
            with autocast(norm.device, amp):
                logits, f = model(view, m)
            prob = prob + torch.sigmoid(logits.float())
            emb = emb + f.float()
        preds.append((prob / len(views) * 100).cpu().numpy()[order])
        feats.append((emb / len(views)).cpu().numpy()[order])
    dim = model.backbone.num_features
    return (
        np.concatenate(preds) if preds else np.zeros(0, np.float32),
        np.concatenate(feats) if feats else np.zeros((0, dim), np.float32),
    )


MEMORY_KEYS = {
    "train": "train.batch_size (raise train.accumulate to keep the effective batch), "
    "train.grad_checkpointing: true, train.amp: bf16 or fp16, image.size",
    "validate": "train.eval_batch_size, image.size",
    "embed": "embed.batch_size, image.size",
}


@contextlib.contextmanager
def explain_oom(stage: str):
    """Turn a CUDA out-of-memory error into one that names the config keys that reduce memory."""
    try:
        yield
    except torch.cuda.OutOfMemoryError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "out of memory"
        raise RuntimeError(
            f"{stage}: the GPU ran out of memory ({first}). Lower the memory use with: {MEMORY_KEYS[stage]}"
        ) from None
