include: "inputs/train.smk"


rule check_weights:
    output:
        "models/{exp}/pretrained.json",
    log:
        "models/{exp}/logs/check_weights.log",
    conda:
        TORCH_ENV
    params:
        model_args=get_model_args,
    script:
        "../scripts/check_weights.py"


rule train:
    input:
        folds=get_folds_csv,
        cache=get_cache("train", "npy"),
        cache_index=get_cache("train", "index"),
        table=get_table("train"),
        task=get_task_json,
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
        model_args=get_model_args,
        train=lambda w: what(w)["train"],
        seed=lambda w: what(w)["seed"],
        resolved=get_train_config,
        state_dir=lambda w: f"models/{w.exp}/fold{w.fold}/state",
    script:
        "../scripts/train.py"
