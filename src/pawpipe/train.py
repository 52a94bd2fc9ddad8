"""Train one fold: timm backbone + MLP head on the task's loss (pawpipe.heads.objective: Pawpularity's is
BCE on target / 100), AdamW, warmup + cosine; the best epoch by the task's metric on the fold's rows.

Working files live in the fold's state directory (last.pt for resuming, best.pt, metrics.csv) and
are published to the rule's outputs only when training ends, so a killed job leaves no output that
looks complete and a rerun resumes from the last finished epoch. Every epoch reseeds from (seed,
epoch) and every sample's random crop and augmentation from (seed, epoch, sample), so a resumed run
reproduces an uninterrupted one exactly on CPU, whatever the number of DataLoader workers. Training
reads a random square crop of each cached image; validation reads the centre crop. Only what a result
depends on (the model, the data, the `train` settings that are not runtime settings) identifies a
resume state: changing workers, batch sizes for inference, compile or the device resumes as before.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from .batches import CachedImages, EpochSampler, build_augment
from .cache import ImageCache, open_cache
from .data import tabular_matrix
from .heads.objective import Objective
from .io import atomic_path, publish, read_csv, write_csv
from .logs import log
from .model import PawModel, count_parameters, create_model, resolve_normalization
from .runtime import (
    Inference,
    Normalizer,
    amp_dtype,
    autocast,
    explain_oom,
    precision_name,
    predict,
    resolve_device,
    seed_everything,
    set_threads,
    use_channels_last,
)
from .task import Task
from .tracking import Tracker


@dataclass
class TrainConfig:
    """The `train` block of the validated config (its defaults live in the schema), plus the seed."""

    epochs: int
    batch_size: int
    accumulate: int
    lr: float
    weight_decay: float
    warmup_epochs: float
    min_lr_ratio: float
    amp: str
    augment: list[dict[str, Any]]
    num_workers: int
    device: str
    channels_last: bool | str
    grad_checkpointing: bool | list[int]
    compile: bool
    eval_batch_size: int
    threads: int
    keep_state: bool
    seed: int

    @classmethod
    def from_params(cls, params: dict[str, Any], seed: int) -> TrainConfig:
        return cls(**params, seed=seed)


@dataclass(frozen=True)
class FoldJob:
    """Where a fold's training reads and writes (the paths the train rule declares)."""

    folds_csv: str
    cache_npy: str
    cache_index: str
    train_table: str | None
    fold: int
    out_best: str
    out_metrics: str
    state_dir: str
    task: str  # task.json


@dataclass
class FoldData:
    images: ImageCache
    y: np.ndarray  # the objective's targets for every row of folds.csv (Pawpularity: target / 100)
    truth: np.ndarray  # the targets as the metric reads them (task.encode), for validation
    tr_idx: np.ndarray
    va_idx: np.ndarray
    meta: np.ndarray | None
    n: int
    task: Task
    objective: Objective


def set_grad_checkpointing(model: torch.nn.Module, which: bool | list[int]) -> None:
    """True/False for the whole backbone; a list of stage indices checkpoints only those stages, which
    frees most of the memory at a fraction of the recompute when the early, high-resolution stages hold
    most activations."""
    if isinstance(which, bool):
        if which:
            model.backbone.set_grad_checkpointing(True)
        return
    stages = getattr(model.backbone, "layers", None) or getattr(model.backbone, "stages", None)
    if stages is None or not all(hasattr(s, "grad_checkpointing") for s in stages):
        raise ValueError(
            f"train.grad_checkpointing: {which} lists stages, but {type(model.backbone).__name__} "
            f"has no per-stage checkpointing; use true or false"
        )
    for i in which:
        if not 0 <= i < len(stages):
            raise ValueError(f"train.grad_checkpointing: stage {i} does not exist (0..{len(stages) - 1})")
        stages[i].grad_checkpointing = True


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    # The fused CUDA kernel updates every parameter in one launch instead of several per tensor.
    params = [p for p in model.parameters() if p.requires_grad]  # LoRA / frozen stages: the trainable part only
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=device.type == "cuda")


class TrainStep:
    """One micro-batch: forward under autocast, the objective's loss, scaled backward, and an optimizer
    step when `do_step` (every `accumulate` micro-batches). Shared by training and the benchmark."""

    def __init__(self, model, optimizer, scaler, device, amp, accumulate: int = 1, compile: bool = False):
        self.forward = torch.compile(model) if compile else model
        self.optimizer, self.scaler, self.device, self.amp = optimizer, scaler, device, amp
        self.accumulate = accumulate
        self.criterion = model.objective.criterion()

    def __call__(self, x: torch.Tensor, target: torch.Tensor, do_step: bool = True, meta=None) -> torch.Tensor:
        with autocast(self.device, self.amp):
            logits, _ = self.forward(x, meta)
        loss = self.criterion(logits.float(), target)
        self.scaler.scale(loss / self.accumulate).backward()
        if do_step:
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.optimizer.zero_grad(set_to_none=True)
        return loss.detach()


def warmup_cosine(total_steps: int, warmup_steps: int, min_ratio: float):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def config_digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_fold_data(job: FoldJob, head_metadata: bool) -> FoldData:
    """The fold's rows, images and tabular columns, and its targets as the objective (fixed on the fold's
    training rows) scales them."""
    task = Task.load(job.task)
    folds = read_csv(job.folds_csv)
    images = open_cache(job.cache_npy, job.cache_index)
    if len(images) != len(folds):
        raise ValueError(
            f"{job.cache_npy} holds {len(images)} images but {job.folds_csv} has {len(folds)} rows; "
            "rerun the cache rule"
        )
    fold_of = folds["fold"].to_numpy()
    va_idx = np.flatnonzero(fold_of == job.fold)
    if len(va_idx) == 0:
        raise ValueError(f"fold {job.fold} has no validation rows in {job.folds_csv}")
    meta = tabular_matrix(job.train_table, folds["Id"].tolist(), task) if head_metadata else None
    encoded = task.encode(folds)
    tr_idx = np.flatnonzero(fold_of != job.fold)
    objective = Objective.from_dict(task.objective(encoded[tr_idx]))
    return FoldData(images, objective.targets(encoded), encoded, tr_idx, va_idx, meta, len(folds), task, objective)


@dataclass
class Session:
    """Everything one fold's training loop works with."""

    model: PawModel
    model_args: dict
    norm: Normalizer
    device: torch.device
    amp: torch.dtype | None
    loader: DataLoader
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    step: TrainStep
    warmed: bool = False  # a compiled step has run once in this process


def build_session(data: FoldData, model_args: dict, cfg: TrainConfig) -> Session:
    """Model (head bias at the training mean), loader, optimizer, schedule and the step function."""
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    model_args = {**model_args, "objective": data.objective.to_dict()}
    model = create_model(model_args).to(device)
    model_args["mean"], model_args["std"] = resolve_normalization(model)
    with torch.no_grad():  # start the head at the training rows' average: early epochs fit signal, not offset
        bias = data.objective.initial_bias(data.y[data.tr_idx])
        model.head[-1].bias.copy_(torch.tensor(bias, dtype=model.head[-1].bias.dtype))
    set_grad_checkpointing(model, cfg.grad_checkpointing)
    channels_last = use_channels_last(cfg.channels_last, device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    amp = amp_dtype(cfg.amp, device)
    dataset = CachedImages(
        data.images, data.tr_idx, data.y[data.tr_idx], build_augment(cfg.augment, cfg.seed), cfg.seed, data.meta
    )
    loader = DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        sampler=EpochSampler(len(dataset), cfg.seed),
        drop_last=len(dataset) > cfg.batch_size,
        num_workers=cfg.num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=cfg.num_workers > 0,  # workers start once per fold, not once per epoch
    )
    steps_per_epoch = math.ceil(len(loader) / cfg.accumulate)
    optimizer = make_optimizer(model, cfg, device)
    schedule = warmup_cosine(steps_per_epoch * cfg.epochs, int(cfg.warmup_epochs * steps_per_epoch), cfg.min_lr_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    scaler = torch.amp.GradScaler(device.type, enabled=amp is torch.float16)
    step = TrainStep(model, optimizer, scaler, device, amp, cfg.accumulate, cfg.compile)
    norm = Normalizer(model_args["mean"], model_args["std"], device, channels_last)
    return Session(model, model_args, norm, device, amp, loader, optimizer, scheduler, scaler, step)


def train_epoch(s: Session, cfg: TrainConfig, epoch: int, fold: int) -> dict[str, float]:
    """One pass over the fold's training rows. The loss stays on the device: the host waits for it
    only when a progress bar shows it, and once at the end. A compiled model's first step (the
    compile) is timed apart, so img/s is the steady rate."""
    seed_everything(cfg.seed * 1000 + epoch)
    s.loader.sampler.set_epoch(epoch)
    s.model.train()
    bar = tqdm(s.loader, desc=f"fold {fold} epoch {epoch + 1}/{cfg.epochs}", unit="batch", disable=None)
    s.optimizer.zero_grad(set_to_none=True)
    t0, seen, loss_sum, warmup_s = time.perf_counter(), 0, torch.zeros((), device=s.device), 0.0
    for i, (xb, yb, mb) in enumerate(bar):
        do_step = (i + 1) % cfg.accumulate == 0 or i + 1 == len(s.loader)
        mb = mb.to(s.device, non_blocking=True) if s.model.meta_dim else None
        loss = s.step(s.norm(xb), yb.to(s.device, non_blocking=True), do_step, mb)
        if do_step:
            s.scheduler.step()
        loss_sum += loss * len(xb)
        if i == 0 and cfg.compile and not s.warmed:
            if s.device.type == "cuda":
                torch.cuda.synchronize(s.device)
            warmup_s, s.warmed = time.perf_counter() - t0, True
            t0 = time.perf_counter()
        else:
            seen += len(xb)
        if not bar.disable and (i % 10 == 0 or i + 1 == len(s.loader)):
            bar.set_postfix(
                loss=f"{loss_sum.item() / (i + 1) / len(xb):.4f}", img_s=f"{seen / (time.perf_counter() - t0):.0f}"
            )
    total = loss_sum.item()  # the one host sync of the epoch
    seconds = time.perf_counter() - t0
    n = len(s.loader.dataset) if not s.loader.drop_last else len(s.loader) * cfg.batch_size
    return {"train_loss": total / max(n, 1), "train_img_s": seen / max(seconds, 1e-9), "compile_s": warmup_s}


def validate(s: Session, data: FoldData, cfg: TrainConfig) -> float:
    """The task's metric on the fold's validation rows, against their targets as the CV reads them (a
    regression scored on grades needs whole grades, not targets scaled and scaled back)."""
    inf = Inference(batch_size=cfg.eval_batch_size, hflip=False, amp=s.amp, compile=False)
    preds, _ = predict(s.model, data.images, data.va_idx, s.norm, inf, data.meta, desc="validate")
    bad = ~np.isfinite(np.asarray(preds, float).reshape(len(data.va_idx), -1)).all(axis=1)
    if bad.any():
        raise FloatingPointError(
            f"{int(bad.sum())} of {len(bad)} validation predictions are NaN or infinite: the training diverged; "
            f"lower train.lr (now {cfg.lr:g}) or use a bounded loss (task.loss: bce for a bounded regression)"
        )
    return data.task.score(data.truth[data.va_idx], preds)


def save_best(s: Session, path: Path, cfg: TrainConfig, resolved_config: dict, fold: int, epoch: int, val: float):
    """The fold's best weights and what rebuilds them: plain tensors and dicts (loads with weights_only=True)."""
    with atomic_path(path) as tmp:
        torch.save(
            {
                "model": s.model.state_dict(),
                "model_args": s.model_args,
                "config": resolved_config,
                "train": dataclasses.asdict(cfg),
                "fold": fold,
                "epoch": epoch + 1,
                "val_score": val,
            },
            tmp,
        )


def save_state(s: Session, path: Path, epoch: int, best_score: float, history: list, digest: str) -> None:
    """Everything a resumed run needs after `epoch`; tensors and plain values only (weights_only=True)."""
    with atomic_path(path) as tmp:
        torch.save(
            {
                "model": s.model.state_dict(),
                "optimizer": s.optimizer.state_dict(),
                "scheduler": s.scheduler.state_dict(),
                "scaler": s.scaler.state_dict(),
                "epoch": epoch,
                "best_score": best_score,
                "history": history,
                "digest": digest,
            },
            tmp,
        )


def restore(s: Session, state: dict) -> tuple[int, float, list]:
    s.model.load_state_dict(state["model"])
    s.optimizer.load_state_dict(state["optimizer"])
    s.scheduler.load_state_dict(state["scheduler"])
    s.scaler.load_state_dict(state["scaler"])
    return state["epoch"] + 1, state["best_score"], state["history"]


def read_state(state_dir: Path, digest: str) -> dict | None:
    """The resume state of an interrupted run of this same training, else None (a finished run's
    state, or one from another config, means training from scratch)."""
    last, best, done = state_dir / "last.pt", state_dir / "best.pt", state_dir / "done"
    if not last.exists():
        return None
    state = torch.load(last, map_location="cpu", weights_only=True)
    if state.get("digest") == digest and best.exists() and not done.exists():
        return state
    log.info("%s is from another config or a finished run; training from scratch", last)
    return None


@dataclass
class FoldRun:
    """One fold's training in progress: its inputs, session, and the best result so far."""

    job: FoldJob
    cfg: TrainConfig
    resolved_config: dict
    data: FoldData
    session: Session
    digest: str
    tracker: Tracker
    best_score: float = math.inf  # the metric's worst: set from the task when the run starts
    history: list = dataclasses.field(default_factory=list)


def train_fold(job: FoldJob, model_args: dict, cfg: TrainConfig, resolved_config: dict, tracker=None) -> dict:
    """Train one fold, resuming an interrupted run; publish best.pt and metrics.csv at the end."""
    set_threads(cfg.threads)
    data = load_fold_data(job, bool(model_args.get("head_metadata")))
    s = build_session(data, model_args, cfg)
    total, trainable = count_parameters(s.model)
    log.info(
        "fold %d: %s, %.2fM parameters (%.2fM trainable), device %s, amp %s, %d train / %d val rows",
        job.fold, model_args["name"], total / 1e6, trainable / 1e6, s.device, s.amp, len(data.tr_idx), len(data.va_idx),
    )  # fmt: skip
    Path(job.state_dir).mkdir(parents=True, exist_ok=True)
    digest = config_digest({"model_args": s.model_args, "fold": job.fold, "n": data.n, "config": resolved_config})
    run = FoldRun(job, cfg, resolved_config, data, s, digest, tracker or Tracker(), data.task.scorer.worst)
    start = 0
    state = read_state(Path(job.state_dir), digest)
    if state is not None and state["epoch"] + 1 == cfg.epochs:  # killed after the last epoch, before publishing
        log.info("fold %d: all %d epochs already trained in %s; publishing", job.fold, cfg.epochs, job.state_dir)
        return publish_fold(job, cfg, state["best_score"], state["history"], data.task.scorer.label)
    if state is not None:
        start, run.best_score, run.history = restore(s, state)
        log.info(
            f"resuming fold %d from %s after epoch %d (best val {data.task.scorer.label} %.4f)",
            job.fold,
            job.state_dir,
            start,
            run.best_score,
        )
    (Path(job.state_dir) / "done").unlink(missing_ok=True)
    del state
    for epoch in range(start, cfg.epochs):
        run_epoch(run, epoch)
    run.tracker.summary({f"best_val_{data.task.metric_name}": run.best_score, "epochs": cfg.epochs})
    result = publish_fold(job, cfg, run.best_score, run.history, data.task.scorer.label)
    run.tracker.artifact(job.out_best, f"fold{job.fold}-best", "model")
    return result


def run_epoch(run: FoldRun, epoch: int) -> None:
    """Train, validate, keep the best weights and the resume state."""
    s, cfg, job = run.session, run.cfg, run.job
    t0 = time.perf_counter()
    with explain_oom("train"):
        row = train_epoch(s, cfg, epoch, job.fold)
    with explain_oom("validate"):
        val = validate(s, run.data, cfg)
    task = run.data.task
    improved = task.scorer.better(val, run.best_score)
    row = {"epoch": epoch + 1, **row, f"val_{task.metric_name}": val, "lr": s.scheduler.get_last_lr()[0]}
    row.update(seconds=time.perf_counter() - t0, best=improved, precision=precision_name(s.amp))
    run.history.append(row)
    run.tracker.log({k: v for k, v in row.items() if k not in ("best", "precision")})
    log.info(
        f"fold %d epoch %d/%d: train loss %.4f, val {task.scorer.label} %.4f%s, %.0f img/s%s",
        job.fold, epoch + 1, cfg.epochs, row["train_loss"], val, " (best)" if improved else "",
        row["train_img_s"], f" (after a {row['compile_s']:.1f} s compile)" if row["compile_s"] else "",
    )  # fmt: skip
    state_dir = Path(job.state_dir)
    if improved:
        run.best_score = val
        save_best(s, state_dir / "best.pt", cfg, run.resolved_config, job.fold, epoch, val)
    write_csv(pd.DataFrame(run.history), state_dir / "metrics.csv")
    save_state(s, state_dir / "last.pt", epoch, run.best_score, run.history, run.digest)


def publish_fold(job: FoldJob, cfg: TrainConfig, best_score: float, history: list, label: str = "score") -> dict:
    """Publish best.pt and metrics.csv; then drop the resume state unless train.keep_state."""
    state_dir = Path(job.state_dir)
    publish(state_dir / "best.pt", job.out_best)
    publish(state_dir / "metrics.csv", job.out_metrics)
    if cfg.keep_state:
        (state_dir / "done").write_text("published\n")  # a finished fold, not a killed one
    else:
        shutil.rmtree(state_dir)
    log.info("fold %d done: best val %s %.4f", job.fold, label, best_score)
    return {"best_score": best_score, "history": history}
