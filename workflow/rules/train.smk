include: "inputs/train.smk"


rule check_weights:
    output:
        "models/{exp}/pretrained.json",
    log:
        "models/{exp}/logs/check_weights.log",
    conda:
        TORCH_ENV
    params:
        model_args=get_model_args(),
    script:
        "../scripts/check_weights.py"


rule train:
    input:
        folds="models/{exp}/folds.csv",
        cache="models/{exp}/cache/train.npy",
        cache_index="models/{exp}/cache/train.json",
        table=get_table("train"),
        task=TASK_JSON,
        weights=get_pretrained_check,
    output:
        best="models/{exp}/fold{fold}/best.pt",
        metrics="models/{exp}/fold{fold}/metrics.csv",
    log:
        "models/{exp}/logs/train_fold{fold}.log",
    conda:
        TORCH_ENV
    threads: get_threads("train")
    resources:
        **get_resources("train"),
    params:
        fold=lambda w: int(w.fold),
        model_args=get_model_args(),
        train=WHAT["train"],
        seed=config["seed"],
        resolved=get_train_config(),
        state_dir=lambda w: f"models/{w.exp}/fold{w.fold}/state",
    script:
        "../scripts/train.py"
