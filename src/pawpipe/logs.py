"""Logging for Snakemake jobs: messages go to the rule's log file and to the terminal, and each job
leaves a usage record beside its log (`<log>.usage.json`: rule, wildcards, seconds, GPUs, whether it
finished) that the board sums into wall time and GPU hours per stage."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("pawpipe")


def write_usage(log_path: str, job, seconds: float, ok: bool) -> None:
    """The job's usage record beside its log (written whole: a temporary name, then renamed)."""
    from .io import atomic_path

    resources = getattr(job, "resources", {})
    record = {"rule": job.rule, "wildcards": dict(job.wildcards.items()), "seconds": round(seconds, 3),
              "threads": job.threads, "gpus": int(resources.get("gpu", 0) or 0), "ok": ok}  # fmt: skip
    with atomic_path(f"{log_path}.usage.json") as tmp:
        tmp.write_text(json.dumps(record) + "\n")


@contextlib.contextmanager
def job_logging(log_path: str | None, job=None) -> Iterator[logging.Logger]:
    """Send `pawpipe` log records to `log_path` and stderr; record any exception before re-raising.
    With the Snakemake job (`snakemake` in a script), its usage record is written when it ends."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    for h in handlers:
        h.setFormatter(fmt)
        log.addHandler(h)
    log.setLevel(logging.INFO)
    t0, ok = time.perf_counter(), False
    try:
        yield log
        ok = True
    except Exception as exc:
        # A one-line reason first (what the user acts on), then the trace for whoever debugs.
        log.error("%s", exc)
        log.debug("traceback", exc_info=True)
        raise
    finally:
        for h in handlers:
            log.removeHandler(h)
            h.close()
        if job is not None and log_path:
            write_usage(log_path, job, time.perf_counter() - t0, ok)
