# Input and param functions of the Kaggle rules (kaggle.smk): the package's files, the owner, what publish uploads.


def get_package_models(wildcards):
    """Each fold's files that the code-competition package ships (pawpipe.kaggle.manifest.fold_artifacts):
    the checkpoint, or the ONNX graph and its check with embed.engine: onnx; the SVR; the blend weight.
    """
    from pawpipe.kaggle.manifest import fold_artifacts, input_key

    c = what(KAGGLE_EXP)
    artifacts = fold_artifacts(c["embed"]["engine"], c["heads"])
    return {input_key(name): get_fold_files(name, KAGGLE_EXP) for name in artifacts}


def get_package_extractors():
    """Each extractor's record (preprocessing, sizes), from the experiment that extracted it."""
    names = [e["name"] for e in what(KAGGLE_EXP)["extractors"]]
    return [f"models/{owner(f'extract:{n}', KAGGLE_EXP)}/extract/{n}.json" for n in names]


def get_download_outputs():
    """What `kaggle competitions download` unpacks that the workflow reads: the tables, and the image
    folders where the task's pattern fixes them."""
    tables = dict.fromkeys(get_table(w) for w in ("train", "test", "sample"))
    outputs = {f"table{i}": path for i, path in enumerate(tables)}
    return {
        **outputs,
        **{f"{split}_images": directory(root) for split, root in get_image_roots().items()},
    }


def get_inference_config():
    """What the code-competition package needs to predict like the pipeline does."""
    keys = ("embed", "svr", "heads", "frozen_mlp", "blend", "extractors")
    return {**get_train_config(KAGGLE_EXP), **{k: what(KAGGLE_EXP)[k] for k in keys}}


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
