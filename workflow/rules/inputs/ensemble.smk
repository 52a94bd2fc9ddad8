# Input and param functions of the ensemble and the stacker (ensemble.smk, stack.smk): which experiments
# each combines (config block `ensemble` or `stack`), and the files it reads of them.


def is_ensemble():
    return bool(config["ensemble"]["experiments"])


def is_stack():
    return bool(config["stack"]["experiments"])


def get_experiment_folds(exp):
    """Fold numbers of an experiment: this run's from its config, another's from its folds file."""
    if exp in EXPERIMENTS or not Path(f"models/{exp}/folds.csv").exists():
        return folds_of(exp) if exp in EXPERIMENTS else folds_of(EXP)
    import pandas as pd

    return sorted(pd.read_csv(f"models/{exp}/folds.csv")["fold"].unique())


def check_members(block="ensemble"):
    """Listed experiments that neither this run makes nor an earlier run finished stop the run at load."""
    chosen = config[block]["experiments"]
    if not isinstance(chosen, list):
        return
    missing = [
        e for e in chosen if e not in EXPERIMENTS and not Path(f"models/{e}/oof.csv").exists()
    ]
    if missing:
        raise WorkflowError(
            f"{block}.experiments: {', '.join(missing)} {'has' if len(missing) == 1 else 'have'} not run (no "
            f"models/<exp>/oof.csv): run each first with its own config, or make them points of this "
            f"config's sweep and set {block}.experiments: sweep"
        )


def chosen_experiments(block="ensemble"):
    """The experiments an ensemble blends or a stacker stacks: those listed, every point of this run's
    sweep ("sweep"), or the board's top k by CV ({top: k}, read once the board is written)."""
    chosen = config[block]["experiments"]
    if chosen == "sweep":
        return list(EXPERIMENTS)
    if isinstance(chosen, dict):
        import pandas as pd

        from pawpipe.metrics import metric_name

        board = pd.read_csv(checkpoints.board.get().output.table)
        metric = metric_name(what(EXP)["task"]["metric"])
        mine = (board["metric"] == metric) & ~board["exp"].str.startswith(
            "stack-"
        )  # experiments, not stacks
        ranked = board[mine].sort_values("rank", kind="stable")
        return ranked["exp"].head(int(chosen["top"])).tolist()
    return list(chosen)


def ensemble_experiments(wildcards=None):
    return chosen_experiments("ensemble")


def stack_experiments(wildcards=None):
    return chosen_experiments("stack")


def get_members_input(exps):
    """What an ensemble or a stacker reads of each experiment: its OOF rows, CV, task and every fold's
    blended test predictions (each head's), and the test table."""
    return {
        "oof": [f"models/{e}/oof.csv" for e in exps],
        "cv": [f"models/{e}/cv.json" for e in exps],
        "task": [f"models/{owner('data', e) if e in EXPERIMENTS else e}/task.json" for e in exps],
        "tests": [
            f"models/{e}/fold{k}/blend_test.csv" for e in exps for k in get_experiment_folds(e)
        ],
        "table": get_table("test"),
    }


def get_ensemble_input(wildcards):
    return get_members_input(ensemble_experiments(wildcards))


def get_stack_input(wildcards):
    return {**get_members_input(stack_experiments(wildcards)), "train_table": get_table("train")}
