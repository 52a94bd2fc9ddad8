# Input and param functions of the data stage (data.smk): what the folds read.


def get_folds_input(wildcards):
    """Grouping near-duplicates hashes the decoded images, so the folds then wait for the cache."""
    inputs = {"train": get_table("train"), "check": f"models/{wildcards.exp}/data_check.json"}
    if config["folds"]["group_duplicates"]:
        inputs["cache"] = f"models/{wildcards.exp}/cache/train.npy"
        inputs["cache_index"] = f"models/{wildcards.exp}/cache/train.json"
    return inputs
