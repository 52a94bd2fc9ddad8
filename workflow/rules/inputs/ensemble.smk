# Input and param functions of the ensemble (ensemble.smk): which experiments it blends.


def is_ensemble():
    return bool(config["ensemble"]["experiments"])


def get_experiment_folds(exp):
    """Fold numbers of an experiment: this run's from its config, another's from its folds file."""
    if exp in EXPERIMENTS or not Path(f"models/{exp}/folds.csv").exists():
        return folds_of(exp) if exp in EXPERIMENTS else folds_of(EXP)
    import pandas as pd

    return sorted(pd.read_csv(f"models/{exp}/folds.csv")["fold"].unique())


def check_ensemble():
    """Listed experiments that neither this run makes nor an earlier run finished stop the run at load."""
    chosen = config["ensemble"]["experiments"]
    if not isinstance(chosen, list):
        return
    missing = [
        e for e in chosen if e not in EXPERIMENTS and not Path(f"models/{e}/oof.csv").exists()
    ]
    if missing:
        raise WorkflowError(
            f"ensemble.experiments: {', '.join(missing)} {'has' if len(missing) == 1 else 'have'} not run (no "
            f"models/<exp>/oof.csv): run each first with its own config, or make them points of this "
            f"config's sweep and set ensemble.experiments: sweep"
        )


def ensemble_experiments(wildcards=None):
    """The experiments the ensemble blends: those listed, every point of this run's sweep ("sweep"), or
    the board's top k by CV ({top: k}, read once the board is written)."""
    chosen = config["ensemble"]["experiments"]
    if chosen == "sweep":
        return list(EXPERIMENTS)
    if isinstance(chosen, dict):
        import pandas as pd

        board = pd.read_csv(checkpoints.board.get().output.table)
        metric = what(EXP)["task"]["metric"]
        ranked = board[board["metric"] == metric].sort_values("rank", kind="stable")
        return ranked["exp"].head(int(chosen["top"])).tolist()
    return list(chosen)


def get_ensemble_input(wildcards):
    exps = ensemble_experiments(wildcards)
    return {
        "oof": [f"models/{e}/oof.csv" for e in exps],
        "cv": [f"models/{e}/cv.json" for e in exps],
        "task": [f"models/{owner('data', e) if e in EXPERIMENTS else e}/task.json" for e in exps],
        "tests": [
            f"models/{e}/fold{k}/blend_test.csv" for e in exps for k in get_experiment_folds(e)
        ],
        "table": get_table("test"),
    }
