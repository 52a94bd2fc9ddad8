"""Many experiments as one run: the config's `sweep:` block expands into experiments, each a readable,
stable name derived from what it changes, all run by one Snakemake DAG.

A sweep is a grid over dotted keys (every combination a point) and/or a list of named overlays (each
point's `set:` of dotted keys); with both, every overlay is combined with every grid point. A point's
name is the base `exp` followed by what it changes from the base config (`demo_lr-0.002_size-48`), or the
base name itself where it changes nothing. Points that share a setting share its artifacts where the
result cannot differ: the data check, the folds, the image cache and each extractor's features belong
to the first experiment (the base first, then in sweep order) with the same key, and the others read
them from it (`owners`).

Without a sweep the run is its one experiment, as before.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from typing import Any

# What a sweep may not vary: where the data comes from and what it is asked to predict (one sweep runs
# on one competition's data and metric, so its points rank against each other), the names of things,
# and what only the ensemble and Kaggle read. Of the task, only the training loss is a choice to sweep.
FIXED = ("exp", "sweep", "data", "task", "ensemble", "stack", "kaggle", "wandb", "cluster")
VARIABLE = ("task.loss",)
# What belongs to the run rather than to one of its experiments: none of it changes an experiment's
# results, so it is left out of the experiment's record (models/{exp}/experiment.json).
RUN_LEVEL = ("sweep", "ensemble", "stack", "kaggle", "wandb", "cluster")
NAME_SAFE = re.compile(r"[^A-Za-z0-9_.+-]")


def experiment_config(what: dict) -> dict:
    """An experiment's config as its record keeps it: without runtime keys (`what`) and run-level blocks."""
    return {k: v for k, v in what.items() if k not in RUN_LEVEL}


def get_dotted(config: dict, key: str) -> Any:
    node = config
    for part in key.split("."):
        node = node[part]
    return node


def set_dotted(config: dict, key: str, value: Any) -> None:
    *parents, last = key.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def leaves(config: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf of a nested config as {dotted key: value}; lists are leaves."""
    if not isinstance(config, dict):
        return {prefix: config}
    out = {}
    for key, value in config.items():
        out |= leaves(value, f"{prefix}.{key}" if prefix else key)
    return out


def changed(base: dict, other: dict) -> dict[str, Any]:
    """The leaves of `other` that differ from `base`'s (the keys a point changes), in `other`'s order."""
    before = leaves(base)
    return {k: v for k, v in leaves(other).items() if k not in before or before[k] != v}


def value_text(value: Any) -> str:
    """A value as it reads in a name: 0.002, 48, true, swin_tiny_patch4_window7_224."""
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, list | dict):
        text = json.dumps(value, separators=(",", ":"))
    else:
        text = str(value)
    return NAME_SAFE.sub("-", text).strip("-") or "none"


def short_names(keys: list[str]) -> dict[str, str]:
    """Each dotted key by its last part where that part is unique among `keys`, else in full."""
    last = [k.split(".")[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k.replace(".", "-")) for k, s in zip(keys, last, strict=True)}


def point_name(base: str, overlay: str | None, grid: dict[str, Any], names: dict[str, str]) -> str:
    parts = ([overlay] if overlay else []) + [f"{names[k]}-{value_text(v)}" for k, v in grid.items()]
    return "_".join([base, *parts]) if parts else base


def sweep_problems(config: dict, runtime: list[str]) -> list[str]:
    """What a sweep may not do, each naming the key: vary a runtime key (it changes no result), or a key
    that tells runs apart or fixes the data."""
    sweep, problems = config["sweep"], []
    keys = list(sweep["grid"]) + [k for p in sweep["points"] for k in p["set"]]
    for key in dict.fromkeys(keys):
        if key in runtime:
            problems.append(f"sweep: {key} is a runtime setting (it changes how fast, not what): it cannot tell "
                            f"experiments apart; set it once")  # fmt: skip
        elif key.split(".")[0] in FIXED and key not in VARIABLE:
            problems.append(f"sweep: {key} cannot vary in a sweep (the sweep shares {key.split('.')[0]}); "
                            f"run another config for it")  # fmt: skip
        else:
            try:
                get_dotted(config, key)
            except (KeyError, TypeError):
                problems.append(f"sweep: {key} is not a key of the config (config/README.md lists them)")
    names = [p["name"] for p in sweep["points"]]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"sweep.points: the name {name!r} is used {names.count(name)} times")
    return problems


def expand(config: dict, validate=None) -> dict[str, dict]:
    """{experiment name: its config} for a config with a sweep (the base experiment first where a point
    leaves it unchanged), or {exp: config} without one. `validate(config)` checks each point's config
    (the workflow passes the schema's validation, which also fills defaults)."""
    sweep = config["sweep"]
    if not sweep["grid"] and not sweep["points"]:
        return {config["exp"]: config}
    grid_keys = list(sweep["grid"])
    overlays = sweep["points"] or [{"name": None, "set": {}}]
    names = short_names(grid_keys)
    base = {k: v for k, v in config.items() if k != "sweep"}
    out: dict[str, dict] = {}
    for overlay in overlays:
        for combo in itertools.product(*(sweep["grid"][k] for k in grid_keys)):
            point = copy.deepcopy(config)
            for key, value in [*overlay["set"].items(), *zip(grid_keys, combo, strict=True)]:
                set_dotted(point, key, copy.deepcopy(value))
            if validate:
                validate(point)
            diff = changed(base, {k: v for k, v in point.items() if k != "sweep"})
            grid = {k: v for k, v in zip(grid_keys, combo, strict=True) if k in diff}
            name = point_name(config["exp"], overlay["name"] if overlay["set"] else None, grid, names)
            if name in out:
                raise ValueError(f"sweep: two points are both named {name!r}; give the overlays distinct names")
            point["exp"] = name
            out[name] = point
    return out


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def stage_keys(what: dict) -> dict[str, str]:
    """What decides each shared stage's result, as a digest: two experiments with equal digests would
    compute the same artifact, so they share it. `what` is an experiment's config without runtime keys."""
    data = {"data": what["data"], "task": what["task"], "n_splits": what["folds"]["n_splits"]}
    image = {k: what["image"][k] for k in ("size", "resize", "max_aspect")}
    keys = {"data": digest(data), "cache": digest({"data": data, "image": image})}
    folds = {"data": data, "folds": what["folds"], "seed": what["seed"]}
    keys["folds"] = digest({**folds, "image": image} if what["folds"]["group_duplicates"] else folds)
    for e in what["extractors"]:
        spec = {"data": data, "extractor": e, "seed": what["seed"], "amp": what["train"]["amp"]}
        keys[f"extract:{e['name']}"] = digest({**spec, "tta_hflip": what["embed"]["tta_hflip"]})
    return keys


def owners(whats: dict[str, dict]) -> dict[str, dict[str, str]]:
    """{stage: {experiment: the experiment whose artifact it reads}}: the first experiment (in order)
    with the same key owns a shared stage's artifact."""
    first: dict[tuple[str, str], str] = {}
    out: dict[str, dict[str, str]] = {}
    for exp, what in whats.items():
        for stage, key in stage_keys(what).items():
            out.setdefault(stage, {})[exp] = first.setdefault((stage, key), exp)
    return out
