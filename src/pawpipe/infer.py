"""Predict the test set from a packaged experiment alone: no training data, no network.

This is the code-competition route: the Kaggle notebook calls `predict_package` on the dataset
folder built by the `package` rule. It runs the same steps as the pipeline (decode at the cached
size, embed with the same batch size, the fold's SVR, the fold's blend weight, mean over folds,
clip), so on the same device it reproduces the pipeline's submission.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .cache import decode_all
from .data import METADATA, TARGET, DataError, check_image_files, check_table, image_path, read_table
from .embed import fold_predictor
from .io import read_json, write_csv
from .logs import log
from .report import check_submission
from .runtime import resolve_device
from .svr import SVRHead

MANIFEST = "pawpipe.json"


def load_test_images(data_dir: Path, ids: list[str], size: int, workers: int) -> np.ndarray:
    paths = [str(image_path(data_dir, "test", i)) for i in ids]
    images = np.zeros((len(ids), size, size, 3), np.uint8)
    problems = []
    for i, (img, problem) in enumerate(decode_all(paths, size, workers, desc=f"decode test at {size}px")):
        if problem:
            problems.append(problem)
        else:
            images[i] = img
    if problems:
        raise DataError(problems)
    return images


def svr_features(feature_sets: list[str], embeddings: np.ndarray, test: pd.DataFrame) -> np.ndarray:
    """The SVR's input in the order it was fitted on (see pawpipe.features)."""
    parts = []
    for name in feature_sets:
        if name == "embedding":
            parts.append(embeddings)
        elif name == "metadata":
            parts.append(test[METADATA].to_numpy(np.float32))
        else:
            raise ValueError(
                f"the packaged SVR uses feature set {name!r}, which the package cannot compute; package "
                f"experiments without svr.features.logits / experiments for the code competition"
            )
    return np.concatenate(parts, axis=1).astype(np.float32)


def predict_package(
    package_dir: str | Path, data_dir: str | Path, out_csv: str | Path, device: str = "auto", workers: int | None = None
) -> pd.DataFrame:
    package_dir, data_dir = Path(package_dir), Path(data_dir)
    manifest = read_json(package_dir / MANIFEST)
    test = read_table(data_dir / "test.csv")
    problems = check_table(test, data_dir / "test.csv", train=False) or check_image_files(test, data_dir, "test")
    if problems:
        raise DataError(problems)
    ids = test["Id"].tolist()
    dev = resolve_device(device)
    workers = workers or os.cpu_count() or 1
    images_at: dict[int, np.ndarray] = {}
    blends = []
    engine = manifest.get("engine", "torch")
    for fold in manifest["folds"]:
        fold_dir = package_dir / f"fold{fold}"
        run, info = fold_predictor(
            engine=engine,
            checkpoint=fold_dir / "best.pt",
            onnx_model=fold_dir / "model.onnx",
            onnx_report=fold_dir / "onnx.json",
            device=str(dev),
            amp=manifest["amp"],
            threads=workers,
            batch_size=manifest["embed_batch_size"],
            hflip=manifest.get("tta_hflip", False),
        )
        size = info["image_size"]
        if size not in images_at:
            images_at[size] = load_test_images(data_dir, ids, size, workers)
        meta = test[METADATA].to_numpy(np.float32) if info["head_metadata"] else None
        mlp, emb = run(images_at[size], np.arange(len(ids)), meta=meta)
        head = SVRHead.load(str(fold_dir / "svr.npz"))
        svr = head.predict(svr_features(head.feature_sets, emb, test))
        w = read_json(fold_dir / "blend.json")["weight_mlp"]
        blends.append(w * mlp.astype(np.float64) + (1 - w) * svr)
        log.info("fold %d: predicted %d test images (weight on MLP %.2f)", fold, len(ids), w)
    sub = pd.DataFrame({"Id": ids, TARGET: np.clip(np.mean(blends, axis=0), 1, 100)})
    check_submission(sub, ids, str(out_csv))
    write_csv(sub, out_csv)
    log.info("wrote %s: %d rows from %d folds of experiment %r", out_csv, len(sub), len(blends), manifest["exp"])
    return sub
