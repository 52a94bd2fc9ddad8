# Input and param functions of the train stage (train.smk): the model's arguments, the weights check, what a checkpoint records.


def get_model_args():
    from pawpipe.config import resolve_model_args

    return resolve_model_args(
        config["backbone"], config["head"], config["image"]["size"], config["task"]["features"]
    )


def get_pretrained_check(wildcards):
    """Pretrained weights are loaded once, before training, and only when asked for."""
    return f"models/{wildcards.exp}/pretrained.json" if config["backbone"]["pretrained"] else []


def get_train_config():
    """What decides a fold's training (runtime settings excluded); stored in its checkpoint."""
    return {
        k: WHAT[k] for k in ("exp", "seed", "task", "folds", "image", "backbone", "head", "train")
    }
