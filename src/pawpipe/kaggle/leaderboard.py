"""The experiment's submissions as Kaggle lists them, kept in submissions/{exp}/leaderboard.csv beside the
CV they came from, and what Kaggle says when it could not score one."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from ..io import read_json, write_csv
from ..logs import log

COLUMNS = [
    "date", "exp", "ref", "status", "public_score", "private_score", "cv_blend", "cv_mlp", "cv_svr", "folds",
    "kernel", "kernel_version", "description",
]  # fmt: skip
LISTING = ["ref", "fileName", "date", "description", "status", "publicScore", "privateScore"]


def listing_args(competition: str) -> list[str]:
    return ["competitions", "submissions", "-c", competition, "--csv"]


def parse_listing(out: str) -> pd.DataFrame:
    """`kaggle competitions submissions --csv` as a table (ref, fileName, date, description, status, scores),
    the status as one lower-case word (pending, complete, error)."""
    lines = out.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("ref,")), None)
    if start is None:
        return pd.DataFrame(columns=LISTING)
    table = pd.DataFrame(list(csv.DictReader(io.StringIO("\n".join(lines[start:])))), dtype=str)
    table["status"] = table["status"].map(lambda s: s.split(".")[-1].lower())
    return table


# The CLI's listing leaves out why a submission failed; the kaggle package's API (the same pinned package,
# the same credentials) has it.
ERRORS_CODE = """import json, sys
from kaggle.api.kaggle_api_extended import KaggleApi
api = KaggleApi()
api.authenticate()
subs = api.competition_submissions(sys.argv[1]) or []
print(json.dumps({str(s.ref): s.error_description for s in subs}))
"""


def submission_error(competition: str, ref: str) -> str:
    """Kaggle's message for a submission it could not score, or where to read it."""
    where = f"see https://www.kaggle.com/competitions/{competition}/submissions"
    try:
        proc = subprocess.run([sys.executable, "-c", ERRORS_CODE, competition], capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        message = json.loads(proc.stdout.strip().splitlines()[-1]).get(str(ref)) if proc.returncode == 0 else None
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        message = None
    if not message:
        log.warning("Kaggle's message for submission %s could not be read; %s", ref, where)
    return message or f"(no message came back; {where})"


def update(path: Path, listing: pd.DataFrame, exp: str, cv: dict, new: dict | None = None) -> pd.DataFrame:
    """One row per submission of this experiment (its description starts `pawpipe EXP:`), scores refreshed
    from the listing; CV figures are those of the run at the time of the row's first record."""
    old = pd.read_csv(path, dtype=str) if path.is_file() else pd.DataFrame(columns=COLUMNS)
    known = {r["ref"]: r for r in old.to_dict("records")}
    ours = listing[listing["description"].str.startswith(f"pawpipe {exp}:")]
    scores = cv["scores"]
    for sub in ours.to_dict("records"):
        row = known.get(sub["ref"]) or {
            "exp": exp,
            **{f"cv_{h}": (f"{scores[h]:.4f}" if h in scores else "") for h in ("blend", "mlp", "svr")},
            "folds": str(cv["n_folds"]),
            **(new if new and sub["description"] == new["description"] else {}),
        }
        row.update(ref=sub["ref"], date=sub["date"], description=sub["description"], status=sub["status"],
                   public_score=sub["publicScore"], private_score=sub["privateScore"])  # fmt: skip
        known[sub["ref"]] = row
    table = pd.DataFrame(list(known.values()), columns=COLUMNS).sort_values("date", kind="stable")
    write_csv(table, path)
    return table


def refresh(*, leaderboard: str, cv_json: str, exp: str, competition: str, poll) -> pd.DataFrame:
    """Read every submission of the experiment back (e.g. a score that came after publish stopped waiting);
    `poll` (kaggle.poll) sets how failed calls are retried."""
    from .poll import ask

    out = ask(listing_args(competition), poll, "run `leaderboard` again later")
    table = update(Path(leaderboard), parse_listing(out), exp, read_json(cv_json))
    print(table.to_string(index=False))
    return table
