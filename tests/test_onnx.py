"""ONNX export and the ONNX Runtime embed path: same outputs as PyTorch within the stated tolerance."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import assert_same_csv, cached_images, cpu_only, pawpularity_task, run_packaged_kernel, run_snakemake
from conftest import train_fold_0 as train

pytestmark = pytest.mark.slow  # exports graphs and trains a fold
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
    from pawpipe.ort import ExportJob, export_fold

    job = ExportJob(
        fold=0,
        checkpoint=str(trained / "best.pt"),
        folds_csv=str(root / "folds.csv"),
        train_npy=str(root / "train.npy"),
        train_index=str(root / "train.json"),
        train_table=str(root / "data" / "train.csv"),
        out_onnx=str(out / "model.onnx"),
        out_report=str(out / "onnx.json"),
        task=str(root / "task.json"),
    )
    return export_fold(job, {"opset": 18, "exporter": exporter, "atol": atol, "check_images": 8}, threads=1)


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_onnx_runtime_matches_pytorch_on_every_image_and_batch_size(lora_meta_fold, tmp_path, exporter):
    from pawpipe.data import tabular_matrix
    from pawpipe.embed import EmbedSettings, fold_predictor

    root, trained = lora_meta_fold
    report = export(root, trained, tmp_path, exporter=exporter)
    assert report["head_metadata"] and report["check"]["images"] == 8 and report["exporter"] == exporter
    assert max(report["check"]["max_abs_diff"].values()) <= ATOL

    images = cached_images(root)
    ids = pd.read_csv(root / "folds.csv", dtype={"Id": str})["Id"].tolist()
    meta = tabular_matrix(root / "data" / "train.csv", ids, pawpularity_task())
    rows = np.random.default_rng(0).permutation(len(images))  # unsorted rows, as the predictor allows
    onnx = (tmp_path / "model.onnx", tmp_path / "onnx.json")
    for batch, hflip in [(5, False), (len(rows), True)]:  # the graph was traced at batch 2
        settings = EmbedSettings("torch", "cpu", "off", 1, batch, hflip, False, False)
        p, e = fold_predictor(settings, trained / "best.pt")[0](images, rows, meta=meta)
        run_ort = fold_predictor(EmbedSettings("onnx", *list(settings.__dict__.values())[1:]), None, *onnx)[0]
        po, eo = run_ort(images, rows, meta=meta)
        assert po.shape == p.shape and eo.shape == e.shape
        assert np.abs(po - p).max() <= ATOL and np.abs(eo - e).max() <= ATOL
    other = meta.copy()
    other[:, 0] = 1 - other[:, 0]  # the head reads the metadata in the graph too
    assert not np.allclose(run_ort(images, rows, meta=other)[0], po, atol=ATOL)
    with pytest.raises(ValueError, match="head.metadata"):
        run_ort(images, rows)


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
        assert onnx_cv["scores"][head] == pytest.approx(torch_cv["scores"][head], abs=0.01)
    sub = pd.read_csv(workdir / "submissions" / "tiny" / "submission.csv")
    assert len(sub) == 12 and sub["Pawpularity"].between(1, 100).all()

    # The code-competition package ships the ONNX graphs, and its kernel reproduces the submission.
    out = run_packaged_kernel(workdir, "tiny", tmp_path / "kernel", *onnx_config)
    shipped = sorted(p.name for p in (workdir / "submissions/tiny/kaggle/dataset").glob("fold0-*"))
    assert shipped == ["fold0-blend.json", "fold0-model.onnx", "fold0-onnx.json", "fold0-svr.npz"]
    assert_same_csv(out, workdir / "submissions/tiny/submission.csv", exact=cpu_only())
