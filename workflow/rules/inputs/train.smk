# Input and param functions of the train stage (train.smk): the model's arguments, the weights check, what a checkpoint records.


def get_model_args(wildcards):
    from pawpipe.config import resolve_model_args

    c = what(wildcards)
    return resolve_model_args(c["backbone"], c["head"], c["image"]["size"], c["task"]["features"])


def get_pretrained_check(wildcards):
    """Pretrained weights are loaded once, before training, and only when asked for."""
    pretrained = what(wildcards)["backbone"]["pretrained"]
    return f"models/{wildcards.exp}/pretrained.json" if pretrained else []


def get_train_config(wildcards):  # the job's wildcards, or an experiment's name
    """What decides a fold's training (runtime settings excluded); stored in its checkpoint."""
    keys = ("exp", "seed", "task", "folds", "image", "backbone", "head", "train")
    return {k: what(wildcards)[k] for k in keys}
