import functools
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

from pawpipe.config import (
    export_configfiles,
    export_runtime,
    feature_problems,
    load_schema,
    split_config,
)

# What a result depends on reaches rules as params (WHAT); how a job runs (the schema's x-runtime
# keys: workers, threads, batch sizes for inference, compile, device) reaches every job through the
# environment, so changing it reruns nothing and never invalidates a resume state.
WHAT, HOW = split_config(
    config, load_schema(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
)
export_runtime(HOW)
export_configfiles(workflow.overwrite_configfiles)
if feature_problems(config):
    raise ValueError("config: " + "; ".join(feature_problems(config)))

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


def is_ensemble():
    return bool(config["ensemble"]["experiments"])


def get_experiment_folds(exp):
    """Fold numbers of another experiment, read from its folds file (this config's when it is ours)."""
    if exp == EXP or not Path(f"models/{exp}/folds.csv").exists():
        return FOLDS
    import pandas as pd

    return sorted(pd.read_csv(f"models/{exp}/folds.csv")["fold"].unique())


def get_table(split):
    return f"{DATA}/{split}.csv"


def gpu_request(on_gpu=True):
    """The `gpu` resource of a job that can use a GPU: 1 where it will take one; 0 where it will run on
    the CPU (train.device: cpu, or device auto on a machine without GPUs), so that the default
    profile's gpu cap never serialises CPU-only jobs. profiles/slurm sets it for cluster nodes."""
    device = config["train"]["device"]
    if not on_gpu or device == "cpu":
        return 0
    if device.startswith("cuda"):
        return 1
    return 1 if has_gpu() else 0


@functools.cache
def has_gpu():
    """Whether this machine shows a GPU (nvidia-smi runs once per workflow load, not per rule)."""
    from pawpipe.gpus import visible_gpus

    return bool(visible_gpus())


def is_cuml_installed():
    import importlib.util

    return importlib.util.find_spec("cuml") is not None


def svr_gpu_request():
    """cuML takes a GPU where it imports: with svr.backend auto, where the job runs on a GPU (see
    gpu_request). A scikit-learn SVR job asks for none."""
    backend = config["svr"]["backend"]
    if backend == "auto":
        return gpu_request() if is_cuml_installed() else 0
    return {"sklearn": 0, "cuml": 1}[backend]


def warn_if_svr_falls_back():
    """Said on the console at the start: a GPU is visible but cuML is missing, so `auto` fits every
    SVR with scikit-learn on the CPU (minutes to hours on the competition data)."""
    if config["svr"]["backend"] == "auto" and has_gpu() and not is_cuml_installed():
        print(
            "WARNING: a GPU is visible but cuML is not installed: svr.backend auto fits the SVRs with "
            "scikit-learn on the CPU (svr.threads cores per job). Install RAPIDS for GPU SVRs: "
            "pip install -r requirements-gpu.txt (README, 'GPU machines').",
            file=sys.stderr,
        )


def get_onnx_input(name):
    """The fold's exported ONNX graph (or its check report) when embed.engine is onnx."""

    def inputs(wildcards):
        if config["embed"]["engine"] != "onnx":
            return []
        return f"models/{wildcards.exp}/fold{wildcards.fold}/{name}"

    return inputs


def get_svr_env():
    """cuML's environment only where cuML is asked for: a RAPIDS env cannot be built without CUDA."""
    return RAPIDS_ENV if config["svr"]["backend"] == "cuml" else TORCH_ENV


def get_extractor(name):
    """One entry of `extractors`, by name."""
    return {e["name"]: e for e in WHAT["extractors"]}[name]


def get_svr_features_input(exp, folds):
    """Tables for the metadata feature set; each extractor's table; other experiments' embeddings for `folds`."""
    inputs = {}
    if config["svr"]["features"]["metadata"]:
        inputs.update(train_table=get_table("train"), test_table=get_table("test"))
    for e in config["extractors"]:
        inputs[f"extract_{e['name']}"] = f"models/{exp}/extract/{e['name']}.parquet"
    for other in config["svr"]["features"]["experiments"]:
        inputs[f"exp_{other}"] = [f"models/{other}/fold{k}/embeddings.npz" for k in folds]
        inputs[f"exp_{other}_folds"] = f"models/{other}/folds.csv"
    return inputs


def get_svr_input(wildcards):
    inputs = {
        "embeddings": f"models/{wildcards.exp}/fold{wildcards.fold}/embeddings.npz",
        "folds": f"models/{wildcards.exp}/folds.csv",
        **get_svr_features_input(wildcards.exp, [wildcards.fold]),
    }
    if config["svr"]["grid"]:
        inputs["tuning"] = f"models/{wildcards.exp}/svr_tuning.json"
    if is_selecting():
        inputs["selection"] = f"models/{wildcards.exp}/svr_selection.json"
    return inputs


def get_svr_tune_input(wildcards):
    """Every fold's feature files: for svr_tune and svr_select."""
    return {
        "embeddings": get_fold_files("embeddings.npz"),
        "folds": f"models/{wildcards.exp}/folds.csv",
        **get_svr_features_input(wildcards.exp, FOLDS),
    }


def is_selecting():
    return config["svr"]["select"]["enabled"]


def get_cv_input(wildcards):
    inputs = {
        "oof": get_fold_files("blend_oof.csv"),
        "blend": get_fold_files("blend.json"),
        "svr": get_fold_files("svr.json"),
        "folds": f"models/{wildcards.exp}/folds.csv",
    }
    if config["svr"]["grid"]:
        inputs["tuning"] = f"models/{wildcards.exp}/svr_tuning.json"
    if is_selecting():
        inputs["selection"] = f"models/{wildcards.exp}/svr_selection.json"
    return inputs


def get_fold_files(name):
    """One artifact of every fold, e.g. get_fold_files('blend_oof.csv')."""
    return [f"models/{EXP}/fold{k}/{name}" for k in FOLDS]


def get_package_models(wildcards):
    """The models the code-competition package ships: checkpoints, or ONNX graphs with embed.engine: onnx."""
    if config["embed"]["engine"] == "onnx":
        return {"onnx": get_fold_files("model.onnx"), "onnx_report": get_fold_files("onnx.json")}
    return {"best": get_fold_files("best.pt")}


def get_model_args():
    from pawpipe.config import resolve_model_args

    return resolve_model_args(config["backbone"], config["head"], config["image"]["size"])


def get_folds_input(wildcards):
    """Grouping near-duplicates hashes the decoded images, so the folds then wait for the cache."""
    inputs = {"train": get_table("train"), "check": f"models/{wildcards.exp}/data_check.json"}
    if config["folds"]["group_duplicates"]:
        inputs["cache"] = f"models/{wildcards.exp}/cache/train.npy"
        inputs["cache_index"] = f"models/{wildcards.exp}/cache/train.json"
    return inputs


def get_pretrained_check(wildcards):
    """Pretrained weights are loaded once, before training, and only when asked for."""
    return f"models/{wildcards.exp}/pretrained.json" if config["backbone"]["pretrained"] else []


def get_train_config():
    """What decides a fold's training (runtime settings excluded); stored in its checkpoint."""
    return {k: WHAT[k] for k in ("exp", "seed", "folds", "image", "backbone", "head", "train")}


def get_inference_config():
    """What the code-competition package needs to predict like the pipeline does."""
    return {**get_train_config(), **{k: WHAT[k] for k in ("embed", "svr", "blend", "extractors")}}


def is_kaggle_dry_run():
    return str(config["kaggle"]["dry_run"]).lower() == "true"


def get_kaggle_owner():
    """kaggle.owner, else $KAGGLE_USERNAME, else the kaggle CLI's config; "" when none (package refuses)."""
    from pawpipe.kaggle import resolve_owner

    return resolve_owner(config["kaggle"]["owner"]) or ""


def get_publish_input(wildcards):
    """A code competition publishes the package (notebook route); others the submission file."""
    if config["kaggle"]["route"] == "file":
        return {"submission": f"submissions/{EXP}/submission.csv"}
    return {
        "dataset": f"submissions/{EXP}/kaggle/dataset",
        "kernel": f"submissions/{EXP}/kaggle/kernel",
    }


def print_cv_table():
    path = Path(f"models/{EXP}/cv.json")
    if path.exists():
        from pawpipe.report import format_cv_table

        print(f"\n{format_cv_table(json.loads(path.read_text()))}\n")


@functools.cache
def get_cluster_mem_mb(kind):
    """Memory (MB) a job of one kind (cluster.data, .train, .infer, .svr) asks a scheduler for."""
    return config["cluster"][kind]["mem_mb"]


def get_cluster_runtime(kind):
    """Time limit (minutes) a job of one kind asks a scheduler for."""
    return config["cluster"][kind]["runtime"]


def get_gpu_model(gpus):
    """The GPU type for a job that asks for GPUs (None leaves the resource unset)."""
    return config["cluster"]["gpu_model"] if gpus else None


def check_cluster_requests():
    """On a SLURM run, refuse requests no node can hold and a status command that cannot work."""
    plugin = workflow.executor_plugin
    if plugin is None or plugin.name != "slurm":
        return
    from snakemake.exceptions import WorkflowError

    from pawpipe import cluster

    problem = cluster.status_problem(
        getattr(workflow.executor_settings, "status_command", None), cluster.read_config()
    )
    requests = [
        cluster.job_request(job.name, job.threads, job.resources)
        for job in workflow.dag.needrun_jobs()
        if not job.is_local
    ]
    problems = [problem] if problem else []
    problems += cluster.check_requests(requests, cluster.read_partitions())
    if problems:
        raise WorkflowError("cannot submit to SLURM:\n  " + "\n  ".join(problems))
