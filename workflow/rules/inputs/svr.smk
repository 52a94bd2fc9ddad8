# Input and param functions of the svr stage (svr.smk): its environment, its feature files and the all-folds searches.


def get_svr_env():
    """cuML's environment only where cuML is asked for: a RAPIDS env cannot be built without CUDA."""
    return RAPIDS_ENV if config["svr"]["backend"] == "cuml" else TORCH_ENV


def is_selecting():
    return config["svr"]["select"]["enabled"]


def get_svr_features_input(exp, folds):
    """Tables for the metadata feature set; each extractor's table; other experiments' embeddings for `folds`."""
    inputs = {"task": f"models/{exp}/task.json"}
    if config["svr"]["features"]["metadata"]:
        inputs.update(train_table=get_table("train"), test_table=get_table("test"))
    for e in config["extractors"]:
        inputs[f"extract_{e['name']}"] = f"models/{exp}/extract/{e['name']}.parquet"
    for other in config["svr"]["features"]["experiments"]:
        inputs[f"exp_{other}"] = [f"models/{other}/fold{k}/embeddings.npz" for k in folds]
        inputs[f"exp_{other}_folds"] = f"models/{other}/folds.csv"
    return inputs


def get_svr_search_input(wildcards):
    """What the svr and cv jobs read from an all-folds search: the tuned C and epsilon (svr.grid), or
    the feature sets forward selection chose (svr.select)."""
    inputs = {}
    if config["svr"]["grid"]:
        inputs["tuning"] = f"models/{wildcards.exp}/svr_tuning.json"
    if is_selecting():
        inputs["selection"] = f"models/{wildcards.exp}/svr_selection.json"
    return inputs


def get_svr_input(wildcards):
    return {
        "embeddings": f"models/{wildcards.exp}/fold{wildcards.fold}/embeddings.npz",
        "folds": f"models/{wildcards.exp}/folds.csv",
        **get_svr_features_input(wildcards.exp, [wildcards.fold]),
        **get_svr_search_input(wildcards),
    }


def get_frozen_mlp_input(wildcards):
    """The svr rule's feature files and the fold's chosen sets: the frozen MLP reads what the SVR reads."""
    inputs = get_svr_input(wildcards)
    inputs.pop("tuning", None)  # C and epsilon are the kernel head's alone
    return inputs


def get_svr_all_folds_input(wildcards):
    """Every fold's feature files, for a search over all folds."""
    return {
        "embeddings": get_fold_files("embeddings.npz"),
        "folds": f"models/{wildcards.exp}/folds.csv",
        **get_svr_features_input(wildcards.exp, FOLDS),
    }
