"""Give each concurrent GPU job its own device.

Snakemake counts a `gpu` resource but does not say which GPU a job should use, so with
`--resources gpu=4` four fold jobs would all start on GPU 0. Each GPU job takes the first free
device under an exclusive file lock (released by the kernel when the process ends, even when it
is killed) and sets CUDA_VISIBLE_DEVICES before CUDA is initialised. When a scheduler already
set CUDA_VISIBLE_DEVICES (SLURM does), the job picks among those devices only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from .logs import log

DEFAULT_LOCK_DIR = Path(tempfile.gettempdir()) / "pawpipe-gpu-locks"


def visible_gpus() -> list[str]:
    """Device ids this job may use: CUDA_VISIBLE_DEVICES if set, else every GPU nvidia-smi lists."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


@contextlib.contextmanager
def gpu_slot(
    devices: list[str] | None = None, lock_dir: str | Path = DEFAULT_LOCK_DIR, poll_s: float = 1.0
) -> Iterator[str | None]:
    """Hold one free device for the duration of the block; None (and no locking) without GPUs."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        raise RuntimeError("gpu_slot() must run before CUDA is initialised in this process")
    devices = visible_gpus() if devices is None else list(devices)
    if not devices:
        yield None
        return
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()  # lock files may sit on a filesystem that several nodes share
    waited = False
    while True:
        for device in devices:
            fh = open(lock_dir / f"{host}-gpu{device}.lock", "w")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                continue
            previous = os.environ.get("CUDA_VISIBLE_DEVICES")
            os.environ["CUDA_VISIBLE_DEVICES"] = device
            log.info("using GPU %s (of %s)", device, ",".join(devices))
            try:
                yield device
            finally:
                if previous is None:
                    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
                else:
                    os.environ["CUDA_VISIBLE_DEVICES"] = previous
                fcntl.flock(fh, fcntl.LOCK_UN)
                fh.close()
            return
        if not waited:
            log.info(
                "all GPUs %s are busy; waiting (run with --resources gpu=%d to avoid this)",
                ",".join(devices),
                len(devices),
            )
            waited = True
        time.sleep(poll_s)


def job_gpu(device: str = "auto", uses_gpu: bool = True):
    """gpu_slot() for a job that lets the pipeline choose its device; nothing if the config pins one."""
    if not uses_gpu or device not in ("auto", "cuda"):
        return contextlib.nullcontext(None)
    return gpu_slot()
