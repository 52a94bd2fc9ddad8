include: "inputs/data.smk"


if is_demo():

    rule demo_data:
        output:
            train=f"{DATA}/train.csv",
            test=f"{DATA}/test.csv",
            sample=f"{DATA}/sample_submission.csv",
            train_images=directory(f"{DATA}/train"),
            test_images=directory(f"{DATA}/test"),
        log:
            f"models/{EXP}/logs/demo_data.log",
        conda:
            TORCH_ENV
        params:
            out_dir=lambda w, output: os.path.dirname(output.train),
            n_train=config["data"]["demo"]["n_train"],
            n_test=config["data"]["demo"]["n_test"],
            seed=config["data"]["demo"]["seed"],
            n_duplicates=config["data"]["demo"]["n_duplicates"],
        script:
            "../scripts/demo_data.py"


rule check_data:
    input:
        train=get_table("train"),
        test=get_table("test"),
        train_images=f"{DATA}/train",
        test_images=f"{DATA}/test",
    output:
        "models/{exp}/data_check.json",
    log:
        "models/{exp}/logs/check_data.log",
    conda:
        TORCH_ENV
    threads: get_threads("check_data")
    resources:
        **get_resources("check_data"),
    params:
        data_dir=lambda w, input: os.path.dirname(input.train),
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
        data_dir=lambda w, input: os.path.dirname(input.train),
        n_splits=config["folds"]["n_splits"],
        seed=config["seed"],
        threshold=config["folds"]["duplicate_threshold"],
    script:
        "../scripts/folds.py"


rule cache:
    input:
        table=lambda w: get_table(w.split),
        images=lambda w: f"{DATA}/{w.split}",
        check="models/{exp}/data_check.json",
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
        data_dir=lambda w, input: os.path.dirname(input.table),
        image=WHAT["image"],
    script:
        "../scripts/cache.py"
