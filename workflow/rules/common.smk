import json
import os
import re
import sys
from pathlib import Path

# Jobs import the library from this checkout (the Snakefile puts it first on sys.path), so it also
# works inside conda envs that do not install it (envs/rapids.yaml) and on cluster nodes.
SRC = str(Path(workflow.basedir) / "src")
# PYTHONPATH is optional, so it is not listed under `envvars:` (that would make it mandatory).
_inherited = [p for p in os.environ.copy().get("PYTHONPATH", "").split(os.pathsep) if p]
os.environ.update(PYTHONPATH=os.pathsep.join([SRC, *_inherited]))
# Tracking settings travel as W&B's own variables, not params: turning W&B on must rerun nothing.
for _var, _value in (
    ("WANDB_MODE", config["wandb"]["mode"]),
    ("WANDB_PROJECT", config["wandb"]["project"]),
    ("WANDB_ENTITY", config["wandb"]["entity"]),
    ("PAWPIPE_WANDB_CHECKPOINTS", "1" if config["wandb"]["log_checkpoints"] else "0"),
):
    if _value is not None:
        os.environ.setdefault(_var, str(_value))
# torch.compile's warm-up (a minute or more for Swin-L) is paid once: every job reads and writes
# Inductor's on-disk graph caches in one place under the working directory.
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(Path(".cache/torchinductor").resolve()))
os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")
os.environ.setdefault("TORCHINDUCTOR_AUTOGRAD_CACHE", "1")
TORCH_ENV = "../../envs/torch.yaml"
RAPIDS_ENV = "../../envs/rapids.yaml"

from pawpipe import cluster, sweep
from pawpipe.configfile import base_order
from pawpipe.config import (
    canonical,
    config_problems,
    resolve_auto,
    export_configfiles,
    export_runtime,
    export_sweep,
    load_schema,
    runtime_paths,
    split_config,
)
from pawpipe.task import Task

# What a result depends on reaches rules as params (what(w)); how a job runs (the schema's x-runtime
# keys: workers, threads, batch sizes for inference, compile, device) reaches every job through the
# environment, so changing it reruns nothing and never invalidates a resume state.
SCHEMA_FILE = Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
SCHEMA = load_schema(SCHEMA_FILE)
resolve_auto(config)
# One key order for every experiment's config, whatever order the files and --config gave: the base
# config file's (as validated), then the schema's; params then change only when a value does.
_base = Path("config/config.yaml")
TEMPLATE = base_order(_base, SCHEMA_FILE) if _base.is_file() else {}
_ordered = canonical(config, TEMPLATE, SCHEMA)
config.clear()
config.update(_ordered)
WHAT, HOW = split_config(config, SCHEMA)
export_runtime(HOW)
export_configfiles(workflow.overwrite_configfiles)
_problems = config_problems(config) + sweep.sweep_problems(
    config, [".".join(p) for p in runtime_paths(SCHEMA)]
)
if _problems:
    raise ValueError("config: " + "; ".join(_problems))

# One experiment, or every point of the config's sweep (pawpipe.sweep), all in one DAG. Points share
# the data check, the folds, the image cache and extractor features where those cannot differ: each
# is built once, by the first experiment with its key (OWNERS), and read by the others from there.
EXPERIMENTS = {
    name: canonical(point, TEMPLATE, SCHEMA)
    for name, point in sweep.expand(
        config, lambda point: resolve_auto(validate(point, str(SCHEMA_FILE)) or point)
    ).items()
}
for _name, _point in EXPERIMENTS.items():
    if config_problems(_point):
        raise ValueError(f"config: sweep point {_name}: " + "; ".join(config_problems(_point)))
WHATS = {name: split_config(point, SCHEMA)[0] for name, point in EXPERIMENTS.items()}
OWNERS = sweep.owners(WHATS)
SWEEP = config["sweep"]["name"] or config["exp"]
export_sweep(SWEEP, {name: sweep.changed(WHAT, what) for name, what in WHATS.items()})
TASK = Task.from_config(
    config["task"]
)  # as the config says it; check_data resolves it against the data

EXP = config["exp"]  # the base experiment (a sweep's points are named after it)
KAGGLE_EXP = config["kaggle"]["experiment"] or EXP  # the experiment the Kaggle rules act on
DATA = config["data"]["dir"].rstrip("/")
ENSEMBLE = config["ensemble"]["name"]
STACK = config["stack"]["name"]


wildcard_constraints:
    exp="|".join(re.escape(e) for e in EXPERIMENTS),
    fold=r"\d+",
    split="train|test",
    extractor="|".join(re.escape(e["name"]) for w in WHATS.values() for e in w["extractors"])
    or "(?!)",


def cfg_of(exp):
    """An experiment's whole config (runtime settings included)."""
    return EXPERIMENTS[exp]


def what(wildcards_or_exp):
    """An experiment's config without its runtime settings: what its results depend on."""
    exp = getattr(wildcards_or_exp, "exp", wildcards_or_exp)
    return WHATS[exp]


def folds_of(exp):
    return list(range(EXPERIMENTS[exp]["folds"]["n_splits"]))


def owner(stage, exp):
    """The experiment whose artifact of a shared stage `exp` reads (itself, unless a sweep point shares it)."""
    return OWNERS[stage][exp]


def get_task_json(wildcards):
    """The task resolved against the data, written by the data check `wildcards.exp` reads."""
    return f"models/{owner('data', wildcards.exp)}/task.json"


def get_data_check(wildcards):
    return f"models/{owner('data', wildcards.exp)}/data_check.json"


def get_folds_csv(wildcards):
    return f"models/{owner('folds', wildcards.exp)}/folds.csv"


def get_cache(split, what_file):
    """The image cache a job of `wildcards.exp` reads: its npy or its index json."""
    suffix = {"npy": "npy", "index": "json"}[what_file]
    return lambda w: f"models/{owner('cache', w.exp)}/cache/{split}.{suffix}"


def is_demo():
    return config["data"]["demo"]["enabled"]


def get_table(which):
    """The competition's train, test or sample table (task.tables)."""
    return f"{DATA}/{config['task']['tables'][which]}"


def get_image_roots():
    """The folders the images lie in where the task's pattern fixes them ({} with a path column)."""
    return TASK.image_roots(DATA)


def get_data_dir(key, which="train", of="input"):
    """data.dir, derived from a job's input (or output) `key`, the task's `which` table, as Snakemake's
    lint asks of a path prefix."""
    depth = len(Path(config["task"]["tables"][which]).parts)
    if of == "output":
        return lambda w, output: str(Path(output[key]).parents[depth - 1])
    return lambda w, input: str(Path(input[key]).parents[depth - 1])


def get_fold_files(name, exp=None):
    """One artifact of every fold of an experiment, e.g. get_fold_files('blend_oof.csv'): a function of the
    job's wildcards, or the list itself for a named experiment."""
    if exp is not None:
        return [f"models/{exp}/fold{k}/{name}" for k in folds_of(exp)]
    return lambda w: [f"models/{w.exp}/fold{k}/{name}" for k in folds_of(w.exp)]


def get_threads(rule):
    """A rule's cores, from the config key pawpipe.cluster.SIZING names for it (runtime settings, the
    same for every experiment)."""
    return cluster.threads(config, rule)


def get_resources(rule, exp=None):
    """A rule's GPU, memory and time limit (pawpipe.cluster.resources) for the job's experiment (or a
    named one): a GPU exactly where the job will use one on this machine, or on a cluster node for
    train.device: cuda."""

    def of(exp):
        return cluster.resources(
            cfg_of(exp), rule, cluster.machine_has_gpu(), cluster.cuml_installed()
        )

    if exp is not None:
        return of(exp)
    return {key: (lambda w, key=key: of(w.exp)[key]) for key in of(EXP)}


def warn_if_svr_falls_back():
    warning = cluster.svr_fallback_warning(
        config, cluster.machine_has_gpu(), cluster.cuml_installed()
    )
    if warning:
        print(warning, file=sys.stderr)


def print_cv_table():
    from pawpipe.report import format_cv_table

    for exp in EXPERIMENTS:
        path = Path(f"models/{exp}/cv.json")
        if path.exists():
            print(f"\n{format_cv_table(json.loads(path.read_text()))}\n")
    if len(EXPERIMENTS) > 1 and Path("models/board.csv").exists():
        import pandas as pd

        from pawpipe.board import format_board

        print(f"\n{format_board(pd.read_csv('models/board.csv'))}\n")


def check_cluster_requests():
    cluster.check_workflow(workflow)
