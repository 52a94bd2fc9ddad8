"""The kaggle CLI as the project runs it: credentials, the owner of what it uploads, the data download
and the CSV submission of file-upload competitions (code competitions: pawpipe.kaggle.publish)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..config import rerun_command
from ..io import read_json
from ..logs import log
from ..report import check_submission_file
from ..task import Task

COMPETITION = "petfinder-pawpularity-score"


class KaggleError(RuntimeError):
    pass


def credentials_problem() -> str | None:
    """None when the kaggle CLI can authenticate, else what to do about it."""
    config_dir = kaggle_config_file().parent
    if os.environ.get("KAGGLE_API_TOKEN") or (os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY")):
        return None
    if (config_dir / "kaggle.json").is_file() or (config_dir / "access_token").is_file():
        return None
    return (
        f"no Kaggle credentials: set KAGGLE_API_TOKEN to an API token from https://www.kaggle.com/settings, "
        f"or save the legacy kaggle.json there as {config_dir / 'kaggle.json'} (chmod 600)"
    )


def kaggle_config_file() -> Path:
    """Where the kaggle CLI keeps kaggle.json: $KAGGLE_CONFIG_DIR, else ~/.kaggle, else (Linux) ~/.config/kaggle."""
    if os.environ.get("KAGGLE_CONFIG_DIR"):
        return Path(os.environ["KAGGLE_CONFIG_DIR"]) / "kaggle.json"
    home = Path.home() / ".kaggle"
    if sys.platform.startswith("linux") and not home.exists():
        return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "kaggle" / "kaggle.json"
    return home / "kaggle.json"


def cli_username() -> str | None:
    """The username the kaggle CLI itself would use: kaggle.json's, else the one `kaggle config view` reports
    (with an API token the CLI asks Kaggle whose token it is)."""
    try:
        name = json.loads(kaggle_config_file().read_text()).get("username")
    except (OSError, ValueError, AttributeError):
        name = None
    if name or credentials_problem() or not shutil.which("kaggle"):
        return name or None
    try:
        proc = subprocess.run(["kaggle", "config", "view"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None
    found = re.search(r"^- username: (\S+)$", proc.stdout, re.M)
    return found.group(1) if found and found.group(1) != "None" else None


def resolve_owner(configured: str | None) -> str | None:
    """Whose Kaggle account the package's dataset and kernel ids name: config kaggle.owner, else
    $KAGGLE_USERNAME, else the kaggle CLI's own configuration."""
    return configured or os.environ.get("KAGGLE_USERNAME") or cli_username()


def owner_problem() -> str:
    return (
        "no Kaggle owner for the dataset and kernel ids: set kaggle.owner in the config (or --config "
        "'kaggle={owner: NAME}'), or KAGGLE_USERNAME in the environment, or a username in the kaggle CLI's "
        f"configuration ({kaggle_config_file()}, or what `kaggle config view` reports with KAGGLE_API_TOKEN); "
        "looked in all three and found none"
    )


def run_kaggle(args: list[str], *, dry_run: bool = False) -> str:
    """Run `kaggle ARGS`; with dry_run, return the command line without running it."""
    exe = shutil.which("kaggle")
    cmd = [exe or "kaggle", *args]
    line = shlex.join(["kaggle", *args])
    if dry_run:
        return line
    problem = credentials_problem()
    if problem:
        raise KaggleError(problem)
    if exe is None:
        raise KaggleError("the kaggle CLI is not installed: pip install -r requirements.txt")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        hint = ""
        if "403" in out or "rules" in out.lower():
            hint = f"; accept the competition's rules first at https://www.kaggle.com/competitions/{COMPETITION}/rules"
        elif "401" in out:
            hint = "; the credentials were refused: create a new API token"
        raise KaggleError(f"`{line}` failed ({proc.returncode}): {out[-1500:]}{hint}")
    return out


def download(data_dir: str | Path, competition: str = COMPETITION, dry_run: bool = False) -> str:
    """Download and unpack the competition data into data_dir (Kaggle's layout)."""
    data_dir = Path(data_dir)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir.parent, prefix=f".{data_dir.name}.download-") as tmp:
        out = run_kaggle(["competitions", "download", "-c", competition, "-p", tmp], dry_run=dry_run)
        if dry_run:
            return out
        archives = list(Path(tmp).glob("*.zip"))
        if not archives:
            raise KaggleError(f"kaggle downloaded no archive for {competition}: {out}")
        unpacked = Path(tmp) / "unpacked"
        with zipfile.ZipFile(archives[0]) as zf:
            zf.extractall(unpacked)
        data_dir.mkdir(exist_ok=True)
        for item in sorted(unpacked.iterdir(), key=lambda p: p.suffix == ".csv"):  # tables last
            dst = data_dir / item.name
            if dst.is_dir():
                shutil.rmtree(dst)
            item.replace(dst)
    log.info("downloaded %s into %s", competition, data_dir)
    return out


def submission_message(exp: str, cv: dict) -> str:
    """`pawpipe EXP: CV RMSE blend 10.9430 (mlp 11.5650, svr 10.9270, 5 folds)`, in the run's metric."""
    from ..metrics import recorded_label

    s, label = cv["scores"], recorded_label(cv["task"])
    heads = ", ".join(f"{h} {s[h]:.4f}" for h in cv["heads"])
    return f"pawpipe {exp}: CV {label} blend {s['blend']:.4f} ({heads}, {cv['n_folds']} folds)"


@dataclass(frozen=True)
class SubmitJob:
    """The submit rule's inputs (the submission, the test table, task.json, cv.json) and what it submits to."""

    submission: str
    test_table: str
    task: str
    cv_json: str
    exp: str
    competition: str = COMPETITION
    route: str = "file"


def submit(job: SubmitJob, message: str | None = None, dry_run: bool = False) -> str:
    """Check the submission again, then `kaggle competitions submit` it (or print the command).

    Only for competitions that take uploaded files (kaggle.route: file); a code competition scores a
    notebook instead (pawpipe.kaggle.publish)."""
    if job.route != "file":
        raise KaggleError(
            f"{job.competition} takes submissions only from notebooks (kaggle.route: {job.route}), and refuses an "
            f"uploaded CSV: run `{rerun_command('publish', '1')}` (package, upload, run the notebook, submit its "
            f"output). For a competition that takes files, set kaggle.route: file"
        )
    check_submission_file(job.submission, job.test_table, Task.load(job.task))
    message = message or submission_message(job.exp, read_json(job.cv_json))
    args = ["competitions", "submit", "-c", job.competition, "-f", job.submission, "-m", message]
    out = run_kaggle(args, dry_run=dry_run)
    print(out if not dry_run else f"dry run; would run:\n{out}")
    return out
