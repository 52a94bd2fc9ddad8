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


def schema_at(schema: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    """The schema of the key at `path` (nested keys), or None where the schema does not describe it."""
    node = schema
    for key in path:
        node = (node.get("properties") or {}).get(key)
        if node is None:
            return None
    return node


def typed_overrides(config: dict[str, Any], overrides: dict[str, Any], schema: dict[str, Any]) -> None:
    """Type the values of `--config` as the schema expects, in place in `config`. Snakemake reads a nested
    `--config 'train={epochs: 1}'` with YAML's base loader, so every value inside arrives as a string;
    each is read again as YAML reads a config file (the same text in an overlay gives the same value),
    except where the schema wants the string itself. A value that fits its key neither way is refused,
    naming the key, with the overlay file that takes any value as advice."""
    import jsonschema
    import yaml

    def fits(value, sub) -> bool:
        return sub is None or jsonschema.Draft202012Validator(sub).is_valid(value)

    def typed(value, sub):
        if isinstance(value, dict):
            return {k: typed(v, schema_at(sub, (k,)) if sub else None) for k, v in value.items()}
        if isinstance(value, list):
            items = sub.get("items") if sub and isinstance(sub.get("items"), dict) else None
            return [typed(v, items) for v in value]
        if not isinstance(value, str) or (fits(value, sub) and sub is not None):
            return value
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        return parsed if fits(parsed, sub) or sub is None else value

    for key, value in overrides.items():
        sub = schema_at(schema, (key,))
        config[key] = (
            typed(value, sub) if not isinstance(value, dict) else merge(config.get(key, {}), typed(value, sub))
        )
        bad = [
            (".".join((key, *p)), v) for p, v in _leaves(typed(value, sub)) if not fits(v, schema_at(schema, (key, *p)))
        ]
        if bad:
            where, v = bad[0]
            raise ValueError(
                f"--config: {where}={v!r} does not fit that key (config/README.md says what it takes); for values "
                f"YAML must type, write them in an overlay file: snakemake --configfile config/config.yaml my.yaml"
            )


def _leaves(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*prefix, k))]
    return [(prefix, value)]


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


def reference_table(schema: dict, demo: dict | None = None) -> str:
    """The config page's table of keys: each key, its schema default (what a key no config file sets
    gets), the value config/config.yaml (the demo) gives it where that differs, whether it is a runtime
    (how) setting, and its description, straight from the schema and the file."""

    def cell(text) -> str:
        return " ".join(str(text).split()).replace("|", "\\|")

    def given(key: str):
        node = demo or {}
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    rows = ["| key | schema default | config.yaml (demo) | what it sets |", "|---|---|---|---|"]
    for key, sub in schema_keys(schema):
        default = f"`{json.dumps(sub['default'])}`" if "default" in sub else ""
        value = given(key) if "[]" not in key else None
        leaf = value is not None and not isinstance(value, dict)
        demo_cell = f"`{json.dumps(value)}`" if leaf and ("default" not in sub or value != sub["default"]) else ""
        how = "**how** (x-runtime): " if sub.get("x-runtime") else ""
        rows.append(f"| `{key}` | {cell(default)} | {cell(demo_cell)} | {how}{cell(sub.get('description', ''))} |")
    return "\n".join(rows)


def render_reference(path: str | Path, schema_path: str | Path = SCHEMA) -> bool:
    """Write the schema's key table between the `<!-- keys -->` markers of `path`; True if it changed."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    demo = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    text = Path(path).read_text()
    start, end = KEYS_BLOCK
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    new = f"{head}{start}\n{reference_table(schema, demo)}\n{end}{tail}"
    Path(path).write_text(new)
    return new != text


if __name__ == "__main__":  # python -m pawpipe.configfile config/README.md: regenerate its table of keys
    import sys

    for page in sys.argv[1:] or [REPO / "config" / "README.md"]:
        print(f"{page}: {'rewritten' if render_reference(page) else 'up to date'}")
