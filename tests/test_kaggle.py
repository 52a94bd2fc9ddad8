"""Kaggle: guarded submit (dry run, missing credentials), download, and the code-competition package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import run_snakemake
from pawpipe import kaggle
from pawpipe.data import DataError


@pytest.fixture
def no_credentials(tmp_path, monkeypatch):
    for var in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle-config"))
    return {k: v for k, v in os.environ.items()}


@pytest.mark.slow
def test_dry_run_submit_prints_the_kaggle_command(pipeline_run):
    proc = run_snakemake(pipeline_run, "--cores", "1", "submit", "--config", "kaggle={dry_run: true}")
    out = proc.stdout + proc.stderr
    assert "kaggle competitions submit -c petfinder-pawpularity-score -f submissions/tiny/submission.csv" in out
    assert "-m 'pawpipe tiny: CV RMSE blend" in out


@pytest.mark.slow
def test_submit_without_credentials_says_how_to_provide_them(pipeline_run, no_credentials):
    proc = run_snakemake(pipeline_run, "--cores", "1", "submit", check=False, env=no_credentials)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "KAGGLE_API_TOKEN" in out and "kaggle.json" in out


def test_submit_checks_the_file_again_before_sending(tmp_path):
    ids = ["a1", "b2", "c3"]
    pd.DataFrame({"Id": ids}).to_csv(tmp_path / "test.csv", index=False)
    pd.DataFrame({"Id": ids[:2], "Pawpularity": [40.0, 50.0]}).to_csv(tmp_path / "sub.csv", index=False)
    with pytest.raises(DataError, match="2 rows, but the test set has 3"):
        kaggle.submit(submission=str(tmp_path / "sub.csv"), test_table=str(tmp_path / "test.csv"),
                      cv_json="unused", exp="x", dry_run=True)  # fmt: skip


def test_download_dry_run_and_missing_credentials(tmp_path, no_credentials):
    line = kaggle.download(tmp_path / "petfinder", dry_run=True)
    assert line.startswith("kaggle competitions download -c petfinder-pawpularity-score -p ")
    with pytest.raises(kaggle.KaggleError, match="KAGGLE_API_TOKEN.*kaggle.json"):
        kaggle.download(tmp_path / "petfinder")
    assert not (tmp_path / "petfinder").exists()


def run_packaged_kernel(workdir: Path, exp: str, tmp_path: Path, *snakemake_args: str) -> Path:
    """Package `exp` and run its kernel offline on the competition's test data alone; return the CSV."""
    run_snakemake(workdir, "--cores", "2", "package", "all", *snakemake_args)  # --configfile takes the rest
    dataset = workdir / f"submissions/{exp}/kaggle/dataset"
    kernel = workdir / f"submissions/{exp}/kaggle/kernel"
    meta = pd.read_json(kernel / "kernel-metadata.json", typ="series")
    assert not meta["enable_internet"] and meta["enable_gpu"]
    assert meta["competition_sources"] == ["petfinder-pawpularity-score"]
    assert sorted(p.name for p in dataset.glob("*.whl")) and (dataset / "dataset-metadata.json").is_file()
    # Only what the notebook gets: the package and the competition's test data. No training data.
    data = tmp_path / "competition"
    data.mkdir(parents=True)
    shutil.copy(workdir / f"data/{exp}/test.csv", data)
    shutil.copytree(workdir / f"data/{exp}/test", data / "test")
    out = tmp_path / "submission.csv"
    env = {**os.environ, "PYTHONPATH": "", "PIP_NO_INDEX": "1"}
    proc = subprocess.run(
        [sys.executable, str(kernel / "predict.py"), "--package", str(dataset), "--data", str(data), "--out", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "pawpipe-lib-" in proc.stderr  # imported from the packaged wheel, not this checkout
    return out


@pytest.mark.slow
def test_packaged_kernel_reproduces_the_pipeline_submission_offline(pipeline_run, tmp_path):
    out = run_packaged_kernel(pipeline_run, "tiny", tmp_path)
    assert sorted(p.name for p in (pipeline_run / "submissions/tiny/kaggle/dataset/fold0").iterdir()) == [
        "best.pt",
        "blend.json",
        "svr.npz",
    ]
    assert out.read_bytes() == (pipeline_run / "submissions/tiny/submission.csv").read_bytes()
