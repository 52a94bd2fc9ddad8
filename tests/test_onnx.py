"""ONNX export and the ONNX Runtime embed path: same outputs as PyTorch within the stated tolerance."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import run_snakemake
from test_kaggle import run_packaged_kernel
from test_train import run as train

ATOL = 1e-3  # the config's default embed.onnx.atol


@pytest.fixture(scope="module")
def lora_meta_fold(prepared_train, tmp_path_factory):
    """A fold trained with LoRA adapters and a metadata head: the case with the most to get wrong."""
    out = tmp_path_factory.mktemp("onnx_fold")
    train(
        prepared_train, out, epochs=1, finetune={"mode": "lora", "lora": {"r": 2, "alpha": 4}}, head={"metadata": True}
    )
    return prepared_train[0], out


def export(root, trained, out, atol=ATOL, exporter="torchscript"):
    from pawpipe.ort import export_fold

    return export_fold(
        checkpoint=str(trained / "best.pt"),
        folds_csv=str(root / "folds.csv"),
        train_npy=str(root / "train.npy"),
        train_table=str(root / "data" / "train.csv"),
        fold=0,
        opset=18,
        exporter=exporter,
        atol=atol,
        check_images=8,
        threads=1,
        out_onnx=str(out / "model.onnx"),
        out_report=str(out / "onnx.json"),
    )


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_onnx_runtime_matches_pytorch_on_every_image_and_batch_size(lora_meta_fold, tmp_path, exporter):
    from pawpipe.data import metadata_matrix
    from pawpipe.model import load_checkpoint
    from pawpipe.ort import predict_ort, session
    from pawpipe.runtime import Normalizer, predict

    root, trained = lora_meta_fold
    report = export(root, trained, tmp_path, exporter=exporter)
    assert report["head_metadata"] and report["check"]["images"] == 8 and report["exporter"] == exporter
    assert max(report["check"]["max_abs_diff"].values()) <= ATOL

    images = np.load(root / "train.npy")
    ids = pd.read_csv(root / "folds.csv", dtype={"Id": str})["Id"].tolist()
    meta = metadata_matrix(root / "data" / "train.csv", ids)
    rows = np.random.default_rng(0).permutation(len(images))  # unsorted rows, as predict() allows
    model, ckpt = load_checkpoint(trained / "best.pt")
    norm = Normalizer(ckpt["model_args"]["mean"], ckpt["model_args"]["std"], torch.device("cpu"))
    sess = session(tmp_path / "model.onnx")
    for batch, hflip in [(5, False), (len(rows), True)]:  # the graph was traced at batch 2
        p, e = predict(model, images, rows, batch, norm, None, hflip=hflip, meta=meta)
        po, eo = predict_ort(sess, images, rows, batch, hflip=hflip, meta=meta)
        assert po.shape == p.shape and eo.shape == e.shape
        assert np.abs(po - p).max() <= ATOL and np.abs(eo - e).max() <= ATOL
    other = meta.copy()
    other[:, 0] = 1 - other[:, 0]  # the head reads the metadata in the graph too
    assert not np.allclose(predict_ort(sess, images, rows, 16, meta=other)[0], po, atol=ATOL)
    with pytest.raises(ValueError, match="head.metadata"):
        predict_ort(sess, images, rows, 16)


def test_an_export_outside_the_tolerance_is_refused_and_not_kept(lora_meta_fold, tmp_path):
    from pawpipe.ort import ExportError

    root, trained = lora_meta_fold
    with pytest.raises(ExportError, match=r"model\.onnx.*embed\.onnx\.atol"):
        export(root, trained, tmp_path, atol=1e-12)
    assert not list(tmp_path.iterdir())  # neither the graph nor a report


def test_the_pipeline_runs_end_to_end_through_onnx_runtime(pipeline_run, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(pipeline_run, workdir, symlinks=True)
    exp = workdir / "models" / "tiny"
    torch_cv = json.loads((exp / "cv.json").read_text())
    torch_emb = {k: np.load(exp / f"fold{k}" / "embeddings.npz") for k in (0, 1)}
    checkpoints = {k: (exp / f"fold{k}" / "best.pt").stat().st_mtime_ns for k in (0, 1)}
    (workdir / "onnx.yaml").write_text("embed:\n  engine: onnx\n")

    onnx_config = ("--configfile", "config/config.yaml", "onnx.yaml")
    run_snakemake(workdir, "--cores", "2", *onnx_config)

    for k in (0, 1):
        assert (exp / f"fold{k}" / "best.pt").stat().st_mtime_ns == checkpoints[k], "training reran"
        report = json.loads((exp / f"fold{k}" / "onnx.json").read_text())
        assert max(report["check"]["max_abs_diff"].values()) <= report["check"]["atol"]
        emb = np.load(exp / f"fold{k}" / "embeddings.npz")
        assert np.array_equal(emb["train_ids"], torch_emb[k]["train_ids"])
        assert np.abs(emb["train"] - torch_emb[k]["train"]).max() <= ATOL
        assert np.abs(emb["test"] - torch_emb[k]["test"]).max() <= ATOL
        assert "ONNX Runtime" in (exp / "logs" / f"embed_fold{k}.log").read_text()
    onnx_cv = json.loads((exp / "cv.json").read_text())
    for head in ("mlp", "svr", "blend"):
        assert onnx_cv["rmse"][head] == pytest.approx(torch_cv["rmse"][head], abs=0.01)
    sub = pd.read_csv(workdir / "submissions" / "tiny" / "submission.csv")
    assert len(sub) == 12 and sub["Pawpularity"].between(1, 100).all()

    # The code-competition package ships the ONNX graphs, and its kernel reproduces the submission.
    out = run_packaged_kernel(workdir, "tiny", tmp_path / "kernel", *onnx_config)
    shipped = sorted(p.name for p in (workdir / "submissions/tiny/kaggle/dataset").glob("fold0-*"))
    assert shipped == ["fold0-blend.json", "fold0-model.onnx", "fold0-onnx.json", "fold0-svr.npz"]
    assert out.read_bytes() == (workdir / "submissions/tiny/submission.csv").read_bytes()
