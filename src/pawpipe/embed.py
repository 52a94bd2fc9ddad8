"""Freeze a fold's best checkpoint; write embeddings for all train rows and the test set, and the
MLP head's out-of-fold and test predictions.

`fold_predictor` is the one way a fold's frozen model is run: the embed stage, the Kaggle notebook
and the benchmark's section (b) all call it, so they measure and ship the same path (bf16 where the
device has it, channels_last, one compiled batch shape, batches prefetched into pinned memory,
flip TTA as one doubled batch, outputs copied to the host once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .cache import open_cache
from .data import tabular_matrix
from .io import read_csv, read_json, write_csv, write_npz
from .logs import log
from .model import PawModel, load_checkpoint
from .runtime import (
    Inference,
    Normalizer,
    amp_dtype,
    batched_predict,
    explain_oom,
    model_forward,
    resolve_device,
    set_threads,
    use_channels_last,
)

Predictor = Callable[..., tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class EmbedSettings:
    """How a fold's model is run: engine and its placement, precision, batch, TTA, compile."""

    engine: str  # torch | onnx
    device: str
    amp: str
    threads: int
    batch_size: int
    hflip: bool
    compile: bool
    channels_last: bool | str

    @classmethod
    def from_config(cls, embed: dict, train: dict, threads: int) -> EmbedSettings:
        """From the config's embed and train blocks (params and runtime settings merged)."""
        return cls(
            engine=embed["engine"],
            device=train["device"],
            amp=train["amp"],
            threads=threads,
            batch_size=embed["batch_size"],
            hflip=embed["tta_hflip"],
            compile=train["compile"],
            channels_last=train["channels_last"],
        )

    @classmethod
    def for_job(cls, embed: dict, amp: str, threads: int) -> EmbedSettings:
        """In a workflow job: the rule's embed params and amp, with the runtime settings it was handed."""
        from .config import job_runtime

        how = job_runtime()
        return cls.from_config({**embed, **how["embed"]}, {"amp": amp, **how["train"]}, threads)


@dataclass(frozen=True)
class EmbedJob:
    """The embed rule's inputs and outputs for one fold."""

    fold: int
    checkpoint: str
    folds_csv: str
    train_npy: str
    train_index: str
    test_npy: str
    test_index: str
    train_table: str
    test_table: str
    out_npz: str
    out_oof: str
    out_test: str
    task: str  # task.json
    onnx_model: str | None = None  # with embed.engine: onnx
    onnx_report: str | None = None


def fold_predictor(
    settings: EmbedSettings,
    checkpoint: str | Path | None,
    onnx_model: str | Path | None = None,
    onnx_report: str | Path | None = None,
) -> tuple[Predictor, dict]:
    """A fold's frozen model, ready to predict: `run(images, rows, desc, meta)` returns
    (predictions, embeddings) for images[rows]; `info` has head_metadata, epoch, image_size and the
    engine used.

    `engine: torch` runs the checkpoint in PyTorch; `engine: onnx` runs the fold's exported graph
    (checked at export) in ONNX Runtime on the CPU.
    """
    if settings.engine == "onnx":
        from .ort import ort_forward, session

        info = read_json(onnx_report)
        sess = session(onnx_model, settings.threads, settings.device)
        inf = Inference(settings.batch_size, settings.hflip, amp=None, compile=False)
        cpu = torch.device("cpu")

        def run_ort(images, rows, desc="predict", meta=None):
            return batched_predict(ort_forward(sess), images, rows, inf, cpu, meta, desc)

        engine = f"ONNX Runtime ({', '.join(sess.get_providers())})"
        return run_ort, {**{k: info[k] for k in ("head_metadata", "epoch", "image_size")}, "engine": engine}
    if settings.engine != "torch":
        raise ValueError(f"embed.engine must be torch or onnx, not {settings.engine!r}")
    dev = resolve_device(settings.device)
    model, ckpt = load_checkpoint(checkpoint, dev)
    run, engine = torch_predictor(model, ckpt["model_args"], settings, dev)
    args = ckpt["model_args"]
    info = {"head_metadata": bool(args.get("head_metadata")), "epoch": ckpt["epoch"], "image_size": args["image_size"]}
    return run, {**info, "engine": engine}


def torch_predictor(model: PawModel, model_args: dict, settings: EmbedSettings, dev: torch.device):
    """(run, description) for a PawModel on `dev`: frozen, channels_last, autocast and compiled as
    `settings` say. The benchmark's section (b) times exactly this."""
    model = model.to(dev).requires_grad_(False).eval()
    channels_last = use_channels_last(settings.channels_last, dev)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    norm = Normalizer(model_args["mean"], model_args["std"], dev, channels_last)
    inf = Inference(settings.batch_size, settings.hflip, amp_dtype(settings.amp, dev), settings.compile)
    forward = model_forward(model, norm, inf)

    def run(images, rows, desc="predict", meta=None):
        if model.meta_dim and meta is None:
            raise ValueError("this model's head reads the metadata columns (head.metadata): pass them")
        return batched_predict(forward, images, rows, inf, dev, meta, desc)

    switches = [str(inf.amp).replace("torch.", "") if inf.amp else "fp32"]
    switches += ["channels_last"] * channels_last + ["compiled"] * inf.compile
    return run, f"PyTorch ({dev}, {', '.join(switches)})"


def embed_fold(job: EmbedJob, settings: EmbedSettings) -> dict:
    """Embeddings and MLP predictions of every train and test row through the fold's model."""
    from .heads.stage import oof_frame
    from .task import Task

    set_threads(settings.threads)
    task = Task.load(job.task)
    folds = read_csv(job.folds_csv)
    test_ids = read_json(job.test_index)["ids"]
    run, info = fold_predictor(settings, job.checkpoint, job.onnx_model, job.onnx_report)
    log.info("fold %d: embedding through %s", job.fold, info["engine"])

    meta = info["head_metadata"]
    with explain_oom("embed"):
        train_meta = tabular_matrix(job.train_table, folds["Id"].tolist(), task) if meta else None
        test_meta = tabular_matrix(job.test_table, test_ids, task) if meta else None
        train_images = open_cache(job.train_npy, job.train_index)
        test_images = open_cache(job.test_npy, job.test_index)
        train_pred, train_emb = run(train_images, np.arange(len(folds)), "embed train", train_meta)
        test_pred, test_emb = run(test_images, np.arange(len(test_ids)), "embed test", test_meta)

    val = folds["fold"].to_numpy() == job.fold
    oof = task.put(oof_frame(folds, val, task), "pred", train_pred[val].astype(np.float64))
    write_npz(
        job.out_npz,
        train=train_emb.astype(np.float32),
        test=test_emb.astype(np.float32),
        train_ids=folds["Id"].to_numpy(str),
        test_ids=np.asarray(test_ids, str),
    )
    write_csv(oof, job.out_oof)
    write_csv(task.put(pd.DataFrame({"Id": test_ids}), "pred", test_pred.astype(np.float64)), job.out_test)
    score = task.score(task.encode(oof), task.get(oof, "pred"))
    log.info(
        "fold %d: embeddings %s train, %s test; MLP OOF %s %.4f (checkpoint epoch %d)",
        job.fold, train_emb.shape, test_emb.shape, task.scorer.label, score, info["epoch"],
    )  # fmt: skip
    return {
        f"mlp_oof_{task.metric_name}": score,
        "embedding_dim": int(train_emb.shape[1]),
        "checkpoint_epoch": info["epoch"],
    }
