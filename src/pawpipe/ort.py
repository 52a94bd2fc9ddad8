"""ONNX export of a fold's frozen model and inference through ONNX Runtime (`embed.engine: onnx`).

The exported graph takes what the image cache holds, uint8 (N, H, W, 3) images, and the tabular
columns when the head reads them; it normalises inside the graph and returns the prediction (the
objective's: a value or probabilities) and the pooled embedding. LoRA adapters are merged into their base
weights before export. Every export is checked against PyTorch fp32 on cached training images and
refused when any output differs by more than `embed.onnx.atol`.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .cache import open_cache
from .data import tabular_matrix
from .io import atomic_path, read_csv, write_json
from .logs import log
from .model import PawModel, load_checkpoint
from .runtime import Inference, batched_predict

INPUTS = ("images", "meta")
OUTPUTS = ("prediction", "embedding")


class ExportError(RuntimeError):
    pass


class ServedModel(nn.Module):
    """uint8 NHWC images (+ tabular columns) -> (prediction, embedding): what the embed stage computes."""

    def __init__(self, model: PawModel, mean, std):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1) * 255)

    def forward(self, images: torch.Tensor, meta: torch.Tensor | None = None):
        x = (images.permute(0, 3, 1, 2).float() - self.mean) / self.std
        logits, emb = self.model(x, meta)
        return self.model.objective.predict(logits), emb


def merge_adapters(model: nn.Module) -> int:
    """Fold LoRA adapters into their base weights (same outputs, no adapter branch at inference)."""
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:  # peft is only needed when a checkpoint has adapters
        return 0
    layers = [m for m in model.modules() if isinstance(m, LoraLayer)]
    for layer in layers:
        layer.merge()
    return len(layers)


def served_from_checkpoint(checkpoint: str | Path) -> tuple[ServedModel, dict]:
    model, ckpt = load_checkpoint(checkpoint, "cpu")
    model.requires_grad_(False).eval()
    merge_adapters(model)
    args = ckpt["model_args"]
    return ServedModel(model, args["mean"], args["std"]).eval(), ckpt


EXPORTERS = ("torchscript", "dynamo")


def export_graph(
    served: ServedModel,
    sample: torch.Tensor,
    meta: torch.Tensor | None,
    path: Path,
    opset: int,
    exporter: str = "torchscript",
) -> None:
    """Export `served` to ONNX at `path` with a dynamic batch axis.

    `torchscript` is PyTorch's tracing exporter (deprecated since torch 2.9, but its graphs ran faster
    in ONNX Runtime here: BENCHMARKS.md); `dynamo` is the torch.export-based one that replaces it.
    """
    args = (sample, meta) if meta is not None else (sample,)
    names = list(INPUTS[: len(args)])
    common = {"input_names": names, "output_names": list(OUTPUTS), "opset_version": opset}
    if exporter == "torchscript":
        dynamic = {name: {0: "batch"} for name in [*names, *OUTPUTS]}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=(DeprecationWarning, torch.jit.TracerWarning))
            torch.onnx.export(served, args, str(path), dynamic_axes=dynamic, dynamo=False, **common)
    elif exporter == "dynamo":
        batch = torch.export.Dim("batch")
        dynamic = tuple({0: batch} for _ in args)
        torch.onnx.export(
            served, args, str(path), dynamic_shapes=dynamic, dynamo=True, external_data=False, verbose=False, **common
        )
    else:
        raise ValueError(f"embed.onnx.exporter must be one of {EXPORTERS}, not {exporter!r}")


def session(path: str | Path, threads: int = 1, device: str = "cpu"):
    """An ONNX Runtime session on the CPU (or CUDA where this onnxruntime build has it and it is asked for)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(str(path), sess_options=opts, providers=providers)


def ort_forward(sess):
    """An ONNX Runtime session as an engine for runtime.batched_predict (CPU tensors in and out)."""
    wants_meta = any(i.name == "meta" for i in sess.get_inputs())

    def forward(x: torch.Tensor, meta: torch.Tensor | None):
        if wants_meta and meta is None:
            raise ValueError("this ONNX model's head reads the metadata columns (head.metadata): pass them")
        feed = {"images": x.cpu().numpy()}
        if wants_meta:
            feed["meta"] = meta.cpu().numpy().astype(np.float32)
        return tuple(torch.from_numpy(o) for o in sess.run(None, feed))  # in the graph's order: OUTPUTS

    return forward


@dataclass(frozen=True)
class ExportJob:
    """The export_onnx rule's inputs and outputs for one fold."""

    fold: int
    checkpoint: str
    folds_csv: str
    train_npy: str
    train_index: str
    train_table: str
    task: str  # task.json: the tabular columns a metadata-aware head reads
    out_onnx: str
    out_report: str


def check_sample(job: ExportJob, check_images: int, head_metadata: bool):
    """The first `check_images` validation images of the fold (and their metadata rows)."""
    folds = read_csv(job.folds_csv)
    rows = np.flatnonzero(folds["fold"].to_numpy() == job.fold)[:check_images]
    images = np.ascontiguousarray(open_cache(job.train_npy, job.train_index)[rows])
    if head_metadata:
        from .task import Task

        return images, tabular_matrix(job.train_table, folds["Id"].iloc[rows].tolist(), Task.load(job.task))
    meta = None
    return images, meta


def export_fold(job: ExportJob, onnx: dict, threads: int) -> dict:
    """Export a fold's best checkpoint and check it against PyTorch fp32 on the first
    `onnx["check_images"]` validation images of the fold; write the graph and the check's report
    atomically. `onnx` is the config's embed.onnx block (exporter, opset, atol, check_images)."""
    torch.set_num_threads(max(1, int(threads)))
    served, ckpt = served_from_checkpoint(job.checkpoint)
    args = ckpt["model_args"]
    sample_images, sample_meta = check_sample(job, onnx["check_images"], bool(args.get("head_metadata")))
    images = torch.from_numpy(sample_images)
    meta = torch.from_numpy(sample_meta) if sample_meta is not None else None
    with torch.no_grad():
        ref_pred, ref_emb = (t.numpy() for t in served(images, meta))
    opset, exporter, atol = onnx["opset"], onnx["exporter"], onnx["atol"]
    out_onnx, out_report = job.out_onnx, job.out_report

    with atomic_path(out_onnx) as tmp:
        t0 = time.perf_counter()
        export_graph(served, images[:2], meta[:2] if meta is not None else None, tmp, opset, exporter)
        export_s = time.perf_counter() - t0
        inf = Inference(batch_size=len(sample_images), hflip=False, amp=None, compile=False)
        forward = ort_forward(session(tmp, threads))
        rows = np.arange(len(sample_images))
        pred, emb = batched_predict(forward, sample_images, rows, inf, torch.device("cpu"), sample_meta)
        diff = {"prediction": float(np.abs(pred - ref_pred).max()), "embedding": float(np.abs(emb - ref_emb).max())}
        worst = max(diff, key=diff.get)
        if diff[worst] > atol:
            raise ExportError(
                f"{out_onnx}: ONNX Runtime's {worst} differs from PyTorch's by {diff[worst]:.3g} on "
                f"{len(sample_images)} cached training images (tolerance embed.onnx.atol = {atol:g}); the export "
                f"is not kept. Use embed.engine: torch, or try another embed.onnx.opset"
            )
    report = {
        "checkpoint": str(job.checkpoint),
        "epoch": int(ckpt["epoch"]),
        "head_metadata": bool(args.get("head_metadata")),
        "image_size": int(args["image_size"]),
        "embedding_dim": int(ref_emb.shape[1]),
        "opset": opset,
        "exporter": exporter,
        "export_seconds": round(export_s, 2),
        "check": {"images": len(sample_images), "atol": atol, "max_abs_diff": diff, "reference": "PyTorch fp32, CPU"},
    }
    write_json(report, out_report)
    log.info(
        "exported %s (%s exporter, opset %d, %.1f s): max |ONNX Runtime - PyTorch| over %d images: prediction %.2e, "
        "embedding %.2e (tolerance %g)",
        out_onnx,
        exporter,
        opset,
        export_s,
        len(sample_images),
        diff["prediction"],
        diff["embedding"],
        atol,
    )
    return report
