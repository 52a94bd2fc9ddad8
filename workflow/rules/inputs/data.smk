# Input and param functions of the data stage (data.smk): the demo's files, what the check and the folds read.


def get_demo_outputs():
    """The tables and image folders the demo (data.demo.kind) writes."""
    from pawpipe.demos import get_demo

    demo = get_demo(config["data"]["demo"]["kind"])
    tables = {f"table{i}": f"{DATA}/{name}" for i, name in enumerate(demo.tables)}
    return {
        **tables,
        **{f"images{i}": directory(f"{DATA}/{d}") for i, d in enumerate(demo.folders)},
    }


def get_check_data_input(wildcards):
    """The tables and the image folders (where the task's pattern fixes them)."""
    tables = {which: get_table(which) for which in ("train", "test", "sample")}
    tables = {k: v for i, (k, v) in enumerate(tables.items()) if v not in list(tables.values())[:i]}
    return {**tables, **{f"{split}_images": root for split, root in get_image_roots().items()}}


def get_folds_input(wildcards):
    """Grouping near-duplicates hashes the decoded images, so the folds then wait for the cache; a fold
    file of one's own is an input (a changed file reruns the split)."""
    inputs = {
        "train": get_table("train"),
        "check": get_data_check(wildcards),
        "task": get_task_json(wildcards),
    }
    if what(wildcards)["folds"]["group_duplicates"]:
        inputs["cache"] = get_cache("train", "npy")(wildcards)
        inputs["cache_index"] = get_cache("train", "index")(wildcards)
    if what(wildcards)["folds"]["file"]:
        inputs["fold_file"] = what(wildcards)["folds"]["file"]
    return inputs


def get_fold_settings(wildcards):
    """The folds block (and the seed) as pawpipe.folds.FoldSettings takes it."""
    folds = what(wildcards)["folds"]
    keys = ("n_splits", "duplicate_threshold", "group", "stratify")
    return {**{k: folds[k] for k in keys}, "seed": what(wildcards)["seed"]}
