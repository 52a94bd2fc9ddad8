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
TORCH_ENV = "../../envs/torch.yaml"
RAPIDS_ENV = "../../envs/rapids.yaml"

EXP = config["exp"]
DATA = config["data"]["dir"].rstrip("/")
FOLDS = list(range(config["folds"]["n_splits"]))


wildcard_constraints:
    exp=re.escape(EXP),
    fold="|".join(str(k) for k in FOLDS),
    split="train|test",


def is_demo():
    return config["data"]["demo"]["enabled"]


def get_table(split):
    return f"{DATA}/{split}.csv"


def get_svr_env():
    """cuML's environment only where cuML is asked for: a RAPIDS env cannot be built without CUDA."""
    return RAPIDS_ENV if config["svr"]["backend"] == "cuml" else TORCH_ENV


def get_fold_files(name):
    """One artifact of every fold, e.g. get_fold_files('blend_oof.csv')."""
    return [f"models/{EXP}/fold{k}/{name}" for k in FOLDS]


def get_model_args():
    from pawpipe.config import resolve_model_args

    return resolve_model_args(config["backbone"], config["head"], config["image"]["size"])


def get_train_config():
    """The part of the config that decides a fold's training; stored in its checkpoint."""
    keys = ("exp", "seed", "folds", "image", "backbone", "head", "train")
    return {k: config[k] for k in keys}


def print_cv_table():
    path = Path(f"models/{EXP}/cv.json")
    if path.exists():
        from pawpipe.report import format_cv_table

        print(f"\n{format_cv_table(json.loads(path.read_text()))}\n")
