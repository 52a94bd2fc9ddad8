"""Weights & Biases: one run per fold and stage, grouped by experiment.

Settings come from W&B's own environment variables (WANDB_MODE, WANDB_PROJECT, WANDB_ENTITY), which
the workflow sets from the `wandb:` config unless they are already set. They do not reach rules
through params on purpose: switching tracking on must not retrain anything. Without WANDB_MODE,
or with WANDB_MODE=disabled, nothing is imported and nothing is logged.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from .logs import log


class Tracker:
    """What the stages call; a no-op unless a W&B run is active."""

    def __init__(self, run=None):
        self.run = run

    def log(self, metrics: dict[str, Any]) -> None:
        if self.run is not None:
            self.run.log(metrics)

    def summary(self, values: dict[str, Any]) -> None:
        if self.run is not None:
            for key, value in values.items():
                self.run.summary[key] = value

    def artifact(self, path: str, name: str, kind: str) -> None:
        if self.run is not None and os.environ.get("PAWPIPE_WANDB_CHECKPOINTS", "0") == "1":
            import wandb

            art = wandb.Artifact(name, type=kind)
            art.add_file(path)
            self.run.log_artifact(art)


def grouping(exp: str, stage: str, fold: int | None) -> dict[str, Any]:
    """W&B's group, name, tags and config of a job: grouped by experiment, or by sweep for a sweep's point
    (its runs table then compares the points: each run carries its experiment and what it changes)."""
    import json

    from .config import SWEEP_ENV

    sweep = json.loads(os.environ.get(SWEEP_ENV) or "{}")
    name = f"fold{fold}" if fold is not None else stage
    changes = sweep.get("changes", {})
    if len(changes) > 1 and exp in changes:
        return {"group": sweep["name"], "name": f"{exp}/{name}", "tags": [exp],
                "config": {"exp": exp, **{f"changed.{k}": v for k, v in changes[exp].items()}}}  # fmt: skip
    return {"group": exp, "name": name, "tags": [], "config": {"exp": exp}}


@contextlib.contextmanager
def tracked(exp: str, stage: str, fold: int | None = None, config: dict | None = None) -> Iterator[Tracker]:
    mode = os.environ.get("WANDB_MODE", "disabled")
    if mode == "disabled":
        yield Tracker()
        return
    import wandb

    where = grouping(exp, stage, fold)
    run = wandb.init(
        project=os.environ.get("WANDB_PROJECT", "pawpipe"),
        group=where["group"],
        job_type=stage,
        name=where["name"],
        tags=where["tags"],
        config={**(config or {}), **where["config"]},
        mode=mode,
        reinit="finish_previous",
    )
    log.info("W&B run %s (%s mode): group %s, job type %s", run.id, mode, where["group"], stage)
    ok = False
    try:
        yield Tracker(run)
        ok = True
    finally:
        run.finish(exit_code=0 if ok else 1)
