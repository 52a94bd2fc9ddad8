import json
import os
import re
import sys
from pathlib import Path

# Jobs import the library from this checkout, so it also works inside conda envs that do not
# install it (envs/rapids.yaml) and on cluster nodes.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
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

from pawpipe import cluster
from pawpipe.config import (
    config_problems,
    export_configfiles,
    export_runtime,
    load_schema,
    split_config,
)
from pawpipe.task import Task

# What a result depends on reaches rules as params (WHAT); how a job runs (the schema's x-runtime
# keys: workers, threads, batch sizes for inference, compile, device) reaches every job through the
# environment, so changing it reruns nothing and never invalidates a resume state.
WHAT, HOW = split_config(
    config, load_schema(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
)
export_runtime(HOW)
export_configfiles(workflow.overwrite_configfiles)
if config_problems(config):
    raise ValueError("config: " + "; ".join(config_problems(config)))
TASK = Task.from_config(
    config["task"]
)  # as the config says it; check_data resolves it against the data

EXP = config["exp"]
DATA = config["data"]["dir"].rstrip("/")
FOLDS = list(range(config["folds"]["n_splits"]))
ENSEMBLE = config["ensemble"]["name"]


wildcard_constraints:
    exp=re.escape(EXP),
    fold="|".join(str(k) for k in FOLDS),
    split="train|test",
    extractor="|".join(re.escape(e["name"]) for e in config["extractors"]) or "(?!)",


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


TASK_JSON = "models/{exp}/task.json"  # the task resolved against the data: written by check_data


def get_fold_files(name):
    """One artifact of every fold, e.g. get_fold_files('blend_oof.csv')."""
    return [f"models/{EXP}/fold{k}/{name}" for k in FOLDS]


def get_threads(rule):
    """A rule's cores, from the config key pawpipe.cluster.SIZING names for it."""
    return cluster.threads(config, rule)


def get_resources(rule):
    """A rule's GPU, memory and time limit (pawpipe.cluster.resources): a GPU exactly where the job will
    use one on this machine, or on a cluster node for train.device: cuda."""
    return cluster.resources(config, rule, cluster.machine_has_gpu(), cluster.cuml_installed())


def warn_if_svr_falls_back():
    warning = cluster.svr_fallback_warning(
        config, cluster.machine_has_gpu(), cluster.cuml_installed()
    )
    if warning:
        print(warning, file=sys.stderr)


def print_cv_table():
    path = Path(f"models/{EXP}/cv.json")
    if path.exists():
        from pawpipe.report import format_cv_table

        print(f"\n{format_cv_table(json.loads(path.read_text()))}\n")


def check_cluster_requests():
    cluster.check_workflow(workflow)
