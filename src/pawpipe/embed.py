"""Freeze a fold's best checkpoint; write embeddings for all train rows and the test set, and the
MLP head's out-of-fold and test predictions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from .cache import open_cache
from .data import TARGET, metadata_matrix
from .io import read_json, write_csv, write_npz
from .logs import log
from .model import load_checkpoint
from .runtime import Normalizer, amp_dtype, explain_oom, predict, resolve_device, set_threads


def fold_predictor(
    *,
    engine: str,
    checkpoint: str | Path | None,
    onnx_model: str | Path | None,
    onnx_report: str | Path | None,
    device: str,
    amp: str,
    threads: int,
    batch_size: int,
    hflip: bool,
) -> tuple[Callable[..., tuple[np.ndarray, np.ndarray]], dict]:
    """A fold's frozen model, ready to predict: `run(images, rows, desc, meta)` returns runtime.predict's
    (predictions 1..100, embeddings); `info` has head_metadata, epoch, image_size and the engine used.

    `engine: torch` runs the checkpoint in PyTorch (on `device`, with `amp`); `engine: onnx` runs the
    fold's exported graph (checked at export) in ONNX Runtime. The embed stage and the Kaggle kernel
    both load folds through here.
    """
    if engine == "onnx":
        from .ort import predict_ort, session

        info = read_json(onnx_report)
        sess = session(onnx_model, threads, device)

        def run(images, rows, desc="predict", meta=None):
            return predict_ort(sess, images, rows, batch_size, desc, hflip, meta)

        return run, {
            "head_metadata": bool(info["head_metadata"]),
            "epoch": info["epoch"],
            "image_size": int(info["image_size"]),
            "engine": f"ONNX Runtime ({', '.join(sess.get_providers())})",
        }
    if engine != "torch":
        raise ValueError(f"embed.engine must be torch or onnx, not {engine!r}")
    dev = resolve_device(device)
    model, ckpt = load_checkpoint(checkpoint, dev)
    model.requires_grad_(False).eval()
    args = ckpt["model_args"]
    norm, dtype = Normalizer(args["mean"], args["std"], dev), amp_dtype(amp, dev)

    def run(images, rows, desc="predict", meta=None):
        return predict(model, images, rows, batch_size, norm, dtype, desc, hflip, meta)

    return run, {
        "head_metadata": bool(args.get("head_metadata")),
        "epoch": ckpt["epoch"],
        "image_size": int(args["image_size"]),
        "engine": f"PyTorch ({dev})",
    }


def embed_fold(
    *,
    checkpoint: str,
    folds_csv: str,
    train_npy: str,
    test_npy: str,
    test_index: str,
    fold: int,
    batch_size: int,
    device: str,
    amp: str,
    threads: int,
    tta_hflip: bool = False,
    train_table: str | None = None,
    test_table: str | None = None,
    out_npz: str,
    out_oof: str,
    out_test: str,
    engine: str = "torch",
    onnx_model: str | None = None,
    onnx_report: str | None = None,
) -> dict:
    """Embeddings and MLP predictions of every train and test row through the fold's model
    (`engine`: see fold_predictor)."""
    set_threads(threads)
    folds = pd.read_csv(folds_csv, dtype={"Id": str})
    test_ids = read_json(test_index)["ids"]
    train_images, test_images = open_cache(train_npy), open_cache(test_npy)
    train_rows, test_rows = np.arange(len(folds)), np.arange(len(test_ids))

    run, info = fold_predictor(
        engine=engine,
        checkpoint=checkpoint,
        onnx_model=onnx_model,
        onnx_report=onnx_report,
        device=device,
        amp=amp,
        threads=threads,
        batch_size=batch_size,
        hflip=tta_hflip,
    )
    uses_meta, epoch = info["head_metadata"], info["epoch"]
    log.info("fold %d: embedding through %s", fold, info["engine"])

    with explain_oom("embed"):
        train_meta = metadata_matrix(train_table, folds["Id"].tolist()) if uses_meta else None
        test_meta = metadata_matrix(test_table, test_ids) if uses_meta else None
        train_pred, train_emb = run(train_images, train_rows, "embed train", train_meta)
        test_pred, test_emb = run(test_images, test_rows, "embed test", test_meta)

    val = folds["fold"].to_numpy() == fold
    oof = folds.loc[val, ["Id", "fold", TARGET]].assign(pred=train_pred[val].astype(np.float64))
    write_npz(
        out_npz,
        train=train_emb.astype(np.float32),
        test=test_emb.astype(np.float32),
        train_ids=folds["Id"].to_numpy(str),
        test_ids=np.asarray(test_ids, str),
    )
    write_csv(oof, out_oof)
    write_csv(pd.DataFrame({"Id": test_ids, "pred": test_pred.astype(np.float64)}), out_test)
    mlp_rmse = float(np.sqrt(np.mean((oof["pred"] - oof[TARGET]) ** 2)))
    log.info(
        "fold %d: embeddings %s train, %s test; MLP OOF RMSE %.4f (checkpoint epoch %d)",
        fold,
        train_emb.shape,
        test_emb.shape,
        mlp_rmse,
        epoch,
    )
    return {"mlp_oof_rmse": mlp_rmse, "embedding_dim": int(train_emb.shape[1]), "checkpoint_epoch": epoch}
