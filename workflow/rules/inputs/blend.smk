# Input and param functions of the blend stage (blend.smk): what the CV report reads.


def get_cv_input(wildcards):
    return {
        "oof": get_fold_files("blend_oof.csv"),
        "blend": get_fold_files("blend.json"),
        "svr": get_fold_files("svr.json"),
        "folds": f"models/{wildcards.exp}/folds.csv",
        **get_svr_search_input(wildcards),
    }
