# Input and param functions of the blend stage (blend.smk): each head's predictions, what the CV
# report reads, and the experiments the board lists.


def get_heads(wildcards):
    """The heads the blend combines, in order (config `heads`; pawpipe.heads.HEADS names each one)."""
    return what(wildcards)["heads"]


def get_blend_input(wildcards):
    """Each head's OOF and test predictions of the fold."""
    fold = f"models/{wildcards.exp}/fold{wildcards.fold}"
    heads = get_heads(wildcards)
    return {
        **{f"{h}_oof": f"{fold}/{h}_oof.csv" for h in heads},
        **{f"{h}_test": f"{fold}/{h}_test.csv" for h in heads},
        "task": get_task_json(wildcards),
    }


def get_cv_input(wildcards):
    return {
        "oof": get_fold_files("blend_oof.csv", wildcards.exp),
        "blend": get_fold_files("blend.json", wildcards.exp),
        "svr": get_fold_files("svr.json", wildcards.exp),
        "metrics": get_fold_files("metrics.csv", wildcards.exp),
        "folds": get_folds_csv(wildcards),
        "task": get_task_json(wildcards),
        **get_svr_search_input(wildcards),
    }


def finished_experiments():
    """Experiments under models/ that a run has finished (a cv.json and an experiment.json), this run's first."""
    found = [p.parent.name for p in sorted(Path("models").glob("*/cv.json"))]
    done = [
        e
        for e in found
        if Path(f"models/{e}/experiment.json").exists() and not e.startswith("ensemble-")
    ]
    return list(dict.fromkeys([*EXPERIMENTS, *done]))


def get_board_input(wildcards):
    """Every finished experiment, and every stacker: this run's (unless it stacks the board's top k,
    which the board must be written for first) and those earlier runs finished."""
    exps = finished_experiments()
    stacks = [str(p) for p in sorted(Path("models").glob("stack-*/stack.json"))]
    if is_stack() and not isinstance(config["stack"]["experiments"], dict):
        stacks = list(dict.fromkeys([f"models/stack-{STACK}/stack.json", *stacks]))
    return {
        "cv": [f"models/{e}/cv.json" for e in exps],
        "experiment": [f"models/{e}/experiment.json" for e in exps],
        "stacks": stacks,
    }
