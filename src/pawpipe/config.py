"""The config, split into what a result depends on and how a job runs (no heavy imports here: the
Snakefile imports this module while it builds the DAG).

Settings that change the model or its data (architecture, weights, folds, image size, augmentation,
lr, epochs, seed, precision) reach rules as `params:`, so Snakemake reruns what depends on them.
Settings that only change how fast or where a job runs (workers, threads, inference batch sizes,
compile, device) are marked `x-runtime: true` in the schema: they travel to jobs in the
PAWPIPE_RUNTIME environment variable, never invalidate an output or a resume state, and are
recorded beside the result for reference.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"  # in a checkout (not in the wheel)
RUNTIME_MARK = "x-runtime"
RUNTIME_ENV = "PAWPIPE_RUNTIME"
CONFIGFILES_ENV = "PAWPIPE_CONFIGFILES"  # the run's --configfile overlays, for the commands hints print


def load_schema(path: str | Path = SCHEMA) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(Path(path).read_text())


def runtime_paths(schema: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key the schema marks as a runtime (how) setting, as a path of nested keys."""
    found = []
    for key, sub in (schema.get("properties") or {}).items():
        if sub.get(RUNTIME_MARK):
            found.append((*prefix, key))
        elif sub.get("type") == "object":
            found += runtime_paths(sub, (*prefix, key))
    return found


def split_config(config: dict[str, Any], schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what, how): the config without its runtime keys, and the runtime keys alone (same nesting)."""
    what, how = copy.deepcopy(config), {}
    for path in runtime_paths(schema):
        node, target = what, how
        for key in path[:-1]:
            node = node.get(key, {})
            target = target.setdefault(key, {})
        if path[-1] in node:
            target[path[-1]] = node.pop(path[-1])
    return what, how


def canonical(value: Any, template: Any = None, schema: dict[str, Any] | None = None) -> Any:
    """`value` (a config, or a block of one) with the keys of every block the schema describes in one order,
    whatever order the config files and the command line gave them: the template's (the base
    config/config.yaml, validated), then the schema's, then alphabetical. Rules compare their params as
    ordered mappings, so without this an overlay that sets an already-set key in another order, or only a
    runtime key, reruns every rule that reads a whole block. A free mapping (a sweep's grid, a model's
    kwargs: no properties in the schema) keeps the user's order, which can mean something (the grid's
    names its points), and lists keep theirs (it is part of their value)."""
    if not isinstance(value, dict):
        return value
    template = template if isinstance(template, dict) else {}
    props = (schema or {}).get("properties")
    if not props:
        return {k: canonical(v) for k, v in value.items()}
    order = {k: i for i, k in enumerate([*template, *(k for k in props if k not in template)])}
    keys = sorted(value, key=lambda k: (order.get(k, len(order)), k))
    return {k: canonical(value[k], template.get(k), props.get(k)) for k in keys}


def merge(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Merge `new` into `base` key by key, as Snakemake merges a --configfile overlay."""
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def export_runtime(how: dict[str, Any]) -> None:
    """Hand the runtime settings to every job this workflow starts (locally or on a cluster node)."""
    os.environ[RUNTIME_ENV] = json.dumps(how, sort_keys=True)


def job_runtime() -> dict[str, Any]:
    """The runtime settings of the running job (set by the workflow)."""
    value = os.environ.get(RUNTIME_ENV)
    if value is None:
        raise RuntimeError(f"{RUNTIME_ENV} is not set: run this script through the Snakemake workflow")
    return json.loads(value)


def export_configfiles(paths: list) -> None:
    """Record the run's --configfile overlays (relative to the working directory where possible)."""
    here = Path.cwd()
    rel = [str(Path(p).relative_to(here)) if Path(p).is_relative_to(here) else str(p) for p in paths]
    os.environ[CONFIGFILES_ENV] = json.dumps(rel)


SWEEP_ENV = "PAWPIPE_SWEEP"  # the sweep's name and what each experiment changes, for the W&B runs table


def export_sweep(name: str, changes: dict[str, dict]) -> None:
    os.environ[SWEEP_ENV] = json.dumps({"name": name, "changes": changes}, default=str)


def rerun_command(target: str, cores: str = "all") -> str:
    """The snakemake command that builds `target` with this run's config files, as a hint to print."""
    import shlex

    files = json.loads(os.environ.get(CONFIGFILES_ENV) or "[]")
    return shlex.join(["snakemake", target, "--cores", cores, *(["--configfile", *files] if files else [])])


def resolve_model_args(
    backbone: dict[str, Any], head: dict[str, Any], image_size: int, features: list[str] = ()
) -> dict[str, Any]:
    """The constructor arguments stored in checkpoints (`features`: the task's tabular columns, which a
    metadata-aware head reads). Normalisation, the number of outputs and the objective are added when a
    fold trains (they come from the model and the data)."""
    kwargs = backbone.get("kwargs") or {}
    if "img_size" in kwargs and int(kwargs["img_size"]) != int(image_size):
        shape = ", ".join(f"{k}={kwargs[k]}" for k in kwargs)
        raise ValueError(
            f"backbone.kwargs.img_size is {kwargs['img_size']} but image.size is {image_size}: the model would not "
            f"accept the cached images (backbone.kwargs is {{{shape}}}). Set img_size to image.size or remove it"
        )
    return {
        "name": backbone["name"],
        "pretrained": bool(backbone.get("pretrained", False)),
        "weights": backbone.get("weights"),
        "kwargs": dict(kwargs),
        "finetune": dict(backbone.get("finetune") or {"mode": "full"}),
        "head_hidden": int(head["hidden"]),
        "head_dropout": float(head["dropout"]),
        "head_metadata": bool(head.get("metadata", False)),
        "meta_dim": len(features) if head.get("metadata") else 0,
        "image_size": int(image_size),
    }


def resolve_auto(config: dict[str, Any]) -> dict[str, Any]:
    """The config's `auto` values that follow from other keys, resolved in place once it is validated
    (so that rules see, and rerun on, what is used): svr.features.metadata follows task.features."""
    features = config["svr"]["features"]
    if features["metadata"] == "auto":
        features["metadata"] = bool(config["task"]["features"])
    return config


def feature_problems(config: dict[str, Any]) -> list[str]:
    """What the schema cannot say about the SVR's feature sets: extractor names must be unique, and a
    feature selection runs with one C and epsilon (svr.grid tunes them for a fixed set)."""
    problems = []
    names = [e["name"] for e in config["extractors"]]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"extractors: the name {name!r} is used {names.count(name)} times; give each extractor its own")
    if config["svr"]["select"]["enabled"] and config["svr"]["grid"]:
        problems.append(
            "svr.select.enabled and svr.grid cannot be combined: set svr.grid: null, or switch the selection off"
        )
    return problems


def config_problems(config: dict[str, Any]) -> list[str]:
    """Everything the schema cannot say about a config, each naming its key: the feature sets, the task
    (pawpipe.task.config_problems), and the tabular columns the heads are asked to read."""
    from .task import TYPES
    from .task import config_problems as task_problems

    problems = feature_problems(config) + task_problems(config["task"])
    rule, kind = config["decision"]["rule"], config["task"]["type"]
    if rule not in ("auto", "none") and kind in TYPES and rule not in TYPES[kind].rules:
        fits = ", ".join(TYPES[kind].rules) or "none"
        problems.append(f"decision.rule: {rule} does not fit a {kind} task; use auto, none or {fits}")
    missing = [h for h in ("mlp", "svr") if h not in config["heads"]]
    if missing:
        problems.append(f"heads: {config['heads']} lacks {missing}; the fine-tuned and the kernel heads always run")
    if not config["task"]["features"]:
        for key, on in (
            ("head.metadata", config["head"]["metadata"]),
            ("svr.features.metadata", config["svr"]["features"]["metadata"]),
        ):
            if on:
                problems.append(f"{key} is true, but task.features lists no tabular column; set it false")
    return problems
