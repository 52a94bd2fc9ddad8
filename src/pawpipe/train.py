"""Train one fold: timm backbone + MLP head on BCE(target / 100), AdamW, warmup + cosine.

Working files live in `state_dir` (last.pt for resuming, best.pt, metrics.csv) and are published to
the rule's outputs only when training ends, so a killed job leaves no output that looks complete
and a rerun resumes from the last finished epoch. Every epoch reseeds from (seed, epoch), so a
resumed run reproduces an uninterrupted one exactly on CPU.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from .cache import open_cache
from .data import TARGET, metadata_matrix
from .io import atomic_path, publish, write_csv
from .logs import log
from .model import count_parameters, create_model, resolve_normalization
from .runtime import Normalizer, amp_dtype, autocast, explain_oom, predict, resolve_device, seed_everything, set_threads
from .tracking import Tracker


@dataclass
class TrainConfig:
    epochs: int = 5
    batch_size: int = 32
    accumulate: int = 1
    lr: float = 2e-5
    weight_decay: float = 0.01
    warmup_epochs: float = 0.5
    min_lr_ratio: float = 0.01
    num_workers: int = 2
    amp: str = "auto"
    device: str = "auto"
    channels_last: bool = True
    grad_checkpointing: bool | list[int] = False
    compile: bool = False
    eval_batch_size: int = 64
    threads: int = 1
    augment: list[dict[str, Any]] = field(default_factory=list)
    seed: int = 42

    @classmethod
    def from_params(cls, params: dict[str, Any], seed: int) -> TrainConfig:
        return cls(**params, seed=seed)


def build_augment(spec: list[dict[str, Any]], seed: int) -> A.Compose:
    """albumentations pipeline from config: a list of {name: <albumentations class>, **kwargs}."""
    transforms = []
    for i, item in enumerate(spec):
        item = dict(item)
        name = item.pop("name")
        cls = getattr(A, name, None)
        if cls is None:
            raise ValueError(f"train.augment[{i}]: albumentations has no transform {name!r}")
        transforms.append(cls(**item))
    return A.Compose(transforms, seed=seed)


class CachedImages(Dataset):
    """Cached uint8 images (augmented), targets, and metadata rows (empty without a metadata head)."""

    def __init__(self, images, indices: np.ndarray, targets: np.ndarray, augment: A.Compose, meta=None):
        self.images, self.indices, self.targets, self.augment = images, indices, targets, augment
        self.meta = meta if meta is not None else np.zeros((len(images), 0), np.float32)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        img = np.array(self.images[self.indices[i]])  # a writable copy of the memory-mapped slice
        img = self.augment(image=img)["image"]
        target = torch.tensor(self.targets[i], dtype=torch.float32)
        return torch.from_numpy(np.ascontiguousarray(img)), target, torch.from_numpy(self.meta[self.indices[i]])


def _worker_init(worker_id: int) -> None:
    info = torch.utils.data.get_worker_info()
    info.dataset.augment.set_random_seed(torch.initial_seed() % 2**32)


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
    """One micro-batch: forward under autocast, BCE on target / 100, scaled backward, and an optimizer
    step when `do_step` (every `accumulate` micro-batches). Shared by training and the benchmark."""

    def __init__(self, model, optimizer, scaler, device, amp, accumulate: int = 1, compile: bool = False):
        self.forward = torch.compile(model) if compile else model
        self.optimizer, self.scaler, self.device, self.amp = optimizer, scaler, device, amp
        self.accumulate = accumulate
        self.criterion = torch.nn.BCEWithLogitsLoss()

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


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2)))


def train_fold(
    *,
    folds_csv: str,
    cache_npy: str,
    fold: int,
    model_args: dict,
    cfg: TrainConfig,
    resolved_config: dict,
    out_best: str,
    out_metrics: str,
    state_dir: str,
    tracker: Tracker | None = None,
    train_table: str | None = None,
) -> dict:
    tracker = tracker or Tracker()
    set_threads(cfg.threads)
    device = resolve_device(cfg.device)
    amp = amp_dtype(cfg.amp, device)
    folds = pd.read_csv(folds_csv, dtype={"Id": str})
    images = open_cache(cache_npy)
    if len(images) != len(folds):
        raise ValueError(
            f"{cache_npy} holds {len(images)} images but {folds_csv} has {len(folds)} rows; rerun the cache rule"
        )
    tr_idx = np.flatnonzero(folds["fold"].to_numpy() != fold)
    va_idx = np.flatnonzero(folds["fold"].to_numpy() == fold)
    if len(va_idx) == 0:
        raise ValueError(f"fold {fold} has no validation rows in {folds_csv}")
    y = folds[TARGET].to_numpy(dtype=np.float32) / 100.0
    meta = metadata_matrix(train_table, folds["Id"].tolist()) if model_args.get("head_metadata") else None

    seed_everything(cfg.seed)
    model = create_model(model_args).to(device)
    model_args = {**model_args}
    model_args["mean"], model_args["std"] = resolve_normalization(model)
    with torch.no_grad():  # start the head at the training mean: early epochs fit signal, not offset
        p = float(np.clip(y[tr_idx].mean(), 1e-3, 1 - 1e-3))
        model.head[-1].bias.fill_(math.log(p / (1 - p)))
    set_grad_checkpointing(model, cfg.grad_checkpointing)
    if cfg.channels_last and device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    norm = Normalizer(model_args["mean"], model_args["std"], device, cfg.channels_last and device.type == "cuda")
    total, trainable = count_parameters(model)
    log.info(
        "fold %d: %s, %.2fM parameters (%.2fM trainable), device %s, amp %s, %d train / %d val rows",
        fold,
        model_args["name"],
        total / 1e6,
        trainable / 1e6,
        device,
        amp,
        len(tr_idx),
        len(va_idx),
    )

    augment = build_augment(cfg.augment, cfg.seed)
    dataset = CachedImages(images, tr_idx, y[tr_idx], augment, meta)
    generator = torch.Generator()
    loader = DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        shuffle=True,
        drop_last=len(tr_idx) > cfg.batch_size,
        num_workers=cfg.num_workers,
        pin_memory=device.type == "cuda",
        generator=generator,
        worker_init_fn=_worker_init if cfg.num_workers > 0 else None,
        persistent_workers=False,
    )
    steps_per_epoch = math.ceil(len(loader) / cfg.accumulate)
    total_steps = steps_per_epoch * cfg.epochs
    optimizer = make_optimizer(model, cfg, device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(total_steps, int(cfg.warmup_epochs * steps_per_epoch), cfg.min_lr_ratio)
    )
    scaler = torch.amp.GradScaler(device.type, enabled=amp is torch.float16)
    step = TrainStep(model, optimizer, scaler, device, amp, cfg.accumulate, cfg.compile)

    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    last_pt, best_pt, metrics_csv = state_dir / "last.pt", state_dir / "best.pt", state_dir / "metrics.csv"
    digest = config_digest(
        {
            "model_args": model_args,
            "train": dataclasses.asdict(cfg),
            "fold": fold,
            "n": len(folds),
            "config": resolved_config,
        }
    )
    done = state_dir / "done"  # written after publishing: tells a finished fold from a killed one
    start_epoch, best_rmse, history = 0, math.inf, []
    state = torch.load(last_pt, map_location="cpu", weights_only=False) if last_pt.exists() else None
    if state is not None and state.get("digest") == digest and best_pt.exists() and not done.exists():
        if state["epoch"] + 1 == cfg.epochs:  # killed after the last epoch, before publishing
            log.info("fold %d: all %d epochs already trained in %s; publishing", fold, cfg.epochs, state_dir)
            return _publish(
                best_pt, metrics_csv, done, out_best, out_metrics, fold, state["best_rmse"], state["history"]
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        start_epoch, best_rmse, history = state["epoch"] + 1, state["best_rmse"], state["history"]
        log.info("resuming fold %d from %s after epoch %d (best val RMSE %.4f)", fold, last_pt, start_epoch, best_rmse)
    elif state is not None:
        log.info("%s is from another config or a finished run; training from scratch", last_pt)
    done.unlink(missing_ok=True)
    del state

    for epoch in range(start_epoch, cfg.epochs):
        seed_everything(cfg.seed * 1000 + epoch)
        generator.manual_seed(cfg.seed * 1000 + epoch)
        augment.set_random_seed(cfg.seed * 1000 + epoch)
        model.train()
        t0, seen, loss_sum = time.perf_counter(), 0, torch.zeros((), device=device)
        bar = tqdm(loader, desc=f"fold {fold} epoch {epoch + 1}/{cfg.epochs}", unit="batch", disable=None)
        optimizer.zero_grad(set_to_none=True)
        with explain_oom("train"):
            for i, (xb, yb, mb) in enumerate(bar):
                do_step = (i + 1) % cfg.accumulate == 0 or i + 1 == len(loader)
                mb = mb.to(device, non_blocking=True) if meta is not None else None
                loss = step(norm(xb), yb.to(device, non_blocking=True), do_step, mb)
                if do_step:
                    scheduler.step()
                seen += len(xb)
                loss_sum += loss * len(xb)  # stays on the device: no sync per step
                if i % 10 == 0 or i + 1 == len(loader):
                    rate = seen / (time.perf_counter() - t0)
                    bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}", img_s=f"{rate:.0f}")
        train_seconds = time.perf_counter() - t0
        with explain_oom("validate"):
            preds, _ = predict(model, images, va_idx, cfg.eval_batch_size, norm, amp, desc="validate", meta=meta)
        val_rmse = rmse(preds, y[va_idx] * 100)
        improved = val_rmse < best_rmse
        row = {
            "epoch": epoch + 1,
            "train_loss": loss_sum.item() / max(seen, 1),
            "val_rmse": val_rmse,
            "lr": scheduler.get_last_lr()[0],
            "train_img_s": seen / train_seconds,
            "seconds": time.perf_counter() - t0,
            "best": improved,
        }
        history.append(row)
        tracker.log({k: v for k, v in row.items() if k != "best"})
        log.info(
            "fold %d epoch %d/%d: train loss %.4f, val RMSE %.4f%s, %.0f img/s",
            fold,
            epoch + 1,
            cfg.epochs,
            row["train_loss"],
            val_rmse,
            " (best)" if improved else "",
            row["train_img_s"],
        )
        if improved:
            best_rmse = val_rmse
            with atomic_path(best_pt) as tmp:
                torch.save(
                    {
                        "model": model.state_dict(),
                        "model_args": model_args,
                        "config": resolved_config,
                        "train": dataclasses.asdict(cfg),
                        "fold": fold,
                        "epoch": epoch + 1,
                        "val_rmse": val_rmse,
                    },
                    tmp,
                )
        write_csv(pd.DataFrame(history), metrics_csv)
        with atomic_path(last_pt) as tmp:
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state()},
                    "epoch": epoch,
                    "best_rmse": best_rmse,
                    "history": history,
                    "digest": digest,
                },
                tmp,
            )

    tracker.summary({"best_val_rmse": best_rmse, "epochs": cfg.epochs})
    result = _publish(best_pt, metrics_csv, done, out_best, out_metrics, fold, best_rmse, history)
    tracker.artifact(out_best, f"fold{fold}-best", "model")
    return result


def _publish(best_pt, metrics_csv, done, out_best, out_metrics, fold, best_rmse, history) -> dict:
    publish(best_pt, out_best)
    publish(metrics_csv, out_metrics)
    done.write_text("published\n")
    log.info("fold %d done: best val RMSE %.4f", fold, best_rmse)
    return {"best_rmse": best_rmse, "history": history}
