if is_demo():

    rule demo_data:
        output:
            train=f"{DATA}/train.csv",
            test=f"{DATA}/test.csv",
            sample=f"{DATA}/sample_submission.csv",
            train_images=directory(f"{DATA}/train"),
            test_images=directory(f"{DATA}/test"),
        params:
            out_dir=DATA,
            n_train=config["data"]["demo"]["n_train"],
            n_test=config["data"]["demo"]["n_test"],
            seed=config["data"]["demo"]["seed"],
        log:
            f"models/{EXP}/logs/demo_data.log",
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
    params:
        data_dir=DATA,
    threads: config["image"]["cache_workers"]
    log:
        "models/{exp}/logs/check_data.log",
    script:
        "../scripts/check_data.py"


rule folds:
    input:
        train=get_table("train"),
        check="models/{exp}/data_check.json",
    output:
        "models/{exp}/folds.csv",
    params:
        data_dir=DATA,
        n_splits=config["folds"]["n_splits"],
        seed=config["seed"],
    log:
        "models/{exp}/logs/folds.log",
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
    params:
        data_dir=DATA,
        size=config["image"]["size"],
    threads: config["image"]["cache_workers"]
    log:
        "models/{exp}/logs/cache_{split}.log",
    script:
        "../scripts/cache.py"
