"""Interruption, determinism and bad input through the real workflow."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import REPO, assert_same_csv, make_workdir, on_cuda, run_snakemake
from pawpipe.demo import make_demo

pytestmark = pytest.mark.slow
TIMING = ["train_img_s", "seconds"]


def test_killed_run_resumes_to_the_same_metrics_and_identical_submission(tmp_path, tiny_config, pipeline_run):
    workdir = make_workdir(tmp_path, tiny_config)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    state = workdir / "models/tiny/fold0/state/last.pt"  # written once an epoch is complete
    deadline = time.time() + 300
    while not state.exists() and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # as a preempted machine would: no cleanup of any kind
    proc.wait()
    assert state.exists(), "training never reached the end of an epoch"
    assert not (workdir / "models/tiny/fold0/best.pt").exists(), "killed too late: fold 0 had finished"

    # What a user does after a preempted run: a SIGKILL leaves Snakemake's lock behind.
    run_snakemake(workdir, "--unlock")
    run_snakemake(workdir, "--cores", "2")  # the default profile reruns incomplete jobs
    log = (workdir / "models/tiny/logs/train_fold0.log").read_text()
    # Killed mid-training it resumes; killed after its last epoch it only publishes. Never from scratch.
    assert "resuming fold 0" in log or "already trained" in log, log
    assert "from scratch" not in log
    # On a CPU the arithmetic is deterministic, so resumed equals uninterrupted exactly; CUDA kernels are
    # not bitwise deterministic (atomics, autotuned algorithms), so on a GPU they agree within bf16 noise.
    exact = not on_cuda(tiny_config)
    for k in range(2):
        a = pd.read_csv(pipeline_run / f"models/tiny/fold{k}/metrics.csv").drop(columns=TIMING)
        b = pd.read_csv(workdir / f"models/tiny/fold{k}/metrics.csv").drop(columns=TIMING)
        pd.testing.assert_frame_equal(a, b, check_exact=exact, rtol=0 if exact else 0.05)
    # Same config and seed, one run killed and resumed: identical folds and (on a CPU) submission.
    assert (workdir / "models/tiny/folds.csv").read_bytes() == (pipeline_run / "models/tiny/folds.csv").read_bytes()
    name = "submissions/tiny/submission.csv"
    assert_same_csv(workdir / name, pipeline_run / name, exact=exact, atol=1.0)


@pytest.fixture(scope="module")
def clean_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("clean") / "data"
    make_demo(path, 40, 4, seed=5)
    return path


@pytest.mark.parametrize("case", ["truncated test image", "target out of range", "missing train image"])
def test_bad_input_stops_the_pipeline_before_anything_downstream(tmp_path, tiny_config, clean_data, case):
    data = tmp_path / "data" / "bad"
    shutil.copytree(clean_data, data)
    train = pd.read_csv(data / "train.csv", dtype={"Id": str})
    test = pd.read_csv(data / "test.csv", dtype={"Id": str})
    if case == "truncated test image":
        p = data / "test" / f"{test['Id'][1]}.jpg"
        p.write_bytes(p.read_bytes()[:300])
        needle = str(p.relative_to(tmp_path))
    elif case == "target out of range":
        train.loc[6, "Pawpularity"] = 250
        train.to_csv(data / "train.csv", index=False)
        needle = "data/bad/train.csv line 8"
    else:
        (data / "train" / f"{train['Id'][0]}.jpg").unlink()
        needle = f"{train['Id'][0]}.jpg: image missing"
    cfg = {**tiny_config, "exp": "bad", "data": {"dir": "data/bad", "demo": {"enabled": False}}}
    workdir = make_workdir(tmp_path, cfg)
    proc = run_snakemake(workdir, "--cores", "2", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert needle in out, out[-3000:]
    written = sorted(
        p.relative_to(workdir / "models/bad").as_posix() for p in (workdir / "models/bad").rglob("*") if p.is_file()
    )
    assert written == ["logs/check_data.log", "logs/check_data.log.usage.json"], written  # the log and its cost
    assert json.loads((workdir / "models/bad/logs/check_data.log.usage.json").read_text())["ok"] is False
    assert not (workdir / "submissions").exists()
