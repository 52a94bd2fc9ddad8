"""Benchmark the project's hot paths against plain fp32 eager baselines, in one process.

    python -m pawpipe.bench                                   # the demo config's micro Swin (CPU smoke run)
    python -m pawpipe.bench --config config/petfinder.yaml    # Swin-L/384 as the competition preset trains it

(a) training step: the project's TrainStep (amp, channels_last, fused AdamW, compile, checkpointing as
    configured) against an fp32 eager loop; (b) embedding extraction: the project's predict() against fp32
    eager; (c) SVR: scikit-learn against cuML (when it imports) on the same fold-sized embeddings, through
    the project's SVRHead (standardisation, data movement, OOF and test prediction) and cuML's raw fit;
    (d) data loading alone from a decoded-image cache; (e) trainable parameters, speed and memory of the
    full / LoRA / frozen fine-tuning modes; (f) CPU inference through PyTorch eager, PyTorch compiled
    (unless --no-compile) and ONNX Runtime on each exporter's graph. Same weights, batch and inputs
    within each section.
Prints img/s (median of --repeats interleaved timings, with their spread), the ratio to the baseline,
the share of the chip's peak (MFU) and peak GPU memory.
Numbers are printed, never asserted: the tests only run this on CPU as a smoke test.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from .config import resolve_model_args
from .model import count_parameters, create_model, resolve_normalization
from .runtime import Normalizer, amp_dtype, predict, resolve_device, set_threads
from .svr import SVRConfig, SVRHead, cuml_status
from .train import CachedImages, TrainConfig, TrainStep, build_augment, make_optimizer, set_grad_checkpointing

# Dense bf16 tensor-core peaks from the datasheets (TFLOP/s); pass --peak-tflops to use a measured one.
PEAK_BF16 = {"H100": 989.4, "H200": 989.4, "A100": 312.0, "L4": 121.0, "T4": 65.0, "P100": 18.7}


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


def bench_train(base_model, args_model, cfg: TrainConfig, device, x_uint8, target, steps, warmup, repeats):
    """Each mode is built fresh and timed `repeats` times, modes interleaved (A B A B) against drift."""
    times: dict[str, list[float]] = {"fp32 eager": [], "project": []}
    info, losses = {}, {}
    for _ in range(repeats):
        for name, project in (("fp32 eager", False), ("project", True)):
            model = copy.deepcopy(base_model).to(device)
            amp = amp_dtype(cfg.amp, device) if project else None
            channels_last = project and cfg.channels_last and device.type == "cuda"
            if channels_last:
                model = model.to(memory_format=torch.channels_last)
            if project:
                set_grad_checkpointing(model, cfg.grad_checkpointing)
                optimizer = make_optimizer(model, cfg, device)
            else:
                optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            norm = Normalizer(args_model["mean"], args_model["std"], device, channels_last)
            scaler = torch.amp.GradScaler(device.type, enabled=amp is torch.float16)
            step = TrainStep(model.train(), optimizer, scaler, device, amp, compile=project and cfg.compile)
            x = norm(x_uint8)
            torch.manual_seed(0)  # same dropout masks for both modes' first step
            meta = torch.zeros(len(x), model.meta_dim, device=device) if model.meta_dim else None
            losses[name] = float(step(x, target, True, meta))  # first step, same weights and batch: compared below
            reset_memory(device)
            seconds = timed(lambda step=step, x=x, m=meta: step(x, target, True, m), steps, warmup, device)
            times[name].append(steps * len(x) / seconds)
            info[name] = {
                "peak_gib": peak_memory(device),
                "amp": str(amp).replace("torch.", ""),
                "compile": project and cfg.compile,
            }
            del model, optimizer, step
    rel = abs(losses["project"] - losses["fp32 eager"]) / abs(losses["fp32 eager"])
    return [summarise(name, runs, info[name]) for name, runs in times.items()], {
        "first_step_loss": losses,
        "loss_rel_diff": rel,
    }


def summarise(mode: str, runs: list[float], info: dict) -> dict:
    median = float(np.median(runs))
    return {"mode": mode, "img_s": median, "runs": runs, "spread": (max(runs) - min(runs)) / median, **info}


def bench_embed(base_model, args_model, cfg: TrainConfig, device, images, batch, steps, warmup, compile_, repeats):
    times: dict[str, list[float]] = {"fp32 eager": [], "project": []}
    info, outs = {}, {}
    idx = np.arange(len(images))
    for _ in range(repeats):
        for name, project in (("fp32 eager", False), ("project", True)):
            model = copy.deepcopy(base_model).to(device).eval().requires_grad_(False)
            channels_last = project and cfg.channels_last and device.type == "cuda"
            if channels_last:
                model = model.to(memory_format=torch.channels_last)
            if project and compile_:
                model.forward = torch.compile(model.forward)
            amp = amp_dtype(cfg.amp, device) if project else None
            norm = Normalizer(args_model["mean"], args_model["std"], device, channels_last)
            meta = np.zeros((len(images), model.meta_dim), np.float32) if model.meta_dim else None
            _, outs[name] = predict(model, images, idx, batch, norm, amp, desc=f"embed {name}", meta=meta)
            reset_memory(device)
            run = lambda m=model, n=norm, p=amp, md=meta: predict(m, images, idx, batch, n, p, meta=md)  # noqa: E731
            seconds = timed(run, steps, warmup, device)
            times[name].append(steps * len(idx) / seconds)
            info[name] = {
                "peak_gib": peak_memory(device),
                "amp": str(amp).replace("torch.", ""),
                "compile": project and compile_,
            }
            del model
    a, b = outs["project"].astype(np.float64), outs["fp32 eager"].astype(np.float64)
    rows = [summarise(name, runs, info[name]) for name, runs in times.items()]
    return rows, {"embedding_rel_err": float(np.linalg.norm(a - b) / np.linalg.norm(b))}


def bench_finetune(args_model, cfg: TrainConfig, device, x_uint8, target, steps, warmup, freeze_stages, repeats):
    """Trainable parameters, training img/s and peak memory for full / LoRA / frozen, same inputs;
    each mode built fresh and timed `repeats` times, modes interleaved."""
    lora = (args_model.get("finetune") or {}).get("lora") or {}
    modes = {
        "full": {"mode": "full"},
        "lora": {"mode": "lora", "lora": lora},
        "frozen": {"mode": "frozen", "freeze_stages": freeze_stages},
    }
    times: dict[str, list[float]] = {name: [] for name in modes}
    info: dict[str, dict] = {}
    for _ in range(repeats):
        for name, spec in modes.items():
            torch.manual_seed(0)
            model = create_model({**args_model, "finetune": spec}, load_pretrained=False).to(device).train()
            total, trainable = count_parameters(model)
            amp = amp_dtype(cfg.amp, device)
            norm = Normalizer(args_model["mean"], args_model["std"], device)
            scaler = torch.amp.GradScaler(device.type, enabled=amp is torch.float16)
            step = TrainStep(model, make_optimizer(model, cfg, device), scaler, device, amp)
            x = norm(x_uint8)
            meta = torch.zeros(len(x), model.meta_dim, device=device) if model.meta_dim else None
            reset_memory(device)
            seconds = timed(lambda step=step, x=x, m=meta: step(x, target, True, m), steps, warmup, device)
            times[name].append(steps * len(x) / seconds)
            info[name] = {"trainable": trainable, "total": total, "peak_gib": peak_memory(device)}
            del model, step
    return [summarise(name, runs, info[name]) for name, runs in times.items()]


def bench_infer(base_model, args_model, images, batch: int, steps: int, warmup: int, repeats: int, compile_: bool):
    """Inference img/s on the CPU (a Kaggle CPU notebook, a machine without a GPU): PyTorch eager fp32,
    PyTorch compiled and ONNX Runtime, on the same model, images and batch, modes interleaved."""
    from .ort import EXPORTERS, ServedModel, export_graph, merge_adapters, predict_ort, session

    cpu = torch.device("cpu")
    model = copy.deepcopy(base_model).to(cpu).eval().requires_grad_(False)
    merge_adapters(model)
    idx = np.arange(len(images))
    meta = np.zeros((len(images), model.meta_dim), np.float32) if model.meta_dim else None
    norm = Normalizer(args_model["mean"], args_model["std"], cpu)
    threads = torch.get_num_threads()
    served = ServedModel(model, args_model["mean"], args_model["std"]).eval()
    sample = torch.from_numpy(np.ascontiguousarray(images[:2]))
    sessions, export_s = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for exporter in EXPORTERS:
            t0 = time.perf_counter()
            path = Path(tmp) / f"{exporter}.onnx"
            export_graph(served, sample, torch.from_numpy(meta[:2]) if meta is not None else None, path, 18, exporter)
            export_s[exporter] = time.perf_counter() - t0
            sessions[exporter] = session(path, threads)
    modes = {"torch eager": lambda: predict(model, images, idx, batch, norm, None, meta=meta)}
    if compile_:
        compiled = copy.deepcopy(model)
        compiled.forward = torch.compile(compiled.forward)
        modes["torch compile"] = lambda: predict(compiled, images, idx, batch, norm, None, meta=meta)
    for exporter, sess in sessions.items():
        modes[f"ort {exporter}"] = lambda sess=sess: predict_ort(sess, images, idx, batch, meta=meta)
    outs = {name: fn()[1] for name, fn in modes.items()}  # also the compile warm-up
    times: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(repeats):
        for name, fn in modes.items():
            times[name].append(steps * len(idx) / timed(fn, steps, warmup, cpu))
    ref = outs["torch eager"]
    rows = []
    for name, runs in times.items():
        info = {"peak_gib": None, "amp": "fp32", "compile": name == "torch compile"}
        rows.append({**summarise(name, runs, info), "max_abs_diff": float(np.abs(outs[name] - ref).max())})
    return rows, {"threads": threads, "export_s": export_s}


def bench_svr(rows: int, dim: int, n_test: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows + n_test, dim)).astype(np.float32)
    y = np.clip(38 + 10 * x[:, :8].mean(1) * np.sqrt(8) + rng.normal(0, 15, len(x)), 1, 100)
    n_val = rows // 9
    train, val, test = x[: rows - n_val], x[rows - n_val : rows], x[rows:]
    cfg = SVRConfig(C=20.0, epsilon=1.0)
    out, preds = [], {}
    backends = ["sklearn"] + (["cuml"] if cuml_status()[0] else [])
    for backend in backends:
        t0 = time.perf_counter()
        head = SVRHead(backend, cfg).fit(train, y[: rows - n_val])
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        preds[backend] = np.concatenate([head.predict(val), head.predict(test)])
        out.append({"backend": backend, "fit_s": fit_s, "predict_s": time.perf_counter() - t0})
    extra = {"svr_shape": [rows - n_val, dim], "predicted_rows": n_val + n_test}
    if "cuml" in preds:
        import cupy as cp
        from cuml.svm import SVR

        xs = cp.asarray(SVRHead("sklearn", cfg).scaler.fit_transform(train), dtype=cp.float32)
        yy = cp.asarray(y[: rows - n_val], dtype=cp.float32)
        SVR(C=cfg.C, epsilon=cfg.epsilon).fit(xs, yy)  # warm-up: CUDA context, kernels
        cp.cuda.Device().synchronize()
        t0 = time.perf_counter()
        SVR(C=cfg.C, epsilon=cfg.epsilon).fit(xs, yy)
        cp.cuda.Device().synchronize()
        extra["cuml_raw_fit_s"] = time.perf_counter() - t0
        extra["pred_rmse_cuml_vs_sklearn"] = float(np.sqrt(np.mean((preds["cuml"] - preds["sklearn"]) ** 2)))
    return out, extra


def bench_data(rows: int, size: int, cfg: TrainConfig, device, workers: int, batch: int):
    from torch.utils.data import DataLoader

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cache.npy"
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(rows, size, size, 3))
        arr[:] = np.random.default_rng(0).integers(0, 256, size=arr.shape, dtype=np.uint8)
        arr.flush()
        del arr
        images = np.load(path, mmap_mode="r")
        dataset = CachedImages(images, np.arange(rows), np.zeros(rows, np.float32), build_augment(cfg.augment, 0))
        loader = DataLoader(
            dataset,
            batch_size=batch,
            shuffle=True,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
        )
        for _ in loader:  # first pass: worker start-up and page cache
            pass
        t0 = time.perf_counter()
        seen = 0
        for xb, _, _ in loader:
            xb = xb.to(device, non_blocking=True)
            seen += len(xb)
        sync(device)
        return {"img_s": seen / (time.perf_counter() - t0), "workers": workers, "rows": rows, "size": size}


def load_config(paths: list[str]) -> dict:
    config: dict = {}
    for p in paths:
        _merge(config, yaml.safe_load(Path(p).read_text()))
    return config


def _merge(base: dict, new: dict) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v


def fmt(v) -> str:
    return "-" if v is None else f"{v:,.1f}" if isinstance(v, float) else str(v)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m pawpipe.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", action="append", default=None, help="config file(s) on top of config/config.yaml")
    ap.add_argument("--batch", type=int, help="training batch (default: train.batch_size)")
    ap.add_argument("--embed-batch", type=int, help="embedding batch (default: embed.batch_size)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2, help="timings per mode, interleaved; the median is reported")
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None, help="override train.compile")
    ap.add_argument("--grad-checkpointing", help="override train.grad_checkpointing: none, all, or stages like 0,1")
    ap.add_argument("--svr-rows", type=int, default=8921, help="SVR training+OOF rows (a Pawpularity fold: 8921)")
    ap.add_argument("--svr-dim", type=int, default=1536, help="embedding width (Swin-L: 1536)")
    ap.add_argument("--svr-test", type=int, default=8, help="test rows predicted besides the OOF rows")
    ap.add_argument("--epoch-rows", type=int, default=8921, help="rows per training epoch for (e)'s s/epoch")
    ap.add_argument("--cache-rows", type=int, default=2048, help="images in the synthetic cache for (d)")
    ap.add_argument("--peak-tflops", type=float, help="chip peak for MFU (default: bf16 datasheet figure)")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: train,embed,finetune,infer,svr,data")
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args(argv)
    repo_config = Path(__file__).resolve().parents[2] / "config" / "config.yaml"
    config = load_config([str(repo_config), *(a.config or [])])
    params = {**config["train"], "threads": max(1, torch.get_num_threads())}
    if a.compile is not None:
        params["compile"] = a.compile
    if a.grad_checkpointing is not None:
        gc = a.grad_checkpointing
        params["grad_checkpointing"] = (
            {"none": False, "all": True}.get(gc) if gc in ("none", "all") else [int(i) for i in gc.split(",")]
        )
    cfg = TrainConfig.from_params(params, seed=config.get("seed", 42))
    skip = set(filter(None, a.skip.split(",")))
    device = resolve_device(cfg.device)
    set_threads(cfg.threads)
    size = config["image"]["size"]
    batch = a.batch or cfg.batch_size
    embed_batch = a.embed_batch or config["embed"]["batch_size"]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    peak = (
        a.peak_tflops or next((v for k, v in PEAK_BF16.items() if k in name), None) if device.type == "cuda" else None
    )

    torch.manual_seed(0)
    args_model = resolve_model_args({**config["backbone"], "pretrained": False}, config["head"], size)
    base = create_model(args_model)
    args_model["mean"], args_model["std"] = resolve_normalization(base)
    gen = torch.Generator().manual_seed(0)
    x_uint8 = torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8, generator=gen).to(device)
    target = torch.rand(batch, generator=gen).to(device)
    images = torch.randint(0, 256, (embed_batch * 2, size, size, 3), dtype=torch.uint8, generator=gen).numpy()

    result = {
        "device": name,
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "command": " ".join(["python -m pawpipe.bench", *(argv if argv is not None else sys.argv[1:])]),
        "model": args_model["name"],
        "image_size": size,
        "peak_tflops": peak,
    }
    import timm

    result["timm"] = timm.__version__
    print(f"# {result['command']}\n# {name}, torch {torch.__version__}, timm {timm.__version__}, {result['date']}")
    print(f"# model {args_model['name']} at {size}px; train batch {batch}, embed batch {embed_batch}")

    def report(title, rows, flops):
        header = f"{'mode':<12} {'img/s':>10} {'spread':>7} {'ratio':>7} {'MFU':>7} {'peak GiB':>9}  amp / compile"
        print(f"\n## {title}\n{header}")
        for r in rows:
            r["ratio"] = r["img_s"] / rows[0]["img_s"]
            r["mfu"] = r["img_s"] * flops / (peak * 1e12) if peak else None
            mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "-"
            print(
                f"{r['mode']:<12} {r['img_s']:>10,.1f} {100 * r['spread']:>6.1f}% {r['ratio']:>6.2f}x {mfu:>7} "
                f"{fmt(r['peak_gib']):>9}  "
                f"{r['amp']} / {r['compile']}"
            )

    if "train" not in skip:
        flops = flops_per_image(copy.deepcopy(base), x_uint8.float().permute(0, 3, 1, 2).cpu(), backward=True)
        rows, check = bench_train(base, args_model, cfg, device, x_uint8, target, a.steps, a.warmup, a.repeats)
        result["train"] = {"rows": rows, "gflop_per_image": flops / 1e9, **check}
        report(f"(a) training step ({flops / 1e9:.2f} GFLOP/img fwd+bwd)", rows, flops)
        print(
            f"first-step loss: fp32 {check['first_step_loss']['fp32 eager']:.6f}, project "
            f"{check['first_step_loss']['project']:.6f} (relative difference {check['loss_rel_diff']:.2e})"
        )
    if "embed" not in skip:
        flops = flops_per_image(copy.deepcopy(base).eval(), x_uint8.float().permute(0, 3, 1, 2).cpu(), backward=False)
        rows, check = bench_embed(
            base,
            args_model,
            cfg,
            device,
            images,
            embed_batch,
            max(1, a.steps // 4),
            max(1, a.warmup // 2),
            cfg.compile,
            a.repeats,
        )
        result["embed"] = {"rows": rows, "gflop_per_image": flops / 1e9, **check}
        report(f"(b) embedding extraction ({flops / 1e9:.2f} GFLOP/img fwd)", rows, flops)
        print(f"embeddings vs fp32: relative error {check['embedding_rel_err']:.2e}")
    if "finetune" not in skip:
        n_stages = len(config["backbone"]["kwargs"].get("depths", [0] * 4))
        freeze = (config["backbone"].get("finetune") or {}).get("freeze_stages") or max(1, n_stages // 2)
        rows = bench_finetune(args_model, cfg, device, x_uint8, target, a.steps, a.warmup, freeze, a.repeats)
        result["finetune"] = rows
        for r in rows:
            r["epoch_s"] = a.epoch_rows / r["img_s"]
        print(f"\n## (e) fine-tuning modes (frozen: patch embedding + {freeze} stages)")
        print(
            f"{'mode':<8} {'trainable':>12} {'of total':>9} {'img/s':>10} {'spread':>7} {'vs full':>8} "
            f"{'s/epoch':>9} {'peak GiB':>9}   (s/epoch: {a.epoch_rows:,} training rows at that img/s)"
        )
        for r in rows:
            print(
                f"{r['mode']:<8} {r['trainable']:>12,} {100 * r['trainable'] / r['total']:>8.2f}% "
                f"{r['img_s']:>10,.2f} {100 * r['spread']:>6.1f}% {r['img_s'] / rows[0]['img_s']:>7.2f}x "
                f"{r['epoch_s']:>9,.1f} {fmt(r['peak_gib']):>9}"
            )
    if "infer" not in skip:
        compile_ = a.compile is not False
        rows, extra = bench_infer(
            base, args_model, images, embed_batch, max(1, a.steps // 4), max(1, a.warmup // 2), a.repeats, compile_
        )
        result["infer"] = {"rows": rows, **extra}
        print(
            f"\n## (f) CPU inference engines ({extra['threads']} threads, batch {embed_batch}, "
            "fp32; ONNX export " + ", ".join(f"{k} {v:.1f} s" for k, v in extra["export_s"].items()) + ")"
        )
        print(f"{'mode':<17} {'img/s':>10} {'spread':>7} {'vs eager':>9} {'max |emb - eager|':>18}")
        for r in rows:
            print(
                f"{r['mode']:<17} {r['img_s']:>10,.1f} {100 * r['spread']:>6.1f}% "
                f"{r['img_s'] / rows[0]['img_s']:>8.2f}x {r['max_abs_diff']:>18.2e}"
            )
    if "svr" not in skip:
        rows, extra = bench_svr(a.svr_rows, a.svr_dim, a.svr_test, 0)
        result["svr"] = {"rows": rows, **extra}
        print(
            f"\n## (c) SVR on {extra['svr_shape'][0]} x {extra['svr_shape'][1]} float32, "
            f"predicting {extra['predicted_rows']} rows"
        )
        for r in rows:
            speed = rows[0]["fit_s"] / r["fit_s"], rows[0]["predict_s"] / r["predict_s"]
            print(
                f"{r['backend']:<8} fit {r['fit_s']:8.3f} s ({speed[0]:6.1f}x)   "
                f"predict {r['predict_s']:8.3f} s ({speed[1]:6.1f}x)"
            )
        if "cuml_raw_fit_s" in extra:
            print(
                f"cuML raw fit {extra['cuml_raw_fit_s']:.3f} s; cuML vs scikit-learn predictions: "
                f"RMSE {extra['pred_rmse_cuml_vs_sklearn']:.2e}"
            )
        else:
            print(f"cuML: not measured ({cuml_status()[1]})")
    if "data" not in skip:
        r = bench_data(a.cache_rows, size, cfg, device, cfg.num_workers, batch)
        result["data"] = r
        print(f"\n## (d) data loading from the cache: {r['img_s']:,.0f} img/s ({r['workers']} workers, {size}px)")
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
