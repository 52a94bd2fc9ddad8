# Input and param functions of the ensemble (ensemble.smk).


def is_ensemble():
    return bool(config["ensemble"]["experiments"])


def get_experiment_folds(exp):
    """Fold numbers of another experiment, read from its folds file (this config's when it is ours)."""
    if exp == EXP or not Path(f"models/{exp}/folds.csv").exists():
        return FOLDS
    import pandas as pd

    return sorted(pd.read_csv(f"models/{exp}/folds.csv")["fold"].unique())
