# Input and param functions of the Kaggle rules (kaggle.smk): the package's files, the owner, what publish uploads.


def is_stack_package():
    """Whether the Kaggle rules act on a stacker (kaggle.experiment: stack-{name}) rather than an experiment."""
    return KAGGLE_EXP == f"stack-{STACK}" and is_stack()


def get_package_models(wildcards=None, exp=None, prefix=""):
    """Each fold's files that the code-competition package ships (pawpipe.kaggle.manifest.fold_artifacts):
    the checkpoint, or the ONNX graph and its check with embed.engine: onnx; the SVR; the blend weight.
    """
    from pawpipe.kaggle.manifest import fold_artifacts, input_key

    exp = exp or KAGGLE_EXP
    c = what(exp)
    artifacts = fold_artifacts(c["embed"]["engine"], c["heads"])
    return {f"{prefix}{input_key(name)}": get_fold_files(name, exp) for name in artifacts}


def get_package_extractors(exp=None):
    """Each extractor's record (preprocessing, sizes), from the experiment that extracted it."""
    exp = exp or KAGGLE_EXP
    names = [e["name"] for e in what(exp)["extractors"]]
    return [f"models/{owner(f'extract:{n}', exp)}/extract/{n}.json" for n in names]


def get_stack_package_input(wildcards):
    """A stacker's package: every stacked experiment's fold files (keys prefixed `{exp}__`), extractor
    records, task and decision, the stacker's summary and boosters."""
    inputs = {
        "summary": f"models/stack-{STACK}/stack.json",
        "models": f"models/stack-{STACK}/models",
    }
    for exp in stack_experiments():
        inputs |= get_package_models(exp=exp, prefix=f"{exp}__")
        inputs[f"{exp}__extractors"] = get_package_extractors(exp)
        inputs[f"{exp}__task"] = f"models/{owner('data', exp)}/task.json"
        inputs[f"{exp}__decision"] = f"models/{exp}/decision.json"
    return inputs


def get_kaggle_task():
    """The task.json of what the Kaggle rules act on (for a stacker: its experiments')."""
    exp = stack_experiments()[0] if is_stack_package() else KAGGLE_EXP
    return f"models/{owner('data', exp)}/task.json"


def get_download_outputs():
    """What `kaggle competitions download` unpacks that the workflow reads: the tables, and the image
    folders where the task's pattern fixes them."""
    tables = dict.fromkeys(get_table(w) for w in ("train", "test", "sample"))
    outputs = {f"table{i}": path for i, path in enumerate(tables)}
    return {
        **outputs,
        **{f"{split}_images": directory(root) for split, root in get_image_roots().items()},
    }


def get_solution_table():
    """The test set's true targets where the task names them (task.tables.solution): the rehearsal scores
    the notebook's submission and the pipeline's against them."""
    return get_table("solution") if config["task"]["tables"]["solution"] else []


def get_inference_config(exp=None):
    """What the code-competition package needs to predict like the pipeline does."""
    exp = exp or KAGGLE_EXP
    keys = ("embed", "svr", "heads", "frozen_mlp", "blend", "extractors")
    return {**get_train_config(exp), **{k: what(exp)[k] for k in keys}}


def is_kaggle_dry_run():
    return str(config["kaggle"]["dry_run"]).lower() == "true"


def get_kaggle_owner():
    """kaggle.owner, else $KAGGLE_USERNAME, else the kaggle CLI's config; "" when none (package refuses)."""
    from pawpipe.kaggle.cli import resolve_owner

    return resolve_owner(config["kaggle"]["owner"]) or ""


def get_publish_input(wildcards):
    """A code competition publishes the package (notebook route); others the submission file."""
    if config["kaggle"]["route"] == "file":
        return {"submission": f"submissions/{KAGGLE_EXP}/submission.csv"}
    return {
        "dataset": f"submissions/{KAGGLE_EXP}/kaggle/dataset",
        "kernel": f"submissions/{KAGGLE_EXP}/kaggle/kernel",
    }
