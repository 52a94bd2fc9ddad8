"""Load a config outside the workflow (the benchmark, the tests) exactly as the workflow does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .config import REPO, SCHEMA, merge


def load_config(overlays: list[str | Path] = (), base: str | Path = REPO / "config" / "config.yaml") -> dict:
    """config/config.yaml with overlays merged in key by key (as --configfile does), then validated
    and given its defaults by the workflow's schema."""
    from snakemake.utils import validate

    config: dict[str, Any] = {}
    for path in [base, *overlays]:
        merge(config, yaml.safe_load(Path(path).read_text()) or {})
    validate(config, str(SCHEMA))
    return config
