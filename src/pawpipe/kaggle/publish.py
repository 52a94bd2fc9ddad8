"""From a finished run to a leaderboard score, through the kaggle CLI, as a resumable sequence.

A code competition scores a notebook, not a file: upload the package as a dataset (create it, or a new
version of it), wait until Kaggle has that version ready, push the kernel, follow the session of the
version pushed, fetch and check its submission.csv, submit that kernel version, and read the score
back into submissions/{exp}/leaderboard.csv beside the experiment's CV. For competitions that take
uploaded files (kaggle.route: file) the CSV is submitted instead. A dry run prints every command.

Each step Kaggle confirms is recorded (pawpipe.kaggle.state), so a rerun after a failure continues from
the last one. What Kaggle does on a bad day is guarded against:
- a stale session: right after a push, `kernels status` can still report the previous version's
  session; a finished state counts only once the version pushed was seen queued or running, or the
  latest session's log differs from the one before the push (a push while a session still runs is
  refused, since the two could not be told apart);
- dropped sources: the CLI prints "not valid dataset/competition sources" and exits 0; publish stops,
  naming the source and why, before the kernel burns its time;
- 403 from dataset status: before a create it means absent, while waiting it means pending;
- flaky polls: transient failures of status calls are retried (pawpipe.kaggle.poll);
- a failed upload ("Upload unsuccessful"): publish stops before the push;
- a submission Kaggle cannot score: publish fails with Kaggle's message;
- the daily submission limit: checked before the upload, the push and the submission.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..config import rerun_command
from ..io import read_json
from ..logs import log
from ..report import check_submission_file
from ..task import Task
from . import leaderboard
from .cli import KaggleError, run_kaggle, submission_message
from .manifest import DATASET_METADATA, KERNEL_METADATA
from .poll import ABSENT, FORBIDDEN, Poll, ask, status_word, wait_for
from .state import PublishState, digest

DATASET_FAILED = {"failed", "deleted"}
KERNEL_ACTIVE = {"queued", "running", "new_script"}
KERNEL_FAILED = {"error", "cancel_requested", "cancel_acknowledged"}
ERROR_LINE = re.compile(r"(creation|push) error|could not find competition|could not submit", re.I)
INVALID_SOURCES = re.compile(r"The following are not valid (\w+) sources and could not be added to the kernel: (.*)")
QUOTED = re.compile(r"'([^']+)'")  # the refs of a printed Python list
UPLOAD_FAILED = re.compile(r"Upload unsuccessful: (\S+)")
UPLOAD_FLAGS = ["--dir-mode", "zip", "--ignore-patterns", ".snakemake_timestamp"]  # the timestamp: Snakemake's


@dataclass(frozen=True)
class PublishJob:
    """The publish rule's inputs (the package, or the CSV with kaggle.route: file), its leaderboard and
    the record of where it stands."""

    cv_json: str
    test_table: str
    task: str  # task.json
    leaderboard: str
    state: str  # submissions/{exp}/kaggle/publish.json
    dataset_dir: str | None = None
    kernel_dir: str | None = None
    submission: str | None = None

    @property
    def output_dir(self) -> Path:
        """Where the kernel's output is fetched to."""
        return Path(self.dataset_dir).parent / "output"


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


def checked(out: str, args: list[str]) -> str:
    """The CLI reports some failures with exit status 0 ("... error: ..."): read its output too."""
    if ERROR_LINE.search(out):
        raise KaggleError(f"`kaggle {' '.join(args[:2])}` failed: {out[-1500:]}")
    return out


def describe(exp: str, cv: dict, message: str | None, suffix: str) -> str:
    """The submission's description: `pawpipe EXP: ...` (how leaderboard.csv recognises the experiment's
    submissions), unique per publish."""
    text = f"pawpipe {exp}: {message}" if message else submission_message(exp, cv)
    return f"{text} [{suffix}]"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def last_json(out: str) -> dict:
    """The JSON object a CLI command printed last (after any warnings)."""
    start = out.find("{")
    if start < 0:
        raise KaggleError(f"the kaggle CLI printed no JSON: {out[-500:]}")
    return json.loads(out[start:])


class Publisher:
    """The sequence over Kaggle's states for one experiment; `run` resumes it where its record stops."""

    def __init__(self, job: PublishJob, r: Route):
        self.job, self.r, self.cv = job, r, read_json(job.cv_json)
        self.command = rerun_command("publish", "1")
        self.task = Task.load(job.task)
        if r.route == "notebook":
            self.dataset = read_json(Path(job.dataset_dir) / DATASET_METADATA)["id"]
            self.kernel = read_json(Path(job.kernel_dir) / KERNEL_METADATA)["id"]
            package = digest(job.dataset_dir, job.kernel_dir)
        else:
            self.dataset = self.kernel = None
            check_submission_file(job.submission, job.test_table, self.task)
            package = digest(job.submission)
        self.state = PublishState.open(job.state, package)

    @property
    def resume(self) -> str:
        return self.state.resume_hint(self.command)

    def ask(self, args: list[str]) -> str:
        return ask(args, self.r.poll, self.resume)

    def run(self) -> None:
        s = self.state
        if self.r.route == "notebook":
            if not s.done("uploaded"):
                self.check_limits("uploading")
                self.upload()
            if not s.done("dataset_ready"):
                self.wait_for_dataset()
            if not s.done("pushed"):
                self.check_limits("pushing the kernel")
                self.push()
            if not s.done("finished"):
                self.follow()
            if not s.done("fetched"):
                self.fetch()
        if not s.done("submitted"):
            self.check_limits("submitting")
            self.submit()
        self.read_score()

    # -- the daily limit --
    def check_limits(self, before: str) -> None:
        out = self.ask(["competitions", "submission-limits", self.r.competition, "--json"])
        limits = last_json(out)  # zero counts are left out of the JSON
        left, today, total = (int(limits.get(k, 0)) for k in ("numAllowedNow", "numToday", "numTotal"))
        if left > 0:
            log.info("%s: %d submission(s) left today", self.r.competition, left)
            return
        if not (today or total or limits.get("limitedByTotal")):
            log.info("%s: Kaggle reports no counts (no team yet, before a first submission)", self.r.competition)
            return
        if limits.get("limitedByTotal"):
            raise KaggleError(f"{self.r.competition}: the competition's lifetime submission cap is reached ({total} "
                              f"made); Kaggle takes no more. Stopped before {before}")  # fmt: skip
        now = datetime.now(UTC)
        reset = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        wait = reset - now
        raise KaggleError(
            f"{self.r.competition}: no submissions left today ({today} made today); Kaggle counts a day in UTC, so "
            f"the limit resets at {reset:%Y-%m-%d %H:%M} UTC, in {wait.seconds // 3600} h {wait.seconds // 60 % 60} "
            f"min. Stopped before {before}; {self.resume}"
        )

    # -- the dataset --
    def dataset_info(self) -> dict | None:
        """{"status", "current_version_number"} of the dataset, or None where Kaggle answers that it does not
        exist (404, or the 403 GetDatasetStatus gives for a dataset not there yet)."""
        try:
            return last_json(self.ask(["datasets", "status", self.dataset, "--format", "json"]))
        except KaggleError as exc:
            if ABSENT.search(str(exc)) or FORBIDDEN.search(str(exc)):
                return None
            raise

    def upload(self) -> None:
        s, dataset_dir = self.state, Path(self.job.dataset_dir)
        folders = [p.name for p in dataset_dir.iterdir() if p.is_dir()]
        if folders:
            raise KaggleError(f"{dataset_dir}: holds folders {folders}; the package is flat, rebuild it")
        info = self.dataset_info()
        version = info.get("current_version_number") if info else None
        if s.done("uploading"):  # the last run was stopped inside the upload: did it land?
            before = s.get("uploading")["version"]
            if version and version > (before or 0):
                log.info("the upload of the last run landed: %s version %s", self.dataset, version)
                s.record("uploaded", expected_version=version, new=before is None)
                return
        s.record("uploading", version=version)
        if info is None:
            args = ["datasets", "create", "-p", str(dataset_dir), *UPLOAD_FLAGS]
        else:
            note = f"{submission_message(self.r.exp, self.cv).split(' (')[0]} [{self.state.package[:12]}]"
            args = ["datasets", "version", "-p", str(dataset_dir), "-m", note, *UPLOAD_FLAGS]
        log.info("dataset %s %s: uploading %s", self.dataset, "is new" if info is None else "exists", dataset_dir)
        out = checked(run_kaggle(args), args)
        print(out)
        failed = UPLOAD_FAILED.findall(out)
        if failed:
            s.undo("uploading")  # what Kaggle holds lacks them: the rerun uploads a whole version
            raise KaggleError(
                f"the upload of {', '.join(failed)} failed (the kaggle CLI printed 'Upload unsuccessful'): Kaggle's "
                f"{self.dataset} lacks {'it' if len(failed) == 1 else 'them'} and the notebook would fail on the "
                f"missing file{'s' if len(failed) > 1 else ''}. Nothing was pushed; {self.resume}"
            )
        s.record("uploaded", expected_version=(version or 0) + 1, new=info is None)

    def wait_for_dataset(self) -> None:
        expected = self.state.get("uploaded")["expected_version"]

        def ready():
            info = self.dataset_info()  # absent or forbidden right after a create: still processing
            if info is None:
                log.info("dataset %s: not visible yet", self.dataset)
                return None
            word, version = info.get("status", ""), info.get("current_version_number") or 0
            if word in DATASET_FAILED:
                self.state.undo("uploading")
                raise KaggleError(f"dataset {self.dataset}: Kaggle reports {word!r} while processing it; {self.resume}")
            log.info("dataset %s: %s, version %s (waiting for %s ready)", self.dataset, word, version, expected)
            return "ready" if word == "ready" and version >= expected else None

        wait_for(ready, f"dataset {self.dataset}", self.r.poll.interval_s, self.r.poll.dataset_minutes, self.resume)
        self.state.record("dataset_ready", version=self.dataset_info()["current_version_number"])

    # -- the kernel --
    def session(self) -> dict | None:
        """The kernel's latest session ({"status", "log_sha"}), or None for a kernel Kaggle does not have yet."""
        try:
            word = status_word(self.ask(["kernels", "status", self.kernel]))
        except KaggleError as exc:
            if ABSENT.search(str(exc)) or FORBIDDEN.search(str(exc)):
                return None
            raise
        return {"status": word, "log_sha": sha(self.ask(["kernels", "logs", self.kernel]))}

    def push(self) -> None:
        s = self.state
        prior = self.session()
        if prior and prior["status"] in KERNEL_ACTIVE:
            raise KaggleError(
                f"kernel {self.kernel} has a session {prior['status']} (an earlier push): its state and the new "
                f"version's could not be told apart. Wait until it ends, or stop it at "
                f"https://www.kaggle.com/code/{self.kernel}; {self.resume}"
            )
        if s.done("pushing"):
            log.warning("the last run was stopped inside `kernels push`, and Kaggle does not say whether that push "
                        "landed: pushing again (at worst one more kernel version)")  # fmt: skip
        s.record("pushing", prior=prior)
        args = ["kernels", "push", "-p", self.job.kernel_dir]
        out = checked(run_kaggle(args), args)
        print(out)
        found = re.search(r"Kernel version (\d+) successfully pushed", out)
        dropped = INVALID_SOURCES.findall(out)
        if dropped:
            s.undo("pushing")
            raise KaggleError(self.dropped_sources(dropped, found.group(1) if found else "?"))
        if not found:
            raise KaggleError(f"`kaggle kernels push` reported no kernel version: {out[-1500:]}")
        s.record("pushed", version=int(found.group(1)), prior=prior)

    def dropped_sources(self, dropped: list[tuple[str, str]], version: str) -> str:
        why = {
            "dataset": f"not valid yet: still processing, or not visible to the kernel's owner (kaggle.owner); "
            f"check https://www.kaggle.com/datasets/{self.dataset}",
            "competition": f"accept the competition's rules at https://www.kaggle.com/competitions/"
            f"{self.r.competition}/rules, or check kaggle.competition",
        }
        named = "; ".join(
            f"the {kind} source {', '.join(QUOTED.findall(refs)) or refs} ({why.get(kind, 'not valid')})"
            for kind, refs in dropped
        )
        return (
            f"kernels push: Kaggle dropped {named}. Version {version} was pushed without it and will fail on the "
            f"missing input: stop it at https://www.kaggle.com/code/{self.kernel}. Nothing was submitted; "
            f"{self.resume}"
        )

    def follow(self) -> None:
        s, pushed = self.state, self.state.get("pushed")
        version, prior = pushed["version"], pushed["prior"]
        what = f"kernel {self.kernel} version {version}"

        def check():
            word = status_word(self.ask(["kernels", "status", self.kernel]))
            if word in KERNEL_ACTIVE:
                if not s.done("running"):
                    s.record("running", version=version)
                log.info("%s: %s", what, word)
                return None
            if word != "complete" and word not in KERNEL_FAILED:
                log.info("%s: %s", what, word)
                return None
            if s.done("running") or prior is None:
                return word
            if sha(self.ask(["kernels", "logs", self.kernel])) != prior["log_sha"]:  # a new session ended
                s.record("running", version=version, seen="finished already; its log is new")
                return word
            log.info("%s: the latest session is still the previous version's (%s); waiting", what, word)
            return None

        word = wait_for(check, what, self.r.poll.interval_s, self.r.poll.kernel_minutes, self.resume)
        if word != "complete":
            logs = self.ask(["kernels", "logs", self.kernel])
            s.undo("pushing")  # the rerun pushes again (after a fix, or for a failure of Kaggle's)
            raise KaggleError(f"{what} failed ({word}); the end of its log:\n{logs[-4000:]}\nNothing was submitted; "
                              f"{self.resume}")  # fmt: skip
        s.record("finished", version=version)

    def fetch(self) -> None:
        """The kernel's submission.csv, checked like the pipeline's own (rows, Ids, values)."""
        out_dir = self.job.output_dir
        if out_dir.exists():
            shutil.rmtree(out_dir)
        self.ask(["kernels", "output", self.kernel, "-p", str(out_dir), "-o"])
        csv_path = out_dir / "submission.csv"
        if not csv_path.is_file():
            raise KaggleError(f"kernel {self.kernel} wrote no submission.csv (its output: "
                              f"{sorted(p.name for p in out_dir.iterdir())}); {self.resume}")  # fmt: skip
        check_submission_file(csv_path, self.job.test_table, self.task)
        self.state.record("fetched", file=str(csv_path), sha=digest(csv_path))

    # -- the submission --
    def submit(self) -> None:
        s = self.state
        if s.done("submitting"):  # the last run was stopped inside the submit: did it land?
            description = s.get("submitting")["description"]
            listing = leaderboard.parse_listing(self.ask(leaderboard.listing_args(self.r.competition)))
            if (listing["description"] == description).any():
                log.info("the submission of the last run landed: %s", description)
                s.record("submitted", description=description)
                return
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        if self.r.route == "notebook":
            version = s.get("pushed")["version"]
            description = describe(self.r.exp, self.cv, self.r.message, f"kernel v{version}, {stamp}")
            where = ["-k", self.kernel, "-v", str(version), "-f", "submission.csv"]
            log.info("submitting %s version %s (its %s)", self.kernel, version, s.get("fetched")["file"])
        else:
            description = describe(self.r.exp, self.cv, self.r.message, stamp)
            where = ["-f", self.job.submission]
        s.record("submitting", description=description)
        args = ["competitions", "submit", "-c", self.r.competition, *where, "-m", description]
        print(checked(run_kaggle(args), args))
        s.record("submitted", description=description)

    def read_score(self) -> None:
        """Wait for the submission's score and keep leaderboard.csv up to date (one row per submission)."""
        s, path, poll = self.state, Path(self.job.leaderboard), self.r.poll
        description = s.get("submitted")["description"]
        pushed = s.steps.get("pushed", {})
        new = {"kernel": self.kernel or "", "kernel_version": str(pushed.get("version", "")),
               "description": description}  # fmt: skip
        scored: dict = {}

        def check():
            listing = leaderboard.parse_listing(self.ask(leaderboard.listing_args(self.r.competition)))
            leaderboard.update(path, listing, self.r.exp, self.cv, new)
            mine = listing[listing["description"] == description]
            if mine.empty:
                return None
            row = mine.iloc[0]
            log.info("submission %s: %s, public score %s", row["ref"], row["status"], row["publicScore"] or "-")
            scored.update(row.to_dict())
            return row["status"] if row["status"] != "pending" else None

        try:
            word = wait_for(check, "submission", poll.interval_s, poll.score_minutes, self.resume)
        except KaggleError as exc:
            if "still not done" not in str(exc):
                raise
            later = rerun_command("leaderboard", "1")
            log.warning("%s; %s has the row, `%s` fills the score in later", exc, path, later)
            return
        if word == "error":
            message = leaderboard.submission_error(self.r.competition, scored["ref"])
            s.record("scored", status="error", ref=scored["ref"], message=message)
            raise KaggleError(f"Kaggle could not score submission {scored['ref']} ({description}): {message}")
        s.record("scored", status=word, ref=scored["ref"], public=scored["publicScore"],
                 private=scored["privateScore"])  # fmt: skip


def plan(job: PublishJob, r: Route) -> list[str]:
    """Every command publish would run, in order, with the real paths (a dry run)."""
    c, poll = r.competition, r.poll

    def add(args: list[str], note: str = "") -> None:
        r.plan.append(run_kaggle(args, dry_run=True) + (f"    # {note}" if note else ""))

    cv = read_json(job.cv_json)
    add(["competitions", "submission-limits", c, "--json"], "a submission left today? (again before each step)")
    if r.route == "notebook":
        dataset = read_json(Path(job.dataset_dir) / DATASET_METADATA)["id"]
        kernel = read_json(Path(job.kernel_dir) / KERNEL_METADATA)["id"]
        add(["datasets", "status", dataset, "--format", "json"], "does the dataset exist? at which version?")
        add(["datasets", "create", "-p", job.dataset_dir, *UPLOAD_FLAGS], "if it does not")
        note = submission_message(r.exp, cv).split(" (")[0]
        add(["datasets", "version", "-p", job.dataset_dir, "-m", note, *UPLOAD_FLAGS], "if it does")
        add(
            ["datasets", "status", dataset, "--format", "json"],
            f"every {poll.interval_s:g} s until the new version is ready (at most {poll.dataset_minutes:g} min)",
        )
        add(["kernels", "status", kernel], "and `kernels logs`: the session before the push, to tell it apart")
        add(["kernels", "push", "-p", job.kernel_dir], "prints the kernel version")
        add(
            ["kernels", "status", kernel],
            f"every {poll.interval_s:g} s until the version pushed completes (at most {poll.kernel_minutes:g} min)",
        )
        add(["kernels", "logs", kernel], "only if the run fails: its log")
        add(["kernels", "output", kernel, "-p", str(job.output_dir), "-o"])
        r.plan.append(f"check {job.output_dir / 'submission.csv'} against the Ids of {job.test_table}")
        where = ["-k", kernel, "-v", "<version printed by kernels push>", "-f", "submission.csv"]
    else:
        r.plan.append(f"check {job.submission} against the Ids of {job.test_table}")
        where = ["-f", job.submission]
    add(["competitions", "submit", "-c", c, *where, "-m", describe(r.exp, cv, r.message, "<date>")])
    add(leaderboard.listing_args(c), f"every {poll.interval_s:g} s until scored (at most {poll.score_minutes:g} "
                                     f"min) -> {job.leaderboard}")  # fmt: skip
    print("dry run; would run, in order:\n" + "\n".join(f"  {i}. {line}" for i, line in enumerate(r.plan, 1)))
    return r.plan


def publish(job: PublishJob, r: Route) -> list[str]:
    """The whole sequence, resumed where its record stops; returns a dry run's commands (printed too)."""
    if r.dry_run:
        return plan(job, r)
    Publisher(job, r).run()
    return []
