"""Kaggle: guarded submit (dry run, missing credentials, the notebook route), download, the package's owner."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import assert_same_csv, copy_run, cpu_only, run_packaged_kernel, run_snakemake, write_task
from pawpipe.data import DataError
from pawpipe.kaggle import cli as kaggle
from pawpipe.kaggle.package import check_packageable


@pytest.fixture
def no_credentials(tmp_path, monkeypatch):
    for var in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle-config"))
    return {k: v for k, v in os.environ.items()}


@pytest.mark.slow
def test_dry_run_submit_prints_the_kaggle_command(pipeline_run):
    proc = run_snakemake(pipeline_run, "--cores", "1", "submit", "--config", "kaggle={dry_run: true, route: file}")
    out = proc.stdout + proc.stderr
    assert "kaggle competitions submit -c petfinder-pawpularity-score -f submissions/tiny/submission.csv" in out
    assert "-m 'pawpipe tiny: CV RMSE blend" in out


@pytest.mark.slow
def test_submit_without_credentials_says_how_to_provide_them(pipeline_run, no_credentials):
    proc = run_snakemake(
        pipeline_run, "--cores", "1", "submit", "--config", "kaggle={route: file}", check=False, env=no_credentials
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "KAGGLE_API_TOKEN" in out and "kaggle.json" in out


def test_submit_checks_the_file_again_before_sending(tmp_path):
    ids = ["a1", "b2", "c3"]
    pd.DataFrame({"Id": ids}).to_csv(tmp_path / "test.csv", index=False)
    pd.DataFrame({"Id": ids[:2], "Pawpularity": [40.0, 50.0]}).to_csv(tmp_path / "sub.csv", index=False)
    with pytest.raises(DataError, match="2 rows, but the test set has 3"):
        job = kaggle.SubmitJob(submission=str(tmp_path / "sub.csv"), test_table=str(tmp_path / "test.csv"),
                               task=write_task(tmp_path / "task.json"), cv_json="unused", exp="x")  # fmt: skip
        kaggle.submit(job, dry_run=True)


def test_download_dry_run_and_missing_credentials(tmp_path, no_credentials):
    line = kaggle.download(tmp_path / "petfinder", dry_run=True)
    assert line.startswith("kaggle competitions download -c petfinder-pawpularity-score -p ")
    with pytest.raises(kaggle.KaggleError, match="KAGGLE_API_TOKEN.*kaggle.json"):
        kaggle.download(tmp_path / "petfinder")
    assert not (tmp_path / "petfinder").exists()


def test_owner_comes_from_config_environment_or_the_cli_config(tmp_path, no_credentials, monkeypatch):
    assert kaggle.resolve_owner("configured") == "configured"
    assert kaggle.resolve_owner(None) is None
    with pytest.raises(kaggle.KaggleError, match=r"kaggle\.owner.*KAGGLE_USERNAME.*kaggle\.json.*kaggle config view"):
        check_packageable({"svr": {}}, kaggle.resolve_owner(None))
    config_dir = tmp_path / "kaggle-config"
    config_dir.mkdir()
    (config_dir / "kaggle.json").write_text('{"username": "from-cli-config", "key": "k"}')
    assert kaggle.resolve_owner(None) == "from-cli-config"
    monkeypatch.setenv("KAGGLE_USERNAME", "from-env")
    assert kaggle.resolve_owner(None) == "from-env"


@pytest.mark.slow
def test_package_refuses_an_unresolved_owner(pipeline_run, tmp_path, no_credentials):
    work = copy_run(pipeline_run, tmp_path)
    env = {**no_credentials, "HOME": str(tmp_path / "home")}
    proc = run_snakemake(work, "--cores", "1", "package", check=False, env=env)
    assert proc.returncode != 0
    assert "no Kaggle owner" in proc.stdout + proc.stderr and "KAGGLE_USERNAME" in proc.stdout + proc.stderr
    assert not (work / "submissions/tiny/kaggle/dataset").exists()


@pytest.mark.slow
def test_notebook_route_refuses_a_csv_upload(pipeline_run):
    proc = run_snakemake(pipeline_run, "--cores", "1", "submit", check=False)
    assert proc.returncode != 0
    assert (
        "takes submissions only from notebooks" in proc.stdout + proc.stderr
        and "snakemake publish" in proc.stdout + proc.stderr
    )


@pytest.mark.slow
def test_packaged_kernel_reproduces_the_pipeline_submission_offline(pipeline_run, tmp_path):
    """float16 weights (the default) within the stated tolerance; float32 weights exactly."""
    work = copy_run(pipeline_run, tmp_path)
    out = run_packaged_kernel(work, "tiny", tmp_path / "fp16")
    dataset = work / "submissions/tiny/kaggle/dataset"
    assert sorted(p.name for p in dataset.glob("fold0-*")) == ["fold0-best.pt", "fold0-blend.json", "fold0-svr.npz"]
    weights = torch.load(dataset / "fold0-best.pt", weights_only=True)["model"]
    assert {t.dtype for t in weights.values() if t.is_floating_point()} == {torch.float16}
    pipeline = pd.read_csv(work / "submissions/tiny/submission.csv")
    kernel = pd.read_csv(out)
    assert (kernel["Id"] == pipeline["Id"]).all()
    assert (kernel["Pawpularity"] - pipeline["Pawpularity"]).abs().max() < 0.05  # kaggle.rehearsal_tolerance
    out32 = run_packaged_kernel(work, "tiny", tmp_path / "fp32", "--config", "kaggle={weights_dtype: float32}")
    # Exactly on a CPU; on a GPU the notebook's float64 kernel sums in another order (last digits).
    assert_same_csv(out32, work / "submissions/tiny/submission.csv", exact=cpu_only())


MICRO_EXTRACTORS = [
    {"name": "vit", "model": "test_vit.r160_in1k", "pretrained": False, "take": ["embedding", "logits"]},
    {"name": "convnext", "model": "test_convnext.r160_in1k", "pretrained": False, "take": ["embedding"]},
]


@pytest.mark.slow
def test_the_notebook_recomputes_the_frozen_extractors_offline(pipeline_run, tmp_path):
    """Two micro extractors, one taking its logits too: each runs once for the experiment, the SVR reads
    every output, the package ships their weights, and with float32 weights the kernel reproduces the
    submission byte for byte. With a selection, only the extractors some fold chose are shipped."""
    import yaml

    work = copy_run(pipeline_run, tmp_path)
    overlay = {"extractors": MICRO_EXTRACTORS, "kaggle": {"weights_dtype": "float32"}}
    (work / "extractors.yaml").write_text(yaml.safe_dump(overlay))
    config = ("--configfile", "config/config.yaml", "extractors.yaml")
    out = run_packaged_kernel(work, "tiny", tmp_path / "all", *config)
    exp, dataset = work / "models/tiny", work / "submissions/tiny/kaggle/dataset"
    assert sorted(p.name for p in (exp / "logs").glob("extract_*.log")) == ["extract_convnext.log", "extract_vit.log"]
    features = json.loads((exp / "fold1/svr.json").read_text())["features"]
    assert features == ["embedding", "metadata", "vit.embedding", "vit.logits", "convnext.embedding"]
    assert sorted(p.name for p in dataset.glob("extractor-*")) == ["extractor-convnext.pt", "extractor-vit.pt"]
    assert_same_csv(out, work / "submissions/tiny/submission.csv", exact=cpu_only())
    # Two devices (threads on the CPU here; Kaggle's two T4s) share the extractors, as they share the folds.
    # Both runs in this process: across processes, BLAS may sum in another order (a last-digit difference).
    from pawpipe.kaggle.predict import predict_package

    predict_package(dataset, work / "data/tiny", tmp_path / "one.csv", device="cpu")
    predict_package(dataset, work / "data/tiny", tmp_path / "two.csv", device="cpu,cpu")
    assert (tmp_path / "two.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    assert np.abs(pd.read_csv(tmp_path / "two.csv")["Pawpularity"] - pd.read_csv(out)["Pawpularity"]).max() < 1e-9

    tables = {p.name: p.stat().st_mtime_ns for p in (exp / "extract").glob("*.parquet")}
    overlay = {"extractors": MICRO_EXTRACTORS, "svr": {"select": {"enabled": True, "min_gain": 0.0}}}
    (work / "extractors.yaml").write_text(yaml.safe_dump(overlay))
    out = run_packaged_kernel(work, "tiny", tmp_path / "selected", *config)
    assert {p.name: p.stat().st_mtime_ns for p in (exp / "extract").glob("*.parquet")} == tables  # not rerun
    selection = json.loads((exp / "svr_selection.json").read_text())
    chosen = {n.split(".")[0] for v in selection["folds"].values() for n in v["sets"] if "." in n}
    assert sorted(p.name for p in dataset.glob("extractor-*")) == sorted(f"extractor-{n}.pt" for n in chosen)
    assert json.loads((exp / "fold0/svr.json").read_text())["features"] == selection["folds"]["0"]["sets"]
    cv = json.loads((exp / "cv.json").read_text())
    assert cv["scores"]["svr"] == pytest.approx(selection["cv_score"])  # the honest figure is the CV's
    pipeline, kernel = pd.read_csv(work / "submissions/tiny/submission.csv"), pd.read_csv(out)
    assert (kernel["Pawpularity"] - pipeline["Pawpularity"]).abs().max() < 0.05  # kaggle.rehearsal_tolerance
