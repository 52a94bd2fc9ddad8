"""Where `publish` stands, on disk after every step Kaggle has confirmed, so that a rerun after any
failure (a kill, a dropped connection, a kernel that failed) continues from the last confirmed step and
never uploads or pushes again what Kaggle already has.

The record (submissions/{exp}/kaggle/publish.json) belongs to one package: its digest is the content of
the files that go up. A rebuilt package, or a publish that reached its score, starts a new record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..io import read_json, write_json
from ..logs import log

FORMAT = 1
# The steps in order. `uploading`, `pushing` and `submitting` are recorded just before the call they
# name, so that a rerun after a kill inside it can ask Kaggle whether the call landed.
STEPS = (
    "uploading", "uploaded", "dataset_ready", "pushing", "pushed", "running", "finished", "fetched",
    "submitting", "submitted", "scored",
)  # fmt: skip
IGNORED = {".snakemake_timestamp"}  # Snakemake's marker of a finished directory output: not uploaded


def digest(*paths: str | Path) -> str:
    """The content of what goes up: every file under each path (a folder or a file), by name and bytes."""
    h = hashlib.sha256()
    for root in map(Path, paths):
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            if path.name in IGNORED:
                continue
            h.update(str(path.relative_to(root) if root.is_dir() else path.name).encode() + b"\0")
            with path.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


@dataclass
class PublishState:
    path: Path
    package: str
    steps: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def open(cls, path: str | Path, package: str) -> PublishState:
        """The record of this package's publish, resumed where it stopped; a new one where there is none,
        where it belongs to another package, or where that publish finished (reached its score)."""
        path = Path(path)
        if path.is_file():
            old = read_json(path)
            if old.get("format") != FORMAT:
                log.warning("%s: written by another version of pawpipe; publishing from the start", path)
            elif old.get("package") != package:
                log.info("%s: the package changed since that publish; publishing it from the start", path)
            elif "scored" in old["steps"]:
                log.info("%s: that publish finished; publishing again", path)
            else:
                state = cls(path, package, old["steps"])
                log.info("resuming publish after %s (%s)", state.last(), path)
                return state
        state = cls(path, package)
        state.save()
        return state

    def done(self, step: str) -> bool:
        return step in self.steps

    def get(self, step: str) -> dict:
        return self.steps[step]

    def last(self) -> str | None:
        done = [s for s in STEPS if s in self.steps]
        return done[-1] if done else None

    def record(self, step: str, **data) -> None:
        self.steps[step] = {**data, "at": datetime.now(UTC).isoformat(timespec="seconds")}
        self.save()
        log.info("publish: %s %s", step, {k: v for k, v in data.items() if k != "log_sha"} or "")

    def undo(self, *steps: str) -> None:
        """Forget steps (and every later one), e.g. a kernel run that failed: the rerun pushes again."""
        first = min(STEPS.index(s) for s in steps)
        self.steps = {s: v for s, v in self.steps.items() if STEPS.index(s) < first}
        self.save()

    def save(self) -> None:
        write_json({"format": FORMAT, "package": self.package, "steps": self.steps}, self.path)

    def resume_hint(self, command: str) -> str:
        last = self.last()
        where = f"after `{last}`" if last else "from the start"
        return f"rerun `{command}` once it is fixed: it continues {where} (recorded in {self.path})"
