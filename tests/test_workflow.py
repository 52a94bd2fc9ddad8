"""The real Snakemake workflow on a shrunk config: artifacts, reruns, config validation."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import time

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO, expected_precision, expected_svr_backend, load_config, make_workdir, run_snakemake, shrink
from pawpipe.gpus import visible_gpus
from test_config import CHANGED_HOW

pytestmark = pytest.mark.slow

PER_FOLD = [
    "best.pt",
    "metrics.csv",
    "embeddings.npz",
    "mlp_oof.csv",
    "mlp_test.csv",
    "svr.npz",
    "svr.json",
    "svr_oof.csv",
    "svr_test.csv",
    "blend.json",
    "blend_oof.csv",
    "blend_test.csv",
]


def test_every_stage_writes_its_artifacts(pipeline_run, tiny_config):
    data = pipeline_run / tiny_config["data"]["dir"]
    for name in ("train.csv", "test.csv", "sample_submission.csv"):
        assert (data / name).is_file()
    assert len(list((data / "train").glob("*.jpg"))) == 120
    exp = pipeline_run / "models" / "tiny"
    for name in (
        "data_check.json",
        "folds.csv",
        "duplicates.csv",
        "cache/train.npy",
        "cache/test.npy",
        "cv.json",
        "oof.csv",
    ):
        assert (exp / name).is_file(), name
    for k in range(2):
        for name in PER_FOLD:
            assert (exp / f"fold{k}" / name).is_file(), f"fold{k}/{name}"
    # Crop mode: the demo's random aspect ratios kept up to 1.34:1 (43 px), portraits stored transposed.
    assert np.load(exp / "cache" / "train.npy", mmap_mode="r").shape == (120, 32, 43, 3)
    index = json.loads((exp / "cache" / "train.json").read_text())
    assert index["resize"] == "crop" and index["long_side"] == 43 and len(index["valid"]) == 120
    assert min(index["valid"]) >= 32 and max(index["valid"]) == 43 and len(set(index["valid"])) > 5
    assert 10 < sum(index["transposed"]) < 110
    leftovers = [p for p in pipeline_run.rglob("*.tmp-*")]
    assert leftovers == [], "temporary files left behind"


def test_checkpoint_rebuilds_the_model_alone(pipeline_run):
    from pawpipe.model import load_checkpoint

    model, ckpt = load_checkpoint(pipeline_run / "models/tiny/fold0/best.pt")
    assert ckpt["config"]["backbone"]["kwargs"]["embed_dim"] == 16
    assert "num_workers" not in ckpt["config"]["train"]  # runtime settings are not part of what was trained
    assert ckpt["model_args"]["mean"] and ckpt["model_args"]["image_size"] == 32
    logits, emb = model.eval()(torch.zeros(2, 3, 32, 32))
    assert logits.shape == (2,) and emb.shape == (2, model.backbone.num_features)
    metrics = pd.read_csv(pipeline_run / "models/tiny/fold0/metrics.csv")
    assert list(metrics["epoch"]) == [1, 2, 3]
    assert ckpt["val_score"] == pytest.approx(metrics["val_rmse"].min())


def test_cv_report_and_submission(pipeline_run, tiny_config):
    cv = json.loads((pipeline_run / "models/tiny/cv.json").read_text())
    assert cv["n_oof"] == 120 and len(cv["folds"]) == 2
    oof = pd.read_csv(pipeline_run / "models/tiny/oof.csv")
    target = oof["Pawpularity"].to_numpy(float)
    for head in ("mlp", "svr", "blend", "blend_in_sample"):
        assert cv["scores"][head] == pytest.approx(np.sqrt(np.mean((oof[head] - target) ** 2)))
    assert "optimistic" in cv["notes"]["blend_in_sample"]
    backend = expected_svr_backend(tiny_config)  # svr.backend on train.device, as this machine resolves them
    assert [f["svr_backend"] for f in cv["folds"]] == [backend, backend]  # which backend fitted each fold
    # The demo's score depends on what the images show: the blend must beat the mean predictor.
    assert cv["scores"]["blend"] < cv["scores"]["baseline"]
    # Every component is listed: each head, the SVR on each feature set alone, the blend.
    assert set(cv["components"]) == {"mlp", "svr[embedding]", "svr[metadata]", "svr", "blend", "blend_in_sample"}
    sub = pd.read_csv(pipeline_run / "submissions/tiny/submission.csv", dtype={"Id": str})
    test = pd.read_csv(pipeline_run / "data/tiny/test.csv", dtype={"Id": str})
    assert list(sub.columns) == ["Id", "Pawpularity"]
    assert sub["Id"].tolist() == test["Id"].tolist()
    assert sub["Pawpularity"].between(1, 100).all()
    table = (pipeline_run / "snakemake.out").read_text()
    assert "CV RMSE for experiment 'tiny'" in table  # printed at the end of the run
    assert cv["image"] == {"size": 32, "resize": "crop", "max_aspect": 1.34}
    assert "images: 32 px crops, aspect kept up to 1.34:1" in table
    # The precision each fold trained in (train.amp: auto is fp32 on a CPU, bf16 on a recent GPU), per fold
    # and for the run.
    precision = expected_precision(tiny_config)
    assert [f["precision"] for f in cv["folds"]] == [precision] * 2 and cv["train_precision"] == precision
    assert f"trained in {precision} (train.amp), every fold" in table


def test_folds_trained_in_different_precisions_are_not_mixed_into_one_cv(pipeline_run, tmp_path):
    """train.amp: auto lets the device decide (a runtime setting that reruns nothing): a fold retrained on
    a bf16 GPU beside CPU folds is refused by the CV, naming the folds, instead of averaged in."""
    import shutil

    workdir = tmp_path / "run"
    shutil.copytree(pipeline_run, workdir, symlinks=True)
    here = pd.read_csv(workdir / "models/tiny/fold0/metrics.csv")["precision"].iloc[0]
    other = "fp32" if here != "fp32" else "bf16"  # what the fold records on another kind of device
    metrics = workdir / "models/tiny/fold1/metrics.csv"
    table = pd.read_csv(metrics)
    table["precision"] = other
    table.to_csv(metrics, index=False)
    proc = run_snakemake(workdir, "--cores", "1", "models/tiny/cv.json", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"folds trained in different precisions ({here}: folds 0; {other}: folds 1)" in out, out[-3000:]
    assert "pin train.amp" in out


def test_complete_run_has_nothing_to_do(pipeline_run):
    proc = run_snakemake(pipeline_run, "-n", "--cores", "2")
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.parametrize("how", ["overlay alone", "--config"])
def test_a_runtime_setting_given_any_way_leaves_nothing_to_do(pipeline_run, how):
    """An overlay given alone is read before config/config.yaml, and --config values come last: their
    keys arrive in another order, which must not change any rule's params (they are put in one order)."""
    (pipeline_run / "workers.yaml").write_text("train:\n  num_workers: 1\nsvr:\n  threads: 2\n")
    args = ["--configfile", "workers.yaml"] if how == "overlay alone" else ["--config", "train={num_workers: 1}"]
    proc = run_snakemake(pipeline_run, "-n", "--cores", "2", *args)
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-3000:]


@pytest.mark.parametrize("key", sorted(CHANGED_HOW))
def test_changing_a_runtime_setting_after_a_run_leaves_nothing_to_do(pipeline_run, key):
    section, name = key.split(".")
    overlay = pipeline_run / f"how-{key}.yaml"
    overlay.write_text(yaml.safe_dump({section: {name: CHANGED_HOW[key]}}))
    proc = run_snakemake(pipeline_run, "-n", "--cores", "2", "--configfile", "config/config.yaml", overlay.name)
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-3000:]


def test_a_visible_gpu_without_cuml_is_said_at_the_start(pipeline_run, tmp_path):
    """auto falls back to scikit-learn where cuML is missing: the run says so on the console at once,
    and the SVR jobs then ask for no GPU."""
    from pawpipe.heads.backend import cuml_status

    if cuml_status()[0]:
        pytest.skip("cuML is installed here")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0"}  # what a machine with one GPU shows
    proc = run_snakemake(pipeline_run, "-n", "--cores", "2", "-R", "svr", env=env)
    assert "WARNING: a GPU is visible but cuML is not installed" in proc.stderr
    assert job_request(proc.stdout, "svr", "gpu") == {"0"}
    quiet = run_snakemake(pipeline_run, "-n", "--cores", "2", env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert "cuML is not installed" not in quiet.stderr


def test_forcing_one_fold_reruns_only_that_fold(pipeline_run):
    exp = pipeline_run / "models" / "tiny"
    before = {p: p.stat().st_mtime_ns for p in exp.rglob("*") if p.is_file()}
    time.sleep(0.05)
    run_snakemake(pipeline_run, "--cores", "2", "-R", "models/tiny/fold1/best.pt")
    changed = {p.relative_to(exp).as_posix() for p in before if p.stat().st_mtime_ns != before[p]}
    assert {f"fold1/{n}" for n in PER_FOLD} <= changed
    assert not any(c.startswith("fold0/") for c in changed), sorted(changed)
    assert not {"folds.csv", "cache/train.npy", "cache/test.npy"} & changed
    assert {"cv.json", "oof.csv"} <= changed
    assert run_snakemake(pipeline_run, "-n", "--cores", "1").stdout.count("Nothing to be done") == 1


@pytest.mark.parametrize("bad, name", [
    ({"trian": {"epochs": 1}}, "trian"),
    ({"train": {"epochs": "five"}}, "five"),
    ({"svr": {"backend": "gpu"}}, "gpu"),
    ({"image": {"resize": "stretch"}}, "stretch"),
])  # fmt: skip
def test_bad_config_fails_at_load_naming_the_key(tmp_path, bad, name):
    cfg = shrink(load_config())
    for key, value in bad.items():
        cfg[key] = {**cfg.get(key, {}), **value}
    workdir = make_workdir(tmp_path, cfg)
    proc = run_snakemake(workdir, "-n", "--cores", "1", check=False)
    assert proc.returncode != 0
    assert name in proc.stdout + proc.stderr
    assert not (workdir / "models").exists()


def job_resources(out: str, rule: str) -> set[str]:
    """The `resources:` lines that a dry run prints for the jobs of `rule`."""
    blocks = out.split("\nrule ")
    return {line.strip() for b in blocks if b.startswith(f"{rule}:") for line in b.splitlines() if "resources:" in line}


def job_request(out: str, rule: str, key: str) -> set[str]:
    """The values of one resource (gpu, mem_mb, ...) that a dry run prints for the jobs of `rule`."""
    return {m for line in job_resources(out, rule) for m in re.findall(rf"\b{key}=([^,\s]+)", line)}


def test_slurm_profile_sizes_jobs_from_the_config(tmp_path, tiny_config):
    workdir = make_workdir(tmp_path, tiny_config)
    slurm = ("--profile", str(REPO / "profiles" / "slurm"))
    out = run_snakemake(workdir, "-n", *slurm).stdout
    assert "This was a dry-run" in out
    # The demo asks for little and, on a machine without GPUs, for none.
    assert job_request(out, "train", "mem_mb") == {"3000"} and job_request(out, "train", "runtime") == {"30"}
    assert job_request(out, "train", "gpu") == {"1" if visible_gpus() else "0"}
    assert not job_request(out, "train", "cpus_per_task")  # cores: the rule's threads
    # The competition preset (train.device: cuda) on the repository's own config: a GPU for each train
    # and embed job, none elsewhere.
    make_workdir(tmp_path / "preset", load_config())
    preset = ("--configfile", "config/config.yaml", str(REPO / "config" / "petfinder.yaml"))
    out = run_snakemake(tmp_path / "preset", "-n", *slurm, *preset).stdout
    assert job_request(out, "train", "gpu") == job_request(out, "embed", "gpu") == {"1"}
    assert job_request(out, "train", "mem_mb") == {"64000"} and job_request(out, "train", "runtime") == {"240"}
    for rule in ("check_data", "cache", "folds", "blend", "cv", "plots", "submission"):
        assert job_request(out, rule, "gpu") <= {"0"}, rule
    assert job_request(out, "svr", "gpu") == ({"1"} if importlib.util.find_spec("cuml") else {"0"})


@pytest.mark.skipif(bool(visible_gpus()), reason="checks the request on a machine without GPUs")
def test_gpu_cap_in_the_default_profile_holds_back_only_gpu_jobs(tmp_path, tiny_config):
    workdir = make_workdir(tmp_path, tiny_config)
    profile = ("--profile", str(REPO / "profiles" / "default"))
    out = run_snakemake(workdir, "-n", *profile).stdout
    assert job_request(out, "train", "gpu") == {"0"}  # CPU jobs: not capped
    (workdir / "cuda.yaml").write_text("train:\n  device: cuda\n")
    out = run_snakemake(workdir, "-n", *profile, "--configfile", "config/config.yaml", "cuda.yaml").stdout
    assert job_request(out, "train", "gpu") == job_request(out, "embed", "gpu") == {"1"}


def test_report_holds_the_figures_and_the_cv_table(pipeline_run):
    for name in ("score_by_fold.svg", "oof.svg", "curve.svg", "training_curves.svg", "cv_table.csv"):
        assert (pipeline_run / "models/tiny/report" / name).stat().st_size > 0
    table = pd.read_csv(pipeline_run / "models/tiny/report/cv_table.csv")
    cv = json.loads((pipeline_run / "models/tiny/cv.json").read_text())
    assert table["blend"].iloc[-1] == pytest.approx(cv["scores"]["blend"], abs=1e-4)
    run_snakemake(pipeline_run, "--report", "report.html")
    html = (pipeline_run / "report.html").read_text(errors="replace")
    for name in ("score_by_fold.svg", "oof.svg", "curve.svg", "training_curves.svg", "cv_table.csv"):
        assert name in html


def test_missing_pretrained_weights_stop_the_run_before_training(tmp_path, tiny_config):
    cfg = shrink(load_config())
    cfg["backbone"].update(pretrained=True, weights="weights/swin_micro.safetensors")
    workdir = make_workdir(tmp_path, cfg)
    proc = run_snakemake(workdir, "--cores", "2", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "backbone.weights: weights/swin_micro.safetensors not found" in out
    assert not list((workdir / "models/tiny").glob("fold*/best.pt"))
    assert not (workdir / "models/tiny/fold0/state").exists()


def test_svr_tuning_refits_only_the_svr_stage(pipeline_run, tmp_path):
    import shutil

    workdir = tmp_path / "run"
    shutil.copytree(pipeline_run, workdir, symlinks=True)
    (workdir / "tune.yaml").write_text("svr:\n  grid: {C: [0.001, 20.0], epsilon: [1.0]}\n")
    exp = workdir / "models" / "tiny"
    before = {p: p.stat().st_mtime_ns for p in exp.rglob("*") if p.is_file()}
    run_snakemake(workdir, "--cores", "2", "--configfile", "config/config.yaml", "tune.yaml")
    changed = {p.relative_to(exp).as_posix() for p in before if p.stat().st_mtime_ns != before[p]}
    assert not any(c.endswith(("best.pt", "embeddings.npz", "metrics.csv")) for c in changed), sorted(changed)
    assert {"fold0/svr.npz", "fold1/svr.npz", "cv.json"} <= changed
    tuning = json.loads((exp / "svr_tuning.json").read_text())
    assert tuning["best"]["C"] == 20.0 and len(tuning["grid"]) == 2
    assert json.loads((exp / "cv.json").read_text())["svr_tuning"]["C"] == 20.0
