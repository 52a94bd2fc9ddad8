"""The measurements behind `python -m pawpipe.bench`: each section times the project's path against
a plain fp32 eager baseline on the same model, weights, batch and inputs (see pawpipe.bench)."""

from __future__ import annotations

import copy
import json
import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..batches import CachedImages, EpochSampler, build_augment
from ..cache import ImageCache, ImageSpec
from ..embed import EmbedSettings, torch_predictor
from ..frames import host_lib, lib_for, standardise
from ..heads.backend import SVRConfig, cuml_status, make_estimator
from ..heads.kernel import KernelHead
from ..model import PawModel, count_parameters, create_model
from ..runtime import Normalizer, amp_dtype, use_channels_last
from ..task import Task
from ..train import TrainConfig, TrainStep, make_optimizer, set_grad_checkpointing


@dataclass
class Bench:
    """What every section measures on: the config, the model, inputs, and the timing budget."""

    config: dict
    cfg: TrainConfig
    args_model: dict
    base: PawModel
    device: torch.device
    batch: int
    embed_batch: int
    steps: int
    warmup: int
    repeats: int
    x_uint8: torch.Tensor
    target: torch.Tensor
    images: np.ndarray


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def reset_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def flops_per_image(model, x: torch.Tensor, backward: bool) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        meta = torch.zeros(1, model.meta_dim) if model.meta_dim else None
        logits, _ = model(x[:1], meta)
        if backward:
            logits.sum().backward()
    model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def timed(fn, steps: int, warmup: int, device: torch.device) -> float:
    for _ in range(warmup):
        fn()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    sync(device)
    return time.perf_counter() - t0


def summarise(mode: str, runs: list[float], info: dict) -> dict:
    median = float(np.median(runs))
    return {"mode": mode, "img_s": median, "runs": runs, "spread": (max(runs) - min(runs)) / median, **info}


def set_fused_attention(model: torch.nn.Module, on: bool) -> None:
    """timm's attention modules choose fused SDPA at construction (TIMM_FUSED_ATTN); flip it in place."""
    for module in model.modules():
        if hasattr(module, "fused_attn"):
            module.fused_attn = on


def train_step_for(b: Bench, project: bool, fused_attn: bool = True):
    """A fresh model and TrainStep: the project's switches, or plain fp32 eager with AdamW."""
    model = copy.deepcopy(b.base).to(b.device)
    set_fused_attention(model, fused_attn)
    channels_last = project and use_channels_last(b.cfg.channels_last, b.device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    amp = amp_dtype(b.cfg.amp, b.device) if project else None
    if project:
        set_grad_checkpointing(model, b.cfg.grad_checkpointing)
        optimizer = make_optimizer(model, b.cfg, b.device)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=b.cfg.lr, weight_decay=b.cfg.weight_decay)
    scaler = torch.amp.GradScaler(b.device.type, enabled=amp is torch.float16)
    step = TrainStep(model.train(), optimizer, scaler, b.device, amp, compile=project and b.cfg.compile)
    norm = Normalizer(b.args_model["mean"], b.args_model["std"], b.device, channels_last)
    meta = torch.zeros(b.batch, model.meta_dim, device=b.device) if model.meta_dim else None
    info = {"amp": str(amp).replace("torch.", ""), "compile": project and b.cfg.compile, "fused_attn": fused_attn}
    return step, norm(b.x_uint8), meta, info


def bench_train(b: Bench):
    """(a): fp32 eager, the project's step, and the project's step without fused attention."""
    modes = {"fp32 eager": (False, True), "project": (True, True), "project unfused": (True, False)}
    times: dict[str, list[float]] = {name: [] for name in modes}
    info, losses, first_step = {}, {}, {}
    for _ in range(b.repeats):
        for name, (project, fused) in modes.items():
            step, x, meta, info[name] = train_step_for(b, project, fused)
            torch.manual_seed(0)  # same dropout masks for every mode's first step
            t0 = time.perf_counter()
            losses[name] = float(step(x, b.target, True, meta))  # first step: compile, if any
            first_step.setdefault(name, time.perf_counter() - t0)
            reset_memory(b.device)
            seconds = timed(lambda s=step, x=x, m=meta: s(x, b.target, True, m), b.steps, b.warmup, b.device)
            times[name].append(b.steps * len(x) / seconds)
            info[name]["peak_gib"] = peak_memory(b.device)
            del step
    rel = abs(losses["project"] - losses["fp32 eager"]) / abs(losses["fp32 eager"])
    rows = [{**summarise(n, r, info[n]), "first_step_s": first_step[n]} for n, r in times.items()]
    return rows, {"first_step_loss": losses, "loss_rel_diff": rel}


def embed_settings(b: Bench, project: bool) -> EmbedSettings:
    """The pipeline's embed settings from the config; the baseline turns every speed switch off."""
    embed = {**b.config["embed"], "batch_size": b.embed_batch, "engine": "torch"}
    train = {**b.config["train"], "device": str(b.device)}
    settings = EmbedSettings.from_config(embed, train, torch.get_num_threads())
    return settings if project else replace(settings, amp="off", compile=False, channels_last=False)


def bench_embed(b: Bench):
    """(b): the pipeline's embed function (embed.torch_predictor) with its switches and in fp32 eager."""
    times: dict[str, list[float]] = {"fp32 eager": [], "project": []}
    info, outs = {}, {}
    rows = np.arange(len(b.images))
    for _ in range(b.repeats):
        for name, project in (("fp32 eager", False), ("project", True)):
            settings = embed_settings(b, project)
            run, engine = torch_predictor(copy.deepcopy(b.base), b.args_model, settings, b.device)
            meta = np.zeros((len(b.images), b.base.meta_dim), np.float32) if b.base.meta_dim else None
            _, outs[name] = run(b.images, rows, f"embed {name}", meta)  # warm-up (and compile)
            reset_memory(b.device)
            seconds = timed(lambda r=run, m=meta: r(b.images, rows, "embed", m), b.steps, b.warmup, b.device)
            views = 2 if settings.hflip else 1
            times[name].append(b.steps * len(rows) * views / seconds)
            info[name] = {"peak_gib": peak_memory(b.device), "amp": settings.amp, "compile": settings.compile}
            info[name]["engine"] = engine
    a, ref = outs["project"].astype(np.float64), outs["fp32 eager"].astype(np.float64)
    result = [summarise(name, runs, info[name]) for name, runs in times.items()]
    return result, {"embedding_rel_err": float(np.linalg.norm(a - ref) / np.linalg.norm(ref))}


def bench_finetune(b: Bench, freeze_stages: int):
    """(e): trainable parameters, training img/s and peak memory for full / LoRA / frozen, same inputs."""
    lora = (b.args_model.get("finetune") or {}).get("lora") or {}
    modes = {
        "full": {"mode": "full"},
        "lora": {"mode": "lora", "lora": lora},
        "frozen": {"mode": "frozen", "freeze_stages": freeze_stages},
    }
    times: dict[str, list[float]] = {name: [] for name in modes}
    info: dict[str, dict] = {}
    for _ in range(b.repeats):
        for name, spec in modes.items():
            torch.manual_seed(0)
            model = create_model({**b.args_model, "finetune": spec}, load_pretrained=False).to(b.device).train()
            total, trainable = count_parameters(model)
            amp = amp_dtype(b.cfg.amp, b.device)
            scaler = torch.amp.GradScaler(b.device.type, enabled=amp is torch.float16)
            step = TrainStep(model, make_optimizer(model, b.cfg, b.device), scaler, b.device, amp)
            x = Normalizer(b.args_model["mean"], b.args_model["std"], b.device)(b.x_uint8)
            meta = torch.zeros(len(x), model.meta_dim, device=b.device) if model.meta_dim else None
            reset_memory(b.device)
            seconds = timed(lambda s=step, x=x, m=meta: s(x, b.target, True, m), b.steps, b.warmup, b.device)
            times[name].append(b.steps * len(x) / seconds)
            info[name] = {"trainable": trainable, "total": total, "peak_gib": peak_memory(b.device)}
    return [summarise(name, runs, info[name]) for name, runs in times.items()]


def bench_infer(b: Bench, compile_: bool):
    """(f): CPU inference img/s through PyTorch eager, PyTorch compiled and ONNX Runtime on each
    exporter's graph, on the same model, images and batch."""
    from ..embed import fold_predictor
    from ..ort import EXPORTERS, ServedModel, export_graph, merge_adapters

    cpu = torch.device("cpu")
    model = copy.deepcopy(b.base).to(cpu).eval().requires_grad_(False)
    merge_adapters(model)
    rows = np.arange(len(b.images))
    meta = np.zeros((len(b.images), model.meta_dim), np.float32) if model.meta_dim else None
    threads = torch.get_num_threads()
    base = EmbedSettings("torch", "cpu", "off", threads, b.embed_batch, False, False, False)
    modes = {"torch eager": torch_predictor(copy.deepcopy(model), b.args_model, base, cpu)[0]}
    if compile_:
        modes["torch compile"] = torch_predictor(model, b.args_model, replace(base, compile=True), cpu)[0]
    served = ServedModel(model, b.args_model["mean"], b.args_model["std"]).eval()
    sample = torch.from_numpy(np.ascontiguousarray(b.images[:2]))
    export_s = {}
    with tempfile.TemporaryDirectory() as tmp:
        for exporter in EXPORTERS:
            t0, path = time.perf_counter(), Path(tmp) / f"{exporter}.onnx"
            export_graph(served, sample, torch.from_numpy(meta[:2]) if meta is not None else None, path, 18, exporter)
            export_s[exporter] = time.perf_counter() - t0
            report = Path(tmp) / f"{exporter}.json"
            report.write_text(json.dumps({"head_metadata": meta is not None, "epoch": 0, "image_size": 0}))
            modes[f"ort {exporter}"] = fold_predictor(replace(base, engine="onnx"), None, path, report)[0]
        outs = {name: run(b.images, rows, name, meta)[1] for name, run in modes.items()}  # and warm-up
        times: dict[str, list[float]] = {name: [] for name in modes}
        for _ in range(b.repeats):
            for name, run in modes.items():
                seconds = timed(lambda r=run, n=name: r(b.images, rows, n, meta), b.steps, b.warmup, cpu)
                times[name].append(b.steps * len(rows) / seconds)
    info = {"peak_gib": None, "amp": "fp32"}
    result = [
        {
            **summarise(n, r, {**info, "compile": n == "torch compile"}),
            "max_abs_diff": float(np.abs(outs[n] - outs["torch eager"]).max()),
        }
        for n, r in times.items()
    ]
    return result, {"threads": threads, "export_s": export_s}


def bench_svr(rows: int, dim: int, n_test: int, config: dict):
    """(c): the project's SVR path (standardise, fit, predict OOF and test rows) per backend, warmed,
    and cuML's raw fit on the same data."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows + n_test, dim)).astype(np.float32)
    y = np.clip(38 + 10 * x[:, :8].mean(1) * np.sqrt(8) + rng.normal(0, 15, len(x)), 1, 100)
    n_val = rows // 9
    train, val, test = x[: rows - n_val], x[rows - n_val : rows], x[rows:]
    cfg = SVRConfig(**{**config["svr"], "C": 20.0, "epsilon": 1.0})
    spec = Task.from_config(config["task"]).kernel  # the config's task's kernel head (the demo's: an SVR)
    out, preds = [], {}
    for backend in ["sklearn"] + (["cuml"] if cuml_status()[0] else []):
        if backend == "cuml":  # warm-up: CUDA context and kernels, as every later fit of a job has them
            KernelHead(backend, cfg, spec).fit(train[:500], y[:500]).predict(val)
        t0 = time.perf_counter()
        head = KernelHead(backend, cfg, spec).fit(train, y[: rows - n_val])
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        preds[backend] = np.concatenate([head.predict(val), head.predict(test)])
        out.append({"backend": backend, "fit_s": fit_s, "predict_s": time.perf_counter() - t0})
    extra = {"svr_shape": [rows - n_val, dim], "predicted_rows": n_val + n_test}
    if "cuml" in preds:
        import cupy as cp

        xs = cp.asarray(standardise(host_lib(), train)[2][0], dtype=cp.float32)
        yy = cp.asarray(y[: rows - n_val], dtype=cp.float32)
        cp.cuda.Device().synchronize()
        t0 = time.perf_counter()
        make_estimator("svr", "cuml", cfg).fit(xs, yy)  # the pipeline's estimator: the config's kernel, gamma and cache
        cp.cuda.Device().synchronize()
        extra["cuml_raw_fit_s"] = time.perf_counter() - t0
        extra["pred_rmse_cuml_vs_sklearn"] = float(np.sqrt(np.mean((preds["cuml"] - preds["sklearn"]) ** 2)))
    return out, extra


def bench_select(rows: int, dim: int, n_sets: int, config: dict, backend: str) -> dict:
    """(h): forward selection (pawpipe.heads.search) over `n_sets` synthetic feature sets of `dim` columns
    on `rows` rows in 10 folds, as the svr_search rule runs it: the k + 1 selections and their fits."""
    from ..heads.search import OOFPredictions, Selection, forward_select

    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, n_sets * dim)).astype(np.float32)
    y = np.clip(38 + 6 * x[:, :: dim // 2 or 1].mean(1) * np.sqrt(2 * n_sets) + rng.normal(0, 15, rows), 1, 100)
    fold_of = np.arange(rows) % 10
    lib = lib_for(backend)
    sets = {f"s{i}": lib.asarray(x[:, i * dim : (i + 1) * dim]) for i in range(n_sets)}
    cfg = SVRConfig(**{**config["svr"], "backend": backend, "threads": os.cpu_count() or 1})
    oof = OOFPredictions([sets] * 10, fold_of, y, cfg, lib, Task.from_config(config["task"]))
    paths = {"all": Selection(np.ones(rows, bool))} | {str(k): Selection(fold_of != k) for k in range(10)}
    t0 = time.perf_counter()
    forward_select(oof, paths, backend, min_gain=float(config["svr"]["select"]["min_gain"]))
    seconds = time.perf_counter() - t0
    return {"backend": backend, "rows": rows, "sets": n_sets, "dim": dim, "fits": oof.fits, "seconds": seconds,
            "workers": cfg.threads if backend == "sklearn" else 1, "chosen": paths["all"].sets}  # fmt: skip


def bench_data(b: Bench, rows: int, workers: int):
    """(d): the training DataLoader alone over a synthetic decoded-image cache in the configured layout
    (image.resize; in crop mode every other image a transposed portrait with the longest side kept)."""
    from torch.utils.data import DataLoader

    spec = ImageSpec.from_config(b.config["image"])
    size = spec.size
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cache.npy"
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(rows, size, spec.long_side, 3))
        arr[:] = np.random.default_rng(0).integers(0, 256, size=arr.shape, dtype=np.uint8)
        arr.flush()
        del arr
        images = ImageCache(np.load(path, mmap_mode="r"), spec, [spec.long_side] * rows, np.arange(rows) % 2 == 1)
        augment = build_augment(b.cfg.augment, 0)
        dataset = CachedImages(images, np.arange(rows), np.zeros(rows, np.float32), augment, 0)
        loader = DataLoader(
            dataset,
            batch_size=b.batch,
            sampler=EpochSampler(rows, 0),
            num_workers=workers,
            pin_memory=b.device.type == "cuda",
            persistent_workers=workers > 0,
        )
        for _ in loader:  # first pass: worker start-up and page cache
            pass
        t0, seen = time.perf_counter(), 0
        for xb, _, _ in loader:
            seen += len(xb.to(b.device, non_blocking=True))
        sync(b.device)
        img_s = seen / (time.perf_counter() - t0)
        return {"img_s": img_s, "workers": workers, "rows": rows, "size": size, "resize": spec.resize}


def bench_memory(b: Bench, batch: int = 16):
    """(g): bf16 eager training at batch 16 with gradient checkpointing none / stages 0,1 / all."""
    small = replace(b, batch=batch, x_uint8=b.x_uint8[:batch], target=b.target[:batch])
    n_stages = len(getattr(b.base.backbone, "layers", [])) or 1
    variants = {"none": False, "0,1": [0, 1] if n_stages > 2 else [0], "all": True}
    rows = []
    for name, which in variants.items():
        small.cfg = replace(
            b.cfg, compile=False, grad_checkpointing=which, amp="bf16" if b.device.type == "cuda" else b.cfg.amp
        )
        step, x, meta, info = train_step_for(small, project=True)
        reset_memory(b.device)
        seconds = timed(lambda s=step, x=x, m=meta: s(x, small.target, True, m), b.steps, b.warmup, b.device)
        rows.append(
            {"checkpointing": name, "img_s": b.steps * len(x) / seconds, "peak_gib": peak_memory(b.device), **info}
        )
        del step
    return rows


def print_table(title: str, rows: list[dict], flops: float, peak: float | None) -> None:
    print(
        f"\n## {title}\n{'mode':<16} {'img/s':>10} {'spread':>7} {'ratio':>7} {'MFU':>7} {'peak GiB':>9}  amp / compile"
    )
    for r in rows:
        r["ratio"] = r["img_s"] / rows[0]["img_s"]
        r["mfu"] = r["img_s"] * flops / (peak * 1e12) if peak else None
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "-"
        print(
            f"{r['mode']:<16} {r['img_s']:>10,.1f} {100 * r['spread']:>6.1f}% {r['ratio']:>6.2f}x {mfu:>7} "
            f"{fmt(r['peak_gib']):>9}  {r['amp']} / {r['compile']}"
        )


def fmt(v) -> str:
    return "-" if v is None else f"{v:,.1f}" if isinstance(v, float) else str(v)
