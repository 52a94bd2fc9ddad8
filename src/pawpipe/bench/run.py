"""Benchmark the project's hot paths against plain fp32 eager baselines, in one process.

    python -m pawpipe.bench                                   # the demo config's micro Swin (CPU)
    python -m pawpipe.bench --config config/petfinder.yaml    # Swin-L/384 as the competition preset trains it
    python -m pawpipe.bench --suite gpu --config config/petfinder.yaml --json bench-gpu.json --render BENCHMARKS.md
    python -m pawpipe.bench --suite gpu --smoke               # the GPU suite on a tiny model: known to start (CI)

(a) training step: the project's TrainStep (amp, channels_last, fused AdamW, compile, checkpointing as
    configured; with and without timm's fused attention) against an fp32 eager loop; (b) embedding: the
    pipeline's own embed function (embed.torch_predictor: autocast, channels_last, compile, prefetch,
    flip TTA as configured) against the same function in fp32 eager, img/s counting each TTA view;
    (c) SVR: the project's SVR path with scikit-learn and cuML (when it imports), warmed, and cuML's raw
    fit; (d) data loading from a decoded-image cache; (e) full / LoRA / frozen fine-tuning; (f) CPU
    inference engines (PyTorch eager, compiled, ONNX Runtime); (g) memory at batch 16 with gradient
    checkpointing none / stages 0,1 / all; (h) forward selection of the SVR's feature sets (10 folds),
    scikit-learn on every core against cuML on the same data, and cuML at a fold's full size; (i) the
    RAPIDS write-up's three heads on one frozen embedding matrix (scikit-learn SVR, cuML SVR, a PyTorch
    MLP head), fit and predict seconds as ratios to scikit-learn's SVR, and each head's held-out RMSE;
    (j) the second-level stacker (XGBoost) on a fold's OOF predictions, on the CPU and on CUDA.
    `--suite gpu` runs (a) (b) (c) (d) (g) (h) (i), each sized to finish within minutes on an H100, and
    projects a 10-fold run from them.
Each mode is timed --repeats times, modes interleaved; the median is printed with the spread. Numbers
are printed, never asserted: the tests only run this on CPU as a smoke test.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import platform
import re
import sys
from pathlib import Path

import torch

from ..config import resolve_model_args
from ..configfile import load_config
from ..heads.backend import cuml_status
from ..model import create_model, resolve_normalization
from ..runtime import resolve_device, set_threads
from ..train import TrainConfig
from .sections import (
    Bench,
    bench_data,
    bench_embed,
    bench_finetune,
    bench_infer,
    bench_memory,
    bench_select,
    bench_svr,
    bench_train,
    flops_per_image,
    fmt,
    print_table,
)

# Dense bf16 tensor-core peaks from the datasheets (TFLOP/s); pass --peak-tflops to use a measured one.
PEAK_BF16 = {"H100": 989.4, "H200": 989.4, "A100": 312.0, "L4": 121.0, "T4": 65.0, "P100": 18.7}
SUITES = {"all": "train,embed,finetune,infer,svr,data,heads,stack",
          "gpu": "train,embed,svr,data,memory,select,heads,stack"}  # fmt: skip
SMOKE = {"steps": 2, "warmup": 1, "repeats": 1, "svr_rows": 300, "svr_dim": 32, "cache_rows": 64}
SMOKE |= {"select_rows": 200, "select_dim": 8, "select_sets": 3, "select_full_dim": 16, "heads_rows": 300}
SMOKE |= {"heads_dim": 32, "stack_rows": 400}
# The targets the GPU suite is measured against (H100, Swin-L/384).
TARGETS = {"train_img_s": 600.0, "embed_img_s": 1600.0, "svr_speedup": 250.0, "ten_folds_min": 20.0}


def run_train(b: Bench, a, result: dict, peak) -> None:
    flops = flops_per_image(copy.deepcopy(b.base), b.x_uint8.float().permute(0, 3, 1, 2).cpu(), backward=True)
    rows, check = bench_train(b)
    result["train"] = {"rows": rows, "gflop_per_image": flops / 1e9, **check}
    print_table(f"(a) training step ({flops / 1e9:.2f} GFLOP/img fwd+bwd)", rows, flops, peak)
    print(
        f"first-step loss: fp32 {check['first_step_loss']['fp32 eager']:.6f}, project "
        f"{check['first_step_loss']['project']:.6f} (relative difference {check['loss_rel_diff']:.2e}); "
        f"first project step (compile included) {rows[1]['first_step_s']:.1f} s"
    )


def run_embed(b: Bench, a, result: dict, peak) -> None:
    flops = flops_per_image(copy.deepcopy(b.base).eval(), b.x_uint8.float().permute(0, 3, 1, 2).cpu(), backward=False)
    rows, check = bench_embed(b)
    result["embed"] = {"rows": rows, "gflop_per_image": flops / 1e9, **check}
    views = "2 views per image (flip TTA)" if b.config["embed"]["tta_hflip"] else "1 view per image"
    print_table(
        f"(b) embedding, the pipeline's embed function ({flops / 1e9:.2f} GFLOP/img fwd; {views})", rows, flops, peak
    )
    print(f"embeddings vs fp32: relative error {check['embedding_rel_err']:.2e}; engine: {rows[1]['engine']}")


def run_finetune(b: Bench, a, result: dict, peak) -> None:
    n_stages = len(getattr(b.base.backbone, "layers", [])) or 4
    freeze = (b.config["backbone"].get("finetune") or {}).get("freeze_stages") or max(1, n_stages // 2)
    rows = bench_finetune(b, freeze)
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


def run_infer(b: Bench, a, result: dict, peak) -> None:
    rows, extra = bench_infer(b, a.compile is not False)
    result["infer"] = {"rows": rows, **extra}
    exports = ", ".join(f"{k} {v:.1f} s" for k, v in extra["export_s"].items())
    print(
        f"\n## (f) CPU inference engines ({extra['threads']} threads, batch {b.embed_batch}, fp32; "
        f"ONNX export {exports})"
    )
    print(f"{'mode':<17} {'img/s':>10} {'spread':>7} {'vs eager':>9} {'max |emb - eager|':>18}")
    for r in rows:
        print(
            f"{r['mode']:<17} {r['img_s']:>10,.1f} {100 * r['spread']:>6.1f}% "
            f"{r['img_s'] / rows[0]['img_s']:>8.2f}x {r['max_abs_diff']:>18.2e}"
        )


def run_svr(b: Bench, a, result: dict, peak) -> None:
    rows, extra = bench_svr(a.svr_rows, a.svr_dim, a.svr_test, b.config)
    result["svr"] = {"rows": rows, **extra}
    print(
        f"\n## (c) SVR on {extra['svr_shape'][0]} x {extra['svr_shape'][1]} float32, "
        f"predicting {extra['predicted_rows']} rows"
    )
    for r in rows:
        speed = rows[0]["fit_s"] / r["fit_s"], rows[0]["predict_s"] / r["predict_s"]
        r["speedup"] = (rows[0]["fit_s"] + rows[0]["predict_s"]) / (r["fit_s"] + r["predict_s"])
        print(
            f"{r['backend']:<8} fit {r['fit_s']:8.3f} s ({speed[0]:6.1f}x)   predict {r['predict_s']:8.3f} s "
            f"({speed[1]:6.1f}x)   fit + predict {r['speedup']:6.1f}x"
        )
    if "cuml_raw_fit_s" in extra:
        print(
            f"cuML raw fit {extra['cuml_raw_fit_s']:.3f} s; "
            f"cuML vs scikit-learn: RMSE {extra['pred_rmse_cuml_vs_sklearn']:.2e}"
        )
    else:
        print(f"cuML: not measured ({cuml_status()[1]})")


def run_select(b: Bench, a, result: dict, peak) -> None:
    """(h): scikit-learn (every core) and cuML on the same data, then cuML on a fold's full size."""
    small = [bench_select(a.select_rows, a.select_dim, a.select_sets, b.config, "sklearn")]
    if cuml_status()[0]:
        small.append(bench_select(a.select_rows, a.select_dim, a.select_sets, b.config, "cuml"))
        small.append(bench_select(a.svr_rows, a.select_full_dim, a.select_sets, b.config, "cuml"))
    result["select"] = small
    print(f"\n## (h) forward selection among {a.select_sets} feature sets, 10 folds")
    for r in small:
        ratio = small[0]["seconds"] / r["seconds"] if r["rows"] == small[0]["rows"] else None
        print(
            f"{r['backend']:<8} {r['rows']:>6} rows x {r['dim']:>4} cols/set  {r['fits']:>5} fits "
            f"in {r['seconds']:8.1f} s "
            f"({r['workers']} workers)" + (f"  {ratio:6.1f}x" if ratio else "") + f"  chose {'+'.join(r['chosen'])}"
        )
    if len(small) == 1:
        print(f"cuML: not measured ({cuml_status()[1]})")


def run_data(b: Bench, a, result: dict, peak) -> None:
    r = bench_data(b, a.cache_rows, b.cfg.num_workers)
    result["data"] = r
    how = f"{r['workers']} workers, {r['size']}px, image.resize {r['resize']}"
    print(f"\n## (d) data loading from the cache: {r['img_s']:,.0f} img/s ({how})")


def run_memory(b: Bench, a, result: dict, peak) -> None:
    rows = bench_memory(b)
    result["memory"] = rows
    print(f"\n## (g) memory at batch 16 ({rows[0]['amp']}, eager)\n{'checkpointing':<14} {'img/s':>10} {'peak GiB':>9}")
    for r in rows:
        print(f"{r['checkpointing']:<14} {r['img_s']:>10,.1f} {fmt(r['peak_gib']):>9}")


def run_heads(b: Bench, a, result: dict, peak) -> None:
    """(i): the write-up's three heads on one frozen matrix, each against scikit-learn's SVR."""
    from .heads import bench_heads

    rows, shape = bench_heads(a.heads_rows, a.heads_dim, b.config)
    result["heads"] = {"rows": rows, **shape}
    print(
        f"\n## (i) three heads on one frozen embedding matrix ({shape['fit_rows']:,} x {shape['dim']} to fit, "
        f"{shape['held_out']:,} held out; the MLP stops early on {shape['val_rows']:,} more)"
    )
    print(f"{'head':<18} {'fit s':>9} {'vs sklearn':>10} {'predict s':>10} {'vs sklearn':>10} {'held-out RMSE':>14}")
    for r in rows:
        if "missing" in r:
            print(f"{r['head']:<18} not measured: {r['missing']}")
            continue
        print(
            f"{r['head']:<18} {r['fit_s']:>9.3f} {r['fit_vs_sklearn']:>9.2f}x {r['predict_s']:>10.4f} "
            f"{r['predict_vs_sklearn']:>9.2f}x {r['held_out_rmse']:>14.3f}"
            + (f"   ({r['epochs']} epochs, best {r['best_epoch']})" if "epochs" in r else "")
        )


def run_stack(b: Bench, a, result: dict, peak) -> None:
    """(j): the stacker (XGBoost) on a fold's OOF predictions: on the CPU, and on CUDA where XGBoost has it."""
    import xgboost as xgb

    from .heads import bench_stack

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() and xgb.build_info().get("USE_CUDA") else [])
    rows = bench_stack(a.stack_rows, a.stack_components, b.config, devices)
    result["stack"] = {"rows": rows, "shape": [a.stack_rows, a.stack_components + 12]}
    print(f"\n## (j) stacker: XGBoost on {a.stack_rows:,} OOF rows x {a.stack_components} predictions + 12 flags "
          f"(one outer fold, early stopping on 20%)")  # fmt: skip
    for r in rows:
        speed = rows[0]["fit_s"] / r["fit_s"]
        print(f"{r['device']:<6} fit {r['fit_s']:8.3f} s ({speed:5.1f}x)  predict {r['predict_s']:7.4f} s  "
              f"{r['rounds']} rounds")  # fmt: skip


RUNNERS = {
    "train": run_train,
    "embed": run_embed,
    "finetune": run_finetune,
    "infer": run_infer,
    "svr": run_svr,
    "data": run_data,
    "memory": run_memory,
    "select": run_select,
    "heads": run_heads,
    "stack": run_stack,
}


def project_run(result: dict, config: dict, a) -> dict | None:
    """A 10-fold run projected from the suite's rates: per fold, the first (compiling) step, the
    epochs at the training rate, and embedding every training row at the embed rate."""
    if "train" not in result or "embed" not in result:
        return None
    train, embed = result["train"]["rows"][1], result["embed"]["rows"][1]
    views = 2 if config["embed"]["tta_hflip"] else 1
    epochs, folds = config["train"]["epochs"], config["folds"]["n_splits"]
    rows = a.epoch_rows * folds / (folds - 1)  # every training row, as the embed stage sees them
    per_fold = train["first_step_s"] + epochs * a.epoch_rows / train["img_s"] + rows * views / embed["img_s"]
    return {"folds": folds, "epochs": epochs, "per_fold_s": per_fold, "total_min": folds * per_fold / 60}


def target_rows(result: dict) -> list[tuple[str, float | None, float, str]]:
    """(target, measured, goal, unit) for each GPU target that the result can speak to."""
    svr = result.get("svr", {}).get("rows", [])
    cuml = next((r["speedup"] for r in svr if r["backend"] == "cuml"), None)
    proj = result.get("projection") or {}
    return [
        (
            "training img/s (project step)",
            result.get("train", {}).get("rows", [{}, {}])[1].get("img_s"),
            TARGETS["train_img_s"],
            ">=",
        ),
        (
            "embedding img/s (views)",
            result.get("embed", {}).get("rows", [{}, {}])[1].get("img_s"),
            TARGETS["embed_img_s"],
            ">=",
        ),
        ("SVR path vs scikit-learn", cuml, TARGETS["svr_speedup"], ">="),
        ("all folds x epochs, projected minutes", proj.get("total_min"), TARGETS["ten_folds_min"], "<="),
    ]


def render(result: dict, path: str) -> None:
    """Write the targets table between the `<!-- gpu-suite -->` markers of `path` (BENCHMARKS.md)."""
    lines = [
        f"Measured {result['date']} on {result['device']} (torch {result['torch']}, timm {result['timm']}): "
        f"`{result['command']}`",
        "",
        "| target | measured | goal | met |",
        "|---|---|---|---|",
    ]
    for name, value, goal, op in target_rows(result):
        met = "not measured" if value is None else ("yes" if (value >= goal if op == ">=" else value <= goal) else "no")
        lines.append(f"| {name} | {fmt(float(value)) if value is not None else '-'} | {op} {goal:,.0f} | {met} |")
    text = Path(path).read_text()
    block = "<!-- gpu-suite -->\n" + "\n".join(lines) + "\n<!-- /gpu-suite -->"
    new, n = re.subn(r"<!-- gpu-suite -->.*?<!-- /gpu-suite -->", lambda _: block, text, flags=re.S)
    if n != 1:
        raise ValueError(f"{path}: no '<!-- gpu-suite -->' ... '<!-- /gpu-suite -->' block to render into")
    Path(path).write_text(new)


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m pawpipe.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", action="append", default=None, help="config file(s) on top of config/config.yaml")
    suites = "; ".join(f"{name}: {sections}" for name, sections in SUITES.items())
    ap.add_argument("--suite", choices=sorted(SUITES), default="all", help=f"the sections to run ({suites})")
    ap.add_argument("--smoke", action="store_true", help="a tiny model and budget: checks that the suite starts")
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
    ap.add_argument("--epoch-rows", type=int, default=8921, help="rows per training epoch (s/epoch, projection)")
    ap.add_argument("--select-rows", type=int, default=1000, help="(h): rows both SVR backends select on")
    ap.add_argument("--select-dim", type=int, default=64, help="(h): columns per synthetic feature set")
    ap.add_argument("--select-sets", type=int, default=8, help="(h): candidate feature sets")
    ap.add_argument("--select-full-dim", type=int, default=1024, help="(h): columns per set for cuML at --svr-rows")
    ap.add_argument("--cache-rows", type=int, default=2048, help="images in the synthetic cache for (d)")
    ap.add_argument("--heads-rows", type=int, default=8921, help="(i): rows of the frozen matrix (a Pawpularity fold)")
    ap.add_argument("--heads-dim", type=int, default=1536, help="(i): its width (Swin-L: 1536)")
    ap.add_argument("--stack-rows", type=int, default=9912, help="(j): OOF rows the stacker fits (Pawpularity's)")
    ap.add_argument("--stack-components", type=int, default=8, help="(j): prediction columns (e.g. 4 experiments x 2)")
    ap.add_argument("--peak-tflops", type=float, help="chip peak for MFU (default: bf16 datasheet figure)")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip, of " + ",".join(RUNNERS))
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--render", help="write the GPU targets table into this file (BENCHMARKS.md)")
    a = ap.parse_args(argv)
    if a.smoke:
        for key, value in SMOKE.items():
            if f"--{key.replace('_', '-')}" not in (argv if argv is not None else sys.argv):
                setattr(a, key, value)
    return a


def setup(a) -> Bench:
    """The config through the workflow's own loader and schema, the model and the synthetic inputs."""
    config = load_config(a.config or [])
    if a.smoke:
        config["image"]["size"] = 32
        config["backbone"].update(
            name="swin_micro_patch4_window4_64", kwargs={"img_size": 32, "depths": [1, 1], "num_heads": [1, 2]}
        )
    train = {**config["train"], "threads": max(1, torch.get_num_threads())}
    if a.compile is not None:
        train["compile"] = a.compile
    if a.grad_checkpointing is not None:
        gc = a.grad_checkpointing
        train["grad_checkpointing"] = (
            {"none": False, "all": True}.get(gc) if gc in ("none", "all") else [int(i) for i in gc.split(",")]
        )
    config["train"] = train
    cfg = TrainConfig.from_params(train, seed=config["seed"])
    device = resolve_device(cfg.device)
    set_threads(cfg.threads)
    size, batch = config["image"]["size"], a.batch or cfg.batch_size
    embed_batch = a.embed_batch or config["embed"]["batch_size"]
    torch.manual_seed(0)
    args_model = resolve_model_args({**config["backbone"], "pretrained": False}, config["head"], size)
    base = create_model(args_model)
    args_model["mean"], args_model["std"] = resolve_normalization(base)
    gen = torch.Generator().manual_seed(0)
    x_uint8 = torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8, generator=gen).to(device)
    target = torch.rand(batch, generator=gen).to(device)
    images = torch.randint(0, 256, (embed_batch * 2, size, size, 3), dtype=torch.uint8, generator=gen).numpy()
    return Bench(
        config, cfg, args_model, base, device, batch, embed_batch, a.steps, a.warmup, a.repeats, x_uint8, target, images
    )


def main(argv: list[str] | None = None) -> dict:
    a = parse_args(argv)
    b = setup(a)
    import timm

    name = torch.cuda.get_device_name(b.device) if b.device.type == "cuda" else platform.processor() or "cpu"
    peak = (
        a.peak_tflops or next((v for k, v in PEAK_BF16.items() if k in name), None) if b.device.type == "cuda" else None
    )
    result = {
        "device": name,
        "device_type": b.device.type,  # cpu | cuda: what the figures (and the smoke test's checks) are of
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "command": " ".join(["python -m pawpipe.bench", *(argv if argv is not None else sys.argv[1:])]),
        "suite": a.suite,
        "model": b.args_model["name"],
        "image_size": b.config["image"]["size"],
        "peak_tflops": peak,
    }
    print(f"# {result['command']}\n# {name}, torch {torch.__version__}, timm {timm.__version__}, {result['date']}")
    print(
        f"# model {b.args_model['name']} at {result['image_size']}px; "
        f"train batch {b.batch}, embed batch {b.embed_batch}"
    )
    skip = set(filter(None, a.skip.split(",")))
    for section in SUITES[a.suite].split(","):
        if section not in skip:
            RUNNERS[section](b, a, result, peak)
    result["projection"] = project_run(result, b.config, a)
    if result["projection"]:
        p = result["projection"]
        print(
            f"\nprojected: {p['folds']} folds x {p['epochs']} epochs = {p['total_min']:.1f} min "
            f"({p['per_fold_s']:.0f} s a fold)"
        )
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2) + "\n")
    if a.render:
        render(result, a.render)
    return result


if __name__ == "__main__":
    main()
