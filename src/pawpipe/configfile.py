"""Load a config outside the workflow (the benchmark, the tests) exactly as the workflow does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .config import REPO, SCHEMA, merge, resolve_auto


def load_config(overlays: list[str | Path] = (), base: str | Path = REPO / "config" / "config.yaml") -> dict:
    """config/config.yaml with overlays merged in key by key (as --configfile does), then validated
    and given its defaults by the workflow's schema."""
    from snakemake.utils import validate

    config: dict[str, Any] = {}
    for path in [base, *overlays]:
        merge(config, yaml.safe_load(Path(path).read_text()) or {})
    validate(config, str(SCHEMA))
    return resolve_auto(config)


def base_order(path: str | Path, schema_path: str | Path = SCHEMA) -> dict:
    """A config file as the workflow validates it (defaults added): the template of canonical key order."""
    from snakemake.utils import validate

    config = yaml.safe_load(Path(path).read_text()) or {}
    validate(config, str(schema_path))
    return config


KEYS_BLOCK = ("<!-- keys -->", "<!-- /keys -->")


def schema_keys(schema: dict, prefix: str = "") -> list[tuple[str, dict]]:
    """(dotted key, its schema) for every key the schema describes, depth first, in the schema's order."""
    found = []
    for name, sub in (schema.get("properties") or {}).items():
        key = f"{prefix}{name}"
        found.append((key, sub))
        found += schema_keys(sub, f"{key}.")
        if sub.get("type") == "array" and isinstance(sub.get("items"), dict):
            found += schema_keys(sub["items"], f"{key}[].")
    return found


def reference_table(schema: dict) -> str:
    """The config page's table of keys: each key, its default, whether it is a runtime (how) setting,
    and its description, straight from the schema."""

    def cell(text) -> str:
        return " ".join(str(text).split()).replace("|", "\\|")

    rows = ["| key | default | what it sets |", "|---|---|---|"]
    for key, sub in schema_keys(schema):
        default = f"`{json.dumps(sub['default'])}`" if "default" in sub else ""
        how = "**how** (x-runtime): " if sub.get("x-runtime") else ""
        rows.append(f"| `{key}` | {cell(default)} | {how}{cell(sub.get('description', ''))} |")
    return "\n".join(rows)


def render_reference(path: str | Path, schema_path: str | Path = SCHEMA) -> bool:
    """Write the schema's key table between the `<!-- keys -->` markers of `path`; True if it changed."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    text = Path(path).read_text()
    start, end = KEYS_BLOCK
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    new = f"{head}{start}\n{reference_table(schema)}\n{end}{tail}"
    Path(path).write_text(new)
    return new != text


if __name__ == "__main__":  # python -m pawpipe.configfile config/README.md: regenerate its table of keys
    import sys

    for page in sys.argv[1:] or [REPO / "config" / "README.md"]:
        print(f"{page}: {'rewritten' if render_reference(page) else 'up to date'}")
