"""Logging for Snakemake jobs: messages go to the rule's log file and to the terminal."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("pawpipe")


@contextlib.contextmanager
def job_logging(log_path: str | None) -> Iterator[logging.Logger]:
    """Send `pawpipe` log records to `log_path` and stderr; record any exception before re-raising."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    for h in handlers:
        h.setFormatter(fmt)
        log.addHandler(h)
    log.setLevel(logging.INFO)
    try:
        yield log
    except Exception as exc:
        # A one-line reason first (what the user acts on), then the trace for whoever debugs.
        log.error("%s", exc)
        log.debug("traceback", exc_info=True)
        raise
    finally:
        for h in handlers:
            log.removeHandler(h)
            h.close()
