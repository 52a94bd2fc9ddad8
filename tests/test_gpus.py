"""GPU assignment: concurrent jobs get distinct devices, and a device is freed when its job ends."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time

import pytest

from pawpipe.gpus import gpu_slot, visible_gpus


def hold(devices, lock_dir, hold_s, queue):
    with gpu_slot(devices, lock_dir, poll_s=0.02) as device:
        queue.put((os.getpid(), device, os.environ["CUDA_VISIBLE_DEVICES"], time.monotonic()))
        time.sleep(hold_s)


def test_concurrent_jobs_get_distinct_devices_then_reuse_them(tmp_path):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    devices = ["0", "1", "2"]
    # Five jobs on three GPUs: three start at once on distinct devices, two wait for a free one.
    procs = [ctx.Process(target=hold, args=(devices, tmp_path, 1.0, queue)) for _ in range(5)]
    for p in procs:
        p.start()
    got = sorted((queue.get(timeout=60) for _ in procs), key=lambda r: r[3])
    for p in procs:
        p.join(timeout=60)
    assert all(device == visible for _, device, visible, _ in got)
    first = [r[1] for r in got[:3]]
    assert sorted(first) == devices, got
    # The last two only started after a device was given back.
    assert got[3][3] - got[0][3] > 0.5 and {got[3][1], got[4][1]} <= set(devices)


def test_a_killed_job_frees_its_device(tmp_path):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=hold, args=(["0"], tmp_path, 60, queue))
    p.start()
    assert queue.get(timeout=60)[1] == "0"
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    with gpu_slot(["0"], tmp_path, poll_s=0.02) as device:
        assert device == "0"


def test_the_environment_is_restored_and_cpu_needs_no_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert visible_gpus() == ["3", "5"]
    with gpu_slot(lock_dir=tmp_path) as device:
        assert device == "3" and os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3,5"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with gpu_slot(lock_dir=tmp_path / "none") as device:
        assert device is None
    assert not (tmp_path / "none").exists()


@pytest.mark.gpu
def test_torch_in_a_job_sees_only_the_assigned_device(tmp_path):
    if not visible_gpus():
        pytest.skip("no CUDA device")
    code = (
        "import torch\nfrom pawpipe.gpus import gpu_slot\n"
        f"with gpu_slot(lock_dir={str(tmp_path)!r}) as d:\n    print(d, torch.cuda.device_count())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1] == "1"


def test_a_machine_that_must_have_a_gpu_fails_the_gpu_tests_it_would_skip():
    """PAWPIPE_REQUIRE_GPU=1 (a GPU machine's CI): a gpu test that would skip (no CUDA device, no cuML)
    fails instead, saying why; without it the same test skips."""
    import torch

    from conftest import REPO

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device: the gpu tests run here")
    test = "tests/test_svr.py::test_cuml_svr_matches_sklearn"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", test]
    required = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                              env={**os.environ, "PAWPIPE_REQUIRE_GPU": "1"})  # fmt: skip
    assert required.returncode == 1 and ("1 failed" in required.stdout or "1 error" in required.stdout), required.stdout
    assert "PAWPIPE_REQUIRE_GPU=1, but this gpu test skipped: marked gpu: needs a CUDA device" in required.stdout
    plain = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                           env={k: v for k, v in os.environ.items() if k != "PAWPIPE_REQUIRE_GPU"})  # fmt: skip
    assert plain.returncode == 0 and "1 skipped" in plain.stdout, plain.stdout[-2000:]
