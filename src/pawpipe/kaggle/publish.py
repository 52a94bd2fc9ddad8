"""From a finished run to a leaderboard score, through the kaggle CLI.

A code competition scores a notebook, not a file: upload the package as a dataset (create it, or a new
version of it), wait until Kaggle has processed it, push the kernel, follow its run, fetch and check
its submission.csv, submit the kernel version, and read the public score back into
submissions/{exp}/leaderboard.csv beside the experiment's CV. A dry run prints every command in order.
For competitions that take uploaded files (kaggle.route: file) the CSV is submitted instead.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ..config import rerun_command
from ..io import read_json, write_csv
from ..logs import log
from ..report import check_submission_file
from ..task import Task
from .cli import KaggleError, run_kaggle, submission_message
from .manifest import DATASET_METADATA, KERNEL_METADATA

DATASET_FAILED = {"failed", "deleted"}
KERNEL_FAILED = {"error", "cancel_requested", "cancel_acknowledged"}
LEADERBOARD_COLUMNS = [
    "date", "exp", "ref", "status", "public_score", "private_score", "cv_blend", "cv_mlp", "cv_svr", "folds",
    "kernel", "kernel_version", "description",
]  # fmt: skip


@dataclass(frozen=True)
class Poll:
    """kaggle.poll: how often to ask, and how long to wait for each stage (defaults in the schema)."""

    interval_s: float
    dataset_minutes: float
    kernel_minutes: float
    score_minutes: float


@dataclass(frozen=True)
class PublishJob:
    """The publish rule's inputs (the package, or the CSV with kaggle.route: file) and its leaderboard."""

    cv_json: str
    test_table: str
    task: str  # task.json
    leaderboard: str
    dataset_dir: str | None = None
    kernel_dir: str | None = None
    submission: str | None = None


@dataclass
class Route:
    """Where and how to publish; `plan` collects a dry run's commands."""

    exp: str
    competition: str
    route: str  # notebook | file
    message: str | None
    poll: Poll
    dry_run: bool
    plan: list[str] = field(default_factory=list)


def wait_for(check: Callable[[], str | None], what: str, interval_s: float, minutes: float) -> str:
    """Call check() every interval_s until it returns a final state; log progress; fail after `minutes`."""
    t0 = time.monotonic()
    while True:
        state = check()
        elapsed = time.monotonic() - t0
        if state is not None:
            log.info("%s: %s after %.0f s", what, state, elapsed)
            return state
        if elapsed > minutes * 60:
            raise KaggleError(f"{what}: still not done after {minutes:g} min; rerun later or raise kaggle.poll")
        time.sleep(interval_s)


def kaggle_out(args: list[str], dry_run: bool, plan: list[str], note: str = "") -> str:
    """Run a kaggle command (or, in a dry run, add it to the printed plan). The CLI reports some failures
    with exit status 0 ("... error: ..."), so the output is checked too."""
    if dry_run:
        plan.append(run_kaggle(args, dry_run=True) + (f"    # {note}" if note else ""))
        return ""
    out = run_kaggle(args)
    if re.search(r"(creation|push) error|could not find competition|could not submit", out, re.I):
        raise KaggleError(f"`kaggle {' '.join(args[:2])}` failed: {out[-1500:]}")
    return out


def status_word(out: str) -> str:
    """`... has status "KernelWorkerStatus.COMPLETE"` -> complete; `ready` -> ready."""
    found = re.findall(r'has status "([^"]+)"', out)
    word = found[-1] if found else (out.strip().splitlines() or [""])[-1]
    return word.split(".")[-1].strip().lower()


def upload_dataset(dataset_dir: Path, ref: str, message: str, dry_run: bool, plan: list[str]) -> None:
    """Create the dataset, or version it when it exists (a second create fails on the title)."""
    folders = [p.name for p in dataset_dir.iterdir() if p.is_dir()] if dataset_dir.is_dir() else []
    if folders:
        raise KaggleError(f"{dataset_dir}: holds folders {folders}; the package is flat, rebuild it")
    # Snakemake marks a finished directory output with a timestamp file: not for Kaggle.
    flags = ["--dir-mode", "zip", "--ignore-patterns", ".snakemake_timestamp"]
    create = ["datasets", "create", "-p", str(dataset_dir), *flags]
    version = ["datasets", "version", "-p", str(dataset_dir), "-m", message, *flags]
    if dry_run:
        kaggle_out(["datasets", "status", ref], True, plan, "does the dataset exist?")
        kaggle_out(create, True, plan, "if it does not")
        kaggle_out(version, True, plan, "if it does")
        return
    try:
        run_kaggle(["datasets", "status", ref])
        exists = True
    except KaggleError as exc:
        if "404" not in str(exc) and "not found" not in str(exc).lower():
            raise
        exists = False
    log.info("dataset %s %s: uploading %s", ref, "exists" if exists else "is new", dataset_dir)
    print(kaggle_out(version if exists else create, False, plan))


def push_kernel(kernel_dir: Path, dry_run: bool, plan: list[str]) -> int | None:
    out = kaggle_out(["kernels", "push", "-p", str(kernel_dir)], dry_run, plan, "prints the kernel version")
    if dry_run:
        return None
    found = re.search(r"Kernel version (\d+) successfully pushed", out)
    if not found:
        raise KaggleError(f"`kaggle kernels push` reported no kernel version: {out[-1500:]}")
    return int(found.group(1))


def follow_kernel(kernel: str, poll: Poll, dry_run: bool, plan: list[str]) -> None:
    args = ["kernels", "status", kernel]
    if dry_run:
        kaggle_out(
            args, True, plan, f"every {poll.interval_s:g} s until complete (at most {poll.kernel_minutes:g} min)"
        )
        kaggle_out(["kernels", "logs", kernel], True, plan, "only if the run fails: its log")
        return

    def check():
        word = status_word(run_kaggle(args))
        log.info("kernel %s: %s", kernel, word)
        return word if word == "complete" or word in KERNEL_FAILED else None

    if wait_for(check, f"kernel {kernel}", poll.interval_s, poll.kernel_minutes) != "complete":
        logs = run_kaggle(["kernels", "logs", kernel])
        raise KaggleError(f"kernel {kernel} failed; the end of its log:\n{logs[-4000:]}")


def fetch_output(kernel: str, out_dir: Path, test_table: str, task: Task, dry_run: bool, plan: list[str]) -> Path:
    """The kernel's submission.csv, checked like the pipeline's own (rows, Ids, finite values in [1, 100])."""
    if not dry_run and out_dir.exists():
        shutil.rmtree(out_dir)
    kaggle_out(["kernels", "output", kernel, "-p", str(out_dir), "-o"], dry_run, plan)
    csv_path = out_dir / "submission.csv"
    if dry_run:
        plan.append(f"check {csv_path} against the Ids of {test_table}")
        return csv_path
    if not csv_path.is_file():
        raise KaggleError(
            f"kernel {kernel} wrote no submission.csv (its output: {sorted(p.name for p in out_dir.iterdir())})"
        )
    check_submission_file(csv_path, test_table, task)
    return csv_path


def list_submissions(competition: str) -> pd.DataFrame:
    """`kaggle competitions submissions --csv` as a table (ref, fileName, date, description, status, scores)."""
    out = run_kaggle(["competitions", "submissions", "-c", competition, "--csv"])
    lines = out.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("ref,")), None)
    if start is None:
        return pd.DataFrame(columns=["ref", "fileName", "date", "description", "status", "publicScore", "privateScore"])
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[start:]))))
    table = pd.DataFrame(rows, dtype=str)
    table["status"] = table["status"].map(lambda s: s.split(".")[-1].lower())
    return table


def update_leaderboard(path: Path, listing: pd.DataFrame, exp: str, cv: dict, new: dict | None = None) -> pd.DataFrame:
    """One row per submission of this experiment (its description starts `pawpipe EXP:`), scores refreshed
    from the listing; CV figures are those of the run at the time of the row's first record."""
    old = pd.read_csv(path, dtype=str) if path.is_file() else pd.DataFrame(columns=LEADERBOARD_COLUMNS)
    known = {r["ref"]: r for r in old.to_dict("records")}
    ours = listing[listing["description"].str.startswith(f"pawpipe {exp}:")]
    for sub in ours.to_dict("records"):
        row = known.get(sub["ref"]) or {
            "exp": exp,
            "cv_blend": f"{cv['scores']['blend']:.4f}",
            "cv_mlp": f"{cv['scores']['mlp']:.4f}",
            "cv_svr": f"{cv['scores']['svr']:.4f}",
            "folds": str(cv["n_folds"]),
            **(new if new and sub["description"] == new["description"] else {}),
        }
        row.update(ref=sub["ref"], date=sub["date"], description=sub["description"], status=sub["status"],
                   public_score=sub["publicScore"], private_score=sub["privateScore"])  # fmt: skip
        known[sub["ref"]] = row
    table = pd.DataFrame(list(known.values()), columns=LEADERBOARD_COLUMNS).sort_values("date", kind="stable")
    write_csv(table, path)
    return table


def read_score(job: PublishJob, r: Route, cv: dict, description: str, kernel: str | None, version) -> str | None:
    """Wait for the submission's score and keep leaderboard.csv up to date (one row per submission)."""
    args = ["competitions", "submissions", "-c", r.competition, "--csv"]
    leaderboard, poll = Path(job.leaderboard), r.poll
    if r.dry_run:
        note = f"every {poll.interval_s:g} s until scored (at most {poll.score_minutes:g} min) -> {leaderboard}"
        kaggle_out(args, True, r.plan, note)
        return None
    new = {"kernel": kernel or "", "kernel_version": str(version or ""), "description": description}

    def check():
        listing = list_submissions(r.competition)
        mine = listing[listing["description"] == description]
        update_leaderboard(leaderboard, listing, r.exp, cv, new)
        if mine.empty:
            return None
        state = mine.iloc[0]["status"]
        log.info("submission %s: %s, public score %s", mine.iloc[0]["ref"], state, mine.iloc[0]["publicScore"] or "-")
        return state if state != "pending" else None

    try:
        return wait_for(check, "submission", poll.interval_s, poll.score_minutes)
    except KaggleError as exc:
        later = rerun_command("leaderboard", "1")
        log.warning("%s; %s has the row, `%s` fills the score in later", exc, leaderboard, later)
        return None


def describe(exp: str, cv: dict, message: str | None, suffix: str) -> str:
    """The submission's description: `pawpipe EXP: ...` (how leaderboard.csv recognises the experiment's
    submissions), unique per publish."""
    text = f"pawpipe {exp}: {message}" if message else submission_message(exp, cv)
    return f"{text} [{suffix}]"


def wait_for_dataset(dataset_ref: str, r: Route) -> None:
    status = ["datasets", "status", dataset_ref]
    if r.dry_run:
        note = f"every {r.poll.interval_s:g} s until ready (at most {r.poll.dataset_minutes:g} min)"
        kaggle_out(status, True, r.plan, note)
        return

    def ready():
        word = status_word(run_kaggle(status))
        if word in DATASET_FAILED:
            raise KaggleError(f"dataset {dataset_ref}: Kaggle reports {word!r} while processing it")
        return word if word == "ready" else None

    wait_for(ready, f"dataset {dataset_ref}", r.poll.interval_s, r.poll.dataset_minutes)


def publish(job: PublishJob, r: Route) -> list[str]:
    """The whole sequence; returns the commands of a dry run (printed too)."""
    cv = read_json(job.cv_json)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if r.route == "file":
        description = describe(r.exp, cv, r.message, stamp)
        check_submission_file(job.submission, job.test_table, Task.load(job.task))
        args = ["competitions", "submit", "-c", r.competition, "-f", job.submission, "-m", description]
        kaggle_out(args, r.dry_run, r.plan)
        read_score(job, r, cv, description, None, None)
        return finish(r.plan, r.dry_run)
    dataset_dir, kernel_dir = Path(job.dataset_dir), Path(job.kernel_dir)
    dataset_ref = read_json(dataset_dir / DATASET_METADATA)["id"]
    kernel = read_json(kernel_dir / KERNEL_METADATA)["id"]
    note = f"{submission_message(r.exp, cv).split(' (')[0]} [{stamp}]"
    upload_dataset(dataset_dir, dataset_ref, note, r.dry_run, r.plan)
    wait_for_dataset(dataset_ref, r)
    version = push_kernel(kernel_dir, r.dry_run, r.plan)
    follow_kernel(kernel, r.poll, r.dry_run, r.plan)
    out_csv = fetch_output(
        kernel, dataset_dir.parent / "output", job.test_table, Task.load(job.task), r.dry_run, r.plan
    )
    v = str(version) if version else "<version printed by kernels push>"
    description = describe(r.exp, cv, r.message, f"kernel v{v}, {stamp}")
    submit = ["competitions", "submit", "-c", r.competition, "-k", kernel, "-v", v, "-f", out_csv.name]
    log.info("submitting %s version %s (its %s)", kernel, v, out_csv)
    print(kaggle_out([*submit, "-m", description], r.dry_run, r.plan))
    read_score(job, r, cv, description, kernel, version)
    return finish(r.plan, r.dry_run)


def finish(plan: list[str], dry_run: bool) -> list[str]:
    if dry_run:
        print("dry run; would run, in order:\n" + "\n".join(f"  {i}. {line}" for i, line in enumerate(plan, 1)))
    return plan


def refresh_leaderboard(*, leaderboard: str, cv_json: str, exp: str, competition: str) -> pd.DataFrame:
    """Read every submission of the experiment back (e.g. a score that came after publish stopped waiting)."""
    table = update_leaderboard(Path(leaderboard), list_submissions(competition), exp, read_json(cv_json))
    print(table.to_string(index=False))
    return table
