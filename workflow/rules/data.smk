include: "inputs/data.smk"


if is_demo():

    rule demo_data:
        output:
            **get_demo_outputs(),
        log:
            f"models/{EXP}/logs/demo_data.log",
        conda:
            TORCH_ENV
        params:
            out_dir=get_data_dir("table0", "train", of="output"),
            kind=config["data"]["demo"]["kind"],
            n_train=config["data"]["demo"]["n_train"],
            n_test=config["data"]["demo"]["n_test"],
            seed=config["data"]["demo"]["seed"],
            n_duplicates=config["data"]["demo"]["n_duplicates"],
        script:
            "../scripts/demo_data.py"


rule check_data:
    input:
        unpack(get_check_data_input),
    output:
        check="models/{exp}/data_check.json",
        task="models/{exp}/task.json",
    log:
        "models/{exp}/logs/check_data.log",
    conda:
        TORCH_ENV
    threads: get_threads("check_data")
    resources:
        **get_resources("check_data"),
    params:
        data_dir=get_data_dir("train"),
        task=lambda w: what(w)["task"],
        n_splits=lambda w: what(w)["folds"]["n_splits"],
    script:
        "../scripts/check_data.py"


rule folds:
    input:
        unpack(get_folds_input),
    output:
        folds="models/{exp}/folds.csv",
        duplicates="models/{exp}/duplicates.csv",
    log:
        "models/{exp}/logs/folds.log",
    conda:
        TORCH_ENV
    params:
        data_dir=get_data_dir("train"),
        settings=get_fold_settings,
    script:
        "../scripts/folds.py"


rule cache:
    input:
        table=lambda w: get_table(w.split),
        images=lambda w: get_image_roots().get(w.split, []),
        check=get_data_check,
        task=get_task_json,
    output:
        npy="models/{exp}/cache/{split}.npy",
        index="models/{exp}/cache/{split}.json",
    log:
        "models/{exp}/logs/cache_{split}.log",
    conda:
        TORCH_ENV
    threads: get_threads("cache")
    resources:
        **get_resources("cache"),
    params:
        data_dir=lambda w, input: get_data_dir("table", w.split)(w, input),
        image=lambda w: what(w)["image"],
    script:
        "../scripts/cache.py"
