# Input and param functions of the blend stage (blend.smk): what the CV report reads.


HEADS = config[
    "heads"
]  # the heads the blend combines, in order (pawpipe.blend.HEADS names each one)


def get_blend_input(wildcards):
    """Each head's OOF and test predictions of the fold."""
    fold = f"models/{wildcards.exp}/fold{wildcards.fold}"
    return {
        **{f"{h}_oof": f"{fold}/{h}_oof.csv" for h in HEADS},
        **{f"{h}_test": f"{fold}/{h}_test.csv" for h in HEADS},
        "task": TASK_JSON,
    }


def get_cv_input(wildcards):
    return {
        "oof": get_fold_files("blend_oof.csv"),
        "blend": get_fold_files("blend.json"),
        "svr": get_fold_files("svr.json"),
        "folds": f"models/{wildcards.exp}/folds.csv",
        "task": TASK_JSON,
        **get_svr_search_input(wildcards),
    }
