"""Predict the test set from a packaged experiment alone: no training data, no network.

This is the code-competition route: the Kaggle notebook calls `predict_package` on the dataset
folder built by the `package` rule. It runs the same steps as the pipeline, through the same
functions (decode and crop as the cache does, embed with the same batch size, assemble the SVR's
features, the fold's SVR, the blend formula with the fold's weight, the mean over folds and the clip),
so on the same device it reproduces the pipeline's submission. Folds are dealt round-robin
to every visible GPU, one thread per device; on a GPU below compute capability 8.0 (Kaggle's T4)
the models run in fp16 whatever precision they were trained in.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..blend import mix
from ..cache import ImageCache, ImageSpec, layout
from ..data import ID, DataError, check_image_files, check_table, read_table, tabular_features
from ..embed import EmbedSettings, fold_predictor
from ..features import assemble
from ..heads import HEADS
from ..io import read_json, write_csv, write_json
from ..logs import log
from ..report import check_submission
from ..runtime import set_threads
from ..task import Task
from .manifest import Manifest


def load_test_images(paths: list[Path], spec: ImageSpec, workers: int) -> ImageCache:
    """The test images decoded as the cache rule decodes them, read through the same centre crop."""
    return ImageCache.decode(
        [str(p) for p in paths], spec, workers, desc=f"decode test at {spec.size}px ({layout(spec)})"
    )


def svr_features(
    feature_sets: list[str], embeddings: np.ndarray, test: pd.DataFrame, extracted: dict, task: Task
) -> np.ndarray:
    """A frozen-feature head's input: the sets it was fitted on, assembled in the recorded order (pawpipe.features)."""
    available = {"embedding": embeddings, **extracted}
    if "metadata" in feature_sets:
        available["metadata"] = tabular_features(test, test[ID].tolist(), task.features)
    missing = [name for name in feature_sets if name not in available]
    if missing:
        raise ValueError(
            f"a packaged head uses feature set {missing[0]!r}, which the package cannot compute; rebuild the "
            f"package with the package rule (other experiments' embeddings cannot be packaged)"
        )
    return assemble(available, feature_sets)


def extract_features(package_dir: Path, manifest: Manifest, paths: list[Path], devices: list[str], threads: int):
    """Every packaged extractor's outputs for the test images, as the extract rule computes them:
    {`{name}.{take}`: (n, d) float32}. Extractors are dealt round-robin over the devices, like the folds."""
    dealt = deal_folds(sorted(manifest.extractors), devices)

    def run_device(device: str, names: list[str]) -> dict:
        return {name: run_packaged_extractor(package_dir, manifest, name, paths, device, threads) for name in names}

    out = {}
    with ThreadPoolExecutor(max_workers=max(1, len(dealt))) as pool:
        for done in [pool.submit(run_device, d, names) for d, names in dealt]:
            for outputs in done.result().values():
                out |= outputs
    return out


def run_packaged_extractor(package_dir: Path, manifest: Manifest, name: str, paths, device: str, threads: int):
    """One packaged extractor on `device`: its model from the shipped weights, the recorded preprocessing."""
    import torch

    from ..extract import DecodedImages, create_extractor, run_extractor

    t0 = time.perf_counter()
    entry = manifest.extractors[name]
    spec, cfg = entry["spec"], entry["data_config"]
    model = create_extractor(spec, manifest.seed, load_pretrained=False)
    state = torch.load(package_dir / entry["file"], map_location="cpu", weights_only=True)["model"]
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    settings = notebook_settings(manifest, device, threads)
    images = DecodedImages(paths, cfg, threads)
    outputs = run_extractor(model, cfg, spec["take"], images, settings, f"extractor {name}")
    log.info("extractor %s on %s: %d images in %.1f s", name, device, len(paths), time.perf_counter() - t0)
    return {f"{name}.{take}": values for take, values in outputs.items()}


def inference_devices(device: str = "auto") -> list[str]:
    """Where folds run: `auto` is every visible GPU (else the CPU); a comma-separated list names them."""
    if device != "auto":
        return [d.strip() for d in device.split(",") if d.strip()]
    import torch

    return [f"cuda:{i}" for i in range(torch.cuda.device_count())] or ["cpu"]


def device_amp(trained: str, device: str) -> str:
    """The precision a packaged model predicts in on `device` (runtime.inference_amp)."""
    from ..runtime import inference_amp

    if not device.startswith("cuda"):
        return inference_amp(trained, None)
    import torch

    return inference_amp(trained, torch.cuda.get_device_capability(device))


def version_mismatches(recorded: dict[str, str]) -> list[str]:
    """The libraries whose version here differs from the one the package was built with."""
    import importlib

    found = []
    for name, version in sorted(recorded.items()):
        try:
            here = importlib.import_module(name).__version__
        except ImportError:
            here = "not installed"
        if here != version:
            found.append(f"{name} {here} (package built with {version})")
    return found


def notebook_settings(manifest: Manifest, device: str, threads: int) -> EmbedSettings:
    """How the notebook runs a fold's model or an extractor on `device`: as the pipeline did (engine,
    batch size, flip TTA), in the device's precision (device_amp), never compiled."""
    return EmbedSettings(
        engine=manifest.engine,
        device=device,
        amp=device_amp(manifest.amp, device),
        threads=threads,
        batch_size=manifest.embed_batch_size,
        hflip=manifest.tta_hflip,
        compile=False,  # a notebook predicts each fold once: a compile would cost more than it saves
        channels_last="auto",
    )


def deal_folds(folds: list[int], devices: list[str]) -> list[tuple[str, list[int]]]:
    """Folds round-robin over devices (10 folds on 2 GPUs: 5 each); a device may be listed twice."""
    n = len(devices)
    return [(d, folds[i::n]) for i, d in enumerate(devices) if folds[i::n]]


def predict_fold(
    package_dir: Path, manifest: Manifest, fold: int, device: str, images, test, threads: int, extracted: dict
):
    """One fold's blended test predictions (float64: values, or probabilities) and its seconds: loading,
    then predicting. The fine-tuned head predicts with the backbone; each frozen-feature head (HEADS) from
    its file on the features it was fitted on; the blend formula weighs them as the fold's blend.json says."""
    task = Task.load(manifest.task)
    t0 = time.perf_counter()
    settings = notebook_settings(manifest, device, threads)
    files = (manifest.path(package_dir, fold, f) for f in ("best.pt", "model.onnx", "onnx.json"))
    run, info = fold_predictor(settings, *files)
    if info["image_size"] != images.shape[1]:
        raise ValueError(
            f"fold {fold}: its model takes {info['image_size']} px images, the package says {images.shape[1]}"
        )
    weights = read_json(manifest.path(package_dir, fold, "blend.json"))["weights"]
    frozen = {h: HEADS[h].load(manifest.path(package_dir, fold, HEADS[h].model_file)) for h in weights
              if HEADS[h].frozen}  # fmt: skip
    load_s, t0 = time.perf_counter() - t0, time.perf_counter()
    meta = tabular_features(test, test[ID].tolist(), task.features) if info["head_metadata"] else None
    mlp, emb = run(images, np.arange(len(test)), desc=f"fold {fold}", meta=meta)
    preds = {"mlp": mlp.astype(np.float64)}
    for name, head in frozen.items():
        preds[name] = head.predict(svr_features(head.feature_sets, emb, test, extracted, task), device)
    predict_s = time.perf_counter() - t0
    shown = ", ".join(f"{h} {w:.2f}" for h, w in weights.items())
    log.info("fold %d on %s (%s, amp %s): loaded in %.1f s, %d images in %.1f s, blend weights %s", fold, device,
             info["engine"], settings.amp, load_s, len(test), predict_s, shown)  # fmt: skip
    blend = mix(list(weights.values()), [preds[h] for h in weights])
    return blend, preds, {"load_s": load_s, "predict_s": predict_s}


@dataclass(frozen=True)
class TestSet:
    """The competition's test rows as the notebook reads them: the table, ids, image files, cores, devices."""

    table: pd.DataFrame
    ids: list[str]
    paths: list[Path]
    workers: int
    devices: list[str]


def experiment_predictions(package_dir: Path, manifest: Manifest, rows: TestSet) -> dict:
    """One packaged experiment's test predictions, fold by fold (dealt over the devices): each fold's
    blend and each head's prediction, and the seconds each step took."""
    t0 = time.perf_counter()
    images = load_test_images(rows.paths, ImageSpec.from_config(manifest.image), rows.workers)
    decode_s, t0 = time.perf_counter() - t0, time.perf_counter()
    extracted = extract_features(package_dir, manifest, rows.paths, rows.devices, rows.workers)
    extract_s = time.perf_counter() - t0
    dealt = deal_folds(manifest.folds, rows.devices)
    log.info("%s: folds per device: %s", manifest.exp, ", ".join(f"{d}: {f}" for d, f in dealt))

    def run_device(dev: str, folds: list[int]) -> dict:
        return {
            k: predict_fold(package_dir, manifest, k, dev, images, rows.table, rows.workers, extracted) for k in folds
        }

    results: dict[int, tuple] = {}
    with ThreadPoolExecutor(max_workers=len(dealt)) as pool:
        for done in [pool.submit(run_device, d, f) for d, f in dealt]:
            results.update(done.result())
    folds = manifest.folds  # fold order, whichever device finished first
    heads = {h: [results[k][1][h] for k in folds] for h in results[folds[0]][1]}
    timings = {"decode_s": decode_s, "extract_s": extract_s, "folds": {str(k): results[k][2] for k in folds}}
    return {"blends": [results[k][0] for k in folds], "heads": heads, "timings": timings}


def stack_predictions(package_dir: Path, manifest: Manifest, rows: TestSet) -> dict:
    """A packaged stacker's test predictions: each stacked experiment's heads (folds-mean), the stacker's
    features built as the pipeline built them, each outer fold's booster on them."""
    from ..blend import fold_mean
    from ..stack import feature_matrix, load_booster, predict_stacker

    stack, task = manifest.stack, Task.load(manifest.task)
    parts, timings = {}, {"decode_s": 0.0, "extract_s": 0.0, "folds": {}}
    for exp, member in manifest.members().items():
        out = experiment_predictions(package_dir, member, rows)
        parts |= {f"{exp}:{h}": fold_mean(p) for h, p in out["heads"].items()}
        timings["decode_s"] += out["timings"]["decode_s"]
        timings["extract_s"] += out["timings"]["extract_s"]
        timings["folds"] |= {f"{exp}:{k}": v for k, v in out["timings"]["folds"].items()}
    missing = [c for c in stack["components"] if c not in parts]
    if missing:
        raise ValueError(f"the stacker reads {missing}, which the packaged experiments do not predict; rebuild it")
    tabular = tabular_features(rows.table, rows.ids, stack["tabular"]) if stack["tabular"] else None
    x, _ = feature_matrix(task, {c: parts[c] for c in stack["components"]}, tabular, stack["summaries"])
    boosters = [load_booster(package_dir / name) for _, name in sorted(stack["boosters"].items())]
    return {"blends": [predict_stacker(b, x) for b in boosters], "timings": timings}


def predict_package(
    package_dir: str | Path,
    data_dir: str | Path,
    out_csv: str | Path,
    device: str = "auto",
    workers: int | None = None,
    timings_json: str | Path | None = None,
) -> pd.DataFrame:
    t_start = time.perf_counter()
    package_dir, data_dir = Path(package_dir), Path(data_dir)
    manifest = Manifest.read(package_dir)
    for problem in version_mismatches(manifest.versions):
        log.warning("WARNING: version differs from the package's: %s", problem)
    task = Task.load(manifest.task)
    table = data_dir / task.tables["test"]
    test = read_table(table, task.id)
    problems = check_table(test, table, task, train=False) or check_image_files(test, data_dir, "test", task)
    if problems:
        raise DataError(problems)
    workers = workers or os.cpu_count() or 1
    set_threads(workers)
    rows = TestSet(
        test, test[ID].tolist(), task.image_paths(data_dir, "test", test), workers, inference_devices(device)
    )
    out = (stack_predictions if manifest.stack else experiment_predictions)(package_dir, manifest, rows)
    sub = task.submission_frame(rows.ids, out["blends"])
    check_submission(sub, rows.ids, task, str(out_csv))
    write_csv(sub, out_csv)
    total_s = time.perf_counter() - t_start
    log.info("wrote %s: %d rows from %d folds of %r in %.1f s", out_csv, len(sub), len(out["blends"]), manifest.exp,
             total_s)  # fmt: skip
    if timings_json:
        devices = [d for d, _ in deal_folds(list(range(max(len(out["blends"]), 1))), rows.devices)]
        write_json({"images": len(rows.ids), "devices": devices, **out["timings"], "total_s": total_s}, timings_json)
    return sub
