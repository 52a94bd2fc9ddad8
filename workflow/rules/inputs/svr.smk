# Input and param functions of the svr stage (svr.smk): its environment, its feature files and the all-folds searches.


def get_svr_env():
    """cuML's environment only where cuML is asked for: a RAPIDS env cannot be built without CUDA."""
    return RAPIDS_ENV if config["svr"]["backend"] == "cuml" else TORCH_ENV


def is_selecting(wildcards):
    return what(wildcards)["svr"]["select"]["enabled"]


def get_svr_features_input(exp, folds):
    """Tables for the metadata feature set; each extractor's table (from the experiment that extracts it
    for `exp`); other experiments' embeddings for `folds`."""
    c = what(exp)
    inputs = {"task": f"models/{owner('data', exp)}/task.json"}
    if c["svr"]["features"]["metadata"]:
        inputs.update(train_table=get_table("train"), test_table=get_table("test"))
    for e in c["extractors"]:
        source = owner(f"extract:{e['name']}", exp)
        inputs[f"extract_{e['name']}"] = f"models/{source}/extract/{e['name']}.parquet"
    for other in c["svr"]["features"]["experiments"]:
        inputs[f"exp_{other}"] = [f"models/{other}/fold{k}/embeddings.npz" for k in folds]
        inputs[f"exp_{other}_folds"] = f"models/{other}/folds.csv"
    return inputs


def get_svr_search_input(wildcards):
    """What the svr and cv jobs read from an all-folds search: the tuned C and epsilon (svr.grid), or
    the feature sets forward selection chose (svr.select)."""
    inputs = {}
    if what(wildcards)["svr"]["grid"]:
        inputs["tuning"] = f"models/{wildcards.exp}/svr_tuning.json"
    if is_selecting(wildcards):
        inputs["selection"] = f"models/{wildcards.exp}/svr_selection.json"
    return inputs


def get_svr_input(wildcards):
    return {
        "embeddings": f"models/{wildcards.exp}/fold{wildcards.fold}/embeddings.npz",
        "folds": get_folds_csv(wildcards),
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
        "embeddings": get_fold_files("embeddings.npz", wildcards.exp),
        "folds": get_folds_csv(wildcards),
        **get_svr_features_input(wildcards.exp, folds_of(wildcards.exp)),
    }
