include: "inputs/kaggle.smk"


if not is_demo():

    rule download_data:
        output:
            **get_download_outputs(),
        log:
            f"models/{EXP}/logs/download_data.log",
        conda:
            TORCH_ENV
        params:
            out_dir=get_data_dir("table0", "train", of="output"),
            competition=config["kaggle"]["competition"],
        script:
            "../scripts/download_data.py"


rule submit:
    input:
        submission=f"submissions/{EXP}/submission.csv",
        cv=f"models/{EXP}/cv.json",
        table=get_table("test"),
        task=f"models/{EXP}/task.json",
    log:
        f"models/{EXP}/logs/submit.log",
    localrule: True
    conda:
        TORCH_ENV
    params:
        exp=EXP,
        competition=config["kaggle"]["competition"],
        message=config["kaggle"]["message"],
        dry_run=is_kaggle_dry_run(),
        route=config["kaggle"]["route"],
    script:
        "../scripts/submit.py"


rule package:
    input:
        unpack(get_package_models),
        extractors=[f"models/{EXP}/extract/{e['name']}.json" for e in config["extractors"]],
        task=f"models/{EXP}/task.json",
    output:
        dataset=directory(f"submissions/{EXP}/kaggle/dataset"),
        kernel=directory(f"submissions/{EXP}/kaggle/kernel"),
    log:
        f"models/{EXP}/logs/package.log",
    conda:
        TORCH_ENV
    params:
        folds=FOLDS,
        resolved=get_inference_config(),
        repo=workflow.basedir,
        owner=lambda w: get_kaggle_owner(),
        exp=EXP,
        competition=config["kaggle"]["competition"],
        weights_dtype=config["kaggle"]["weights_dtype"],
        accelerator=config["kaggle"]["accelerator"],
    script:
        "../scripts/package.py"


rule rehearse_kaggle:
    input:
        dataset=f"submissions/{EXP}/kaggle/dataset",
        kernel=f"submissions/{EXP}/kaggle/kernel",
        submission=f"submissions/{EXP}/submission.csv",
        table=get_table("test"),
    output:
        directory(f"submissions/{EXP}/kaggle/rehearsal"),
    log:
        f"models/{EXP}/logs/rehearse_kaggle.log",
    conda:
        TORCH_ENV
    resources:
        **get_resources("rehearse_kaggle"),
    params:
        tolerance=config["kaggle"]["rehearsal_tolerance"],
        data_dir=get_data_dir("table", "test"),
    script:
        "../scripts/rehearse_kaggle.py"


rule publish:
    input:
        unpack(get_publish_input),
        cv=f"models/{EXP}/cv.json",
        table=get_table("test"),
        task=f"models/{EXP}/task.json",
    log:
        f"models/{EXP}/logs/publish.log",
    localrule: True
    conda:
        TORCH_ENV
    params:
        exp=EXP,
        competition=config["kaggle"]["competition"],
        route=config["kaggle"]["route"],
        message=config["kaggle"]["message"],
        dry_run=is_kaggle_dry_run(),
        poll=config["kaggle"]["poll"],
        leaderboard=f"submissions/{EXP}/leaderboard.csv",
    script:
        "../scripts/publish.py"


rule leaderboard:
    input:
        cv=f"models/{EXP}/cv.json",
    log:
        f"models/{EXP}/logs/leaderboard.log",
    localrule: True
    conda:
        TORCH_ENV
    params:
        exp=EXP,
        competition=config["kaggle"]["competition"],
        leaderboard=f"submissions/{EXP}/leaderboard.csv",
    script:
        "../scripts/leaderboard.py"
