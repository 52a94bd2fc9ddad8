"""Device, precision and the one batched predictor that training, embedding, the ImageNet logits,
ONNX Runtime, the Kaggle notebook and the benchmark all run images through."""

from __future__ import annotations

import contextlib
import os
import queue
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from .model import PawModel

# An engine's forward: uint8 NHWC images on the device (+ metadata rows or None) -> float outputs.
Forward = Callable[[torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, ...]]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available; set device: auto or cpu")
    return torch.device(name)


BF16_NATIVE = (8, 0)  # the CUDA compute capability from which bf16 runs natively (Ampere, Hopper)


def choose_amp(mode: str, capability: tuple[int, int] | None) -> str | None:
    """`amp: auto|bf16|fp16|off` on a device of this CUDA compute capability (None: a CPU) -> bf16,
    fp16 or None. auto is what the device does natively: bf16 from compute capability 8.0 (Ampere,
    Hopper), fp16 below (T4, V100, P100: `torch.cuda.is_bf16_supported()` also counts emulated bf16,
    which runs at fp32 speed or worse), and none on a CPU. bf16 and fp16 asked for explicitly are kept,
    on a CPU too (PyTorch autocasts there), which is how the tests run the GPU switches on a CPU."""
    if mode == "off":
        return None
    if mode == "auto":
        return None if capability is None else ("bf16" if capability >= BF16_NATIVE else "fp16")
    return mode


def inference_amp(trained: str, capability: tuple[int, int] | None) -> str:
    """The `amp` a packaged model predicts with on a device of this compute capability (None: a CPU):
    fp16 on GPUs without native bf16 (Kaggle's T4, a P100) whatever it was trained in, else as trained."""
    return "fp16" if capability is not None and capability < BF16_NATIVE else trained


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for `amp: auto|bf16|fp16|off` on `device` (see choose_amp)."""
    capability = torch.cuda.get_device_capability(device) if device.type == "cuda" else None
    return {"bf16": torch.bfloat16, "fp16": torch.float16, None: None}[choose_amp(mode, capability)]


def precision_name(dtype: torch.dtype | None) -> str:
    """What a job computed in, as cv.json and metrics.csv record it: bf16, fp16 or fp32."""
    return {torch.bfloat16: "bf16", torch.float16: "fp16", None: "fp32"}[dtype]


def use_channels_last(setting: bool | str, device: torch.device) -> bool:
    """`channels_last: auto` is on for CUDA only; true or false apply on any device."""
    return device.type == "cuda" if setting == "auto" else bool(setting)


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


@dataclass(frozen=True)
class Inference:
    """How images go through a model: images per forward pass, flip TTA, autocast dtype, compile."""

    batch_size: int
    hflip: bool
    amp: torch.dtype | None
    compile: bool


def _batches(images: np.ndarray, rows: np.ndarray, meta, batch_size: int, pin: bool) -> Iterator[tuple]:
    """(uint8 images, metadata) of consecutive row chunks, read by a thread one batch ahead of the
    model (memory-mapped reads and pinning overlap the device's work)."""
    chunks: queue.Queue = queue.Queue(maxsize=2)

    def load():
        for start in range(0, len(rows), batch_size):
            idx = rows[start : start + batch_size]
            x = torch.from_numpy(np.ascontiguousarray(images[idx]))
            m = torch.from_numpy(np.ascontiguousarray(meta[idx], np.float32)) if meta is not None else None
            chunks.put((x.pin_memory(), m.pin_memory() if m is not None else None) if pin else (x, m))
        chunks.put(None)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    while (item := chunks.get()) is not None:
        yield item
    thread.join()


@torch.no_grad()
def batched_predict(
    forward: Forward,
    images: np.ndarray,
    rows: np.ndarray,
    inf: Inference,
    device: torch.device,
    meta: np.ndarray | None = None,
    desc: str = "predict",
) -> tuple[np.ndarray, ...]:
    """forward's outputs for images[rows], in the order of `rows`, as float32 numpy arrays.

    Rows are read in sorted order (memory-mapped caches read fastest that way). With `inf.hflip`
    each batch is doubled with its mirror and every output is the mean of the two views. With
    `inf.compile` the last batch is padded to `inf.batch_size`, so a compiled forward sees one
    shape. Outputs stay on the device and are copied to the host once at the end.
    """
    rows = np.asarray(rows)
    order = np.argsort(rows, kind="stable")
    outs: list[list[torch.Tensor]] = []
    batches = _batches(images, rows[order], meta, inf.batch_size, pin=device.type == "cuda")
    total = -(-len(rows) // inf.batch_size)
    for x, m in tqdm(batches, total=total, desc=desc, unit="batch", disable=None, leave=False):
        n = len(x)
        x = x.to(device, non_blocking=True)
        m = m.to(device, non_blocking=True) if m is not None else None
        if inf.compile and n < inf.batch_size:
            x = torch.cat([x, x.new_zeros((inf.batch_size - n, *x.shape[1:]))])
            m = torch.cat([m, m.new_zeros((inf.batch_size - n, *m.shape[1:]))]) if m is not None else None
        if inf.hflip:  # one doubled batch: the image and its mirror (NHWC: width is dim 2)
            x = torch.cat([x, x.flip(2)])
            m = torch.cat([m, m]) if m is not None else None
        result = [o.float() for o in forward(x, m)]
        if inf.hflip:
            half = len(x) // 2
            result = [(o[:half] + o[half:]) / 2 for o in result]
        outs.append([o[:n] for o in result])
    if not outs:
        return tuple(np.zeros((0,), np.float32) for _ in range(2))
    host = [torch.cat(parts).cpu().numpy() for parts in zip(*outs, strict=True)]
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return tuple(h[inverse] for h in host)


def model_forward(model: PawModel, norm: Normalizer, inf: Inference) -> Forward:
    """PawModel as an engine: (predictions, embedding), normalised and autocast on the device; compiled
    with one fixed shape when `inf.compile`. The predictions are the objective's (pawpipe.heads.objective)."""

    def forward(x: torch.Tensor, meta: torch.Tensor | None):
        with autocast(norm.device, inf.amp):
            logits, emb = model(norm(x), meta)
        return model.objective.predict(logits), emb

    return torch.compile(forward, dynamic=False) if inf.compile else forward


def predict(
    model: PawModel,
    images: np.ndarray,
    rows: np.ndarray,
    norm: Normalizer,
    inf: Inference,
    meta: np.ndarray | None = None,
    desc: str = "predict",
) -> tuple[np.ndarray, np.ndarray]:
    """Predictions (the objective's: values or probabilities) and embeddings of images[rows] through a
    PawModel. `meta` (rows aligned with `images`) feeds a metadata-aware head.
    """
    if model.meta_dim and meta is None:
        raise ValueError("this model's head reads the metadata columns (head.metadata): pass them")
    model.eval()
    return batched_predict(model_forward(model, norm, inf), images, rows, inf, norm.device, meta, desc)


MEMORY_KEYS = {
    "train": "train.batch_size (raise train.accumulate to keep the effective batch), "
    "train.grad_checkpointing: true, train.amp: bf16 or fp16, image.size",
    "validate": "train.eval_batch_size, image.size",
    "embed": "embed.batch_size, image.size",
    "extract": "embed.batch_size (extractors run batches of that size), or a smaller input size in the "
    "extractor's kwargs (e.g. img_size)",
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
