# Input and param functions of the Kaggle rules (kaggle.smk): the package's files, the owner, what publish uploads.


def get_package_models(wildcards):
    """Each fold's files that the code-competition package ships (pawpipe.kaggle.manifest.fold_artifacts):
    the checkpoint, or the ONNX graph and its check with embed.engine: onnx; the SVR; the blend weight.
    """
    from pawpipe.kaggle.manifest import fold_artifacts, input_key

    return {
        input_key(name): get_fold_files(name) for name in fold_artifacts(config["embed"]["engine"])
    }


def get_inference_config():
    """What the code-competition package needs to predict like the pipeline does."""
    return {**get_train_config(), **{k: WHAT[k] for k in ("embed", "svr", "blend", "extractors")}}


def is_kaggle_dry_run():
    return str(config["kaggle"]["dry_run"]).lower() == "true"


def get_kaggle_owner():
    """kaggle.owner, else $KAGGLE_USERNAME, else the kaggle CLI's config; "" when none (package refuses)."""
    from pawpipe.kaggle.cli import resolve_owner

    return resolve_owner(config["kaggle"]["owner"]) or ""


def get_publish_input(wildcards):
    """A code competition publishes the package (notebook route); others the submission file."""
    if config["kaggle"]["route"] == "file":
        return {"submission": f"submissions/{EXP}/submission.csv"}
    return {
        "dataset": f"submissions/{EXP}/kaggle/dataset",
        "kernel": f"submissions/{EXP}/kaggle/kernel",
    }
