"""Asking Kaggle how something is going, on a bad day too.

The kaggle CLI retries uploads and creates, not the calls that follow them; one 429, 5xx or dropped
connection during a wait of hours would end `publish`. Here every status or listing call of a wait
goes through `ask`: a transient failure is retried after a growing pause (from the poll interval,
doubled each time, at most `backoff_cap_s`), up to `max_failures` in a row, and the error after the
last one says how to resume. What is not transient (a 401, a 404, a command Kaggle refuses) fails at
once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..logs import log
from .cli import KaggleError, run_kaggle

# What a failed call says when the service or the network had a moment: too many requests, a server
# error, a connection dropped, refused or timed out (requests' and urllib3's words for them).
TRANSIENT = re.compile(
    r"\b(429|500|502|503|504)\b|Too Many Requests|Service Unavailable|Bad Gateway|Gateway Time-?out"
    r"|Internal Server Error|Connection (aborted|reset|refused)|RemoteDisconnected|ConnectionError"
    r"|Max retries exceeded|timed out|Temporary failure in name resolution",
    re.I,
)
FORBIDDEN = re.compile(r"\b403\b|Forbidden|Permission '[\w.]+' was denied", re.I)
ABSENT = re.compile(r"\b404\b|not found", re.I)


@dataclass(frozen=True)
class Poll:
    """kaggle.poll: how often to ask, how long to wait for each stage, and how many failed calls in a row
    a wait survives (defaults in the schema)."""

    interval_s: float
    dataset_minutes: float
    kernel_minutes: float
    score_minutes: float
    max_failures: int
    backoff_cap_s: float

    def backoff(self, failures: int) -> float:
        """The pause after the n-th failure in a row: the interval doubled each time, capped."""
        return min(max(self.interval_s, 1.0) * 2 ** (failures - 1), self.backoff_cap_s)


def is_transient(error: Exception) -> bool:
    return isinstance(error, KaggleError) and bool(TRANSIENT.search(str(error)))


def ask(args: list[str], poll: Poll, resume: str, sleep: Callable[[float], None] = time.sleep) -> str:
    """`kaggle ARGS`, retried on transient failures (see the module). `resume` says how to continue once
    Kaggle answers again; it ends the error raised after `poll.max_failures` failures in a row."""
    failures = 0
    while True:
        try:
            return run_kaggle(args)
        except KaggleError as exc:
            if not is_transient(exc):
                raise
            failures += 1
            if failures >= poll.max_failures:
                raise KaggleError(
                    f"`kaggle {' '.join(args[:2])}` failed {failures} times in a row (the last: {str(exc)[-600:]}); "
                    f"Kaggle or the network is down: {resume}"
                ) from exc
            pause = poll.backoff(failures)
            log.warning("`kaggle %s` failed (%s); retrying in %.3g s (%d of %d)", " ".join(args[:2]),
                        str(exc).splitlines()[-1][-200:], pause, failures, poll.max_failures - 1)  # fmt: skip
            sleep(pause)


def wait_for(check: Callable[[], str | None], what: str, interval_s: float, minutes: float, resume: str) -> str:
    """Call check() every interval_s until it returns a final state; log progress; fail after `minutes`
    with how to resume."""
    t0 = time.monotonic()
    while True:
        state = check()
        elapsed = time.monotonic() - t0
        if state is not None:
            log.info("%s: %s after %.0f s", what, state, elapsed)
            return state
        if elapsed > minutes * 60:
            raise KaggleError(f"{what}: still not done after {minutes:g} min (kaggle.poll); {resume}")
        time.sleep(interval_s)


def status_word(out: str) -> str:
    """`... has status "KernelWorkerStatus.COMPLETE"` -> complete; `ready` -> ready."""
    found = re.findall(r'has status "([^"]+)"', out)
    word = found[-1] if found else (out.strip().splitlines() or [""])[-1]
    return word.split(".")[-1].strip().lower()
