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
        submission=f"submissions/{KAGGLE_EXP}/submission.csv",
        cv=f"models/{KAGGLE_EXP}/cv.json",
        table=get_table("test"),
        task=get_kaggle_task(),
    log:
        f"models/{KAGGLE_EXP}/logs/submit.log",
    localrule: True
    conda:
        TORCH_ENV
    params:
        exp=KAGGLE_EXP,
        competition=config["kaggle"]["competition"],
        message=config["kaggle"]["message"],
        dry_run=is_kaggle_dry_run(),
        route=config["kaggle"]["route"],
    script:
        "../scripts/submit.py"


if is_stack_package():
    if isinstance(config["stack"]["experiments"], dict):
        raise WorkflowError(
            "kaggle.experiment: a stacker of the board's top k cannot be packaged (the experiments are chosen "
            "once the board is written); list them in stack.experiments, or stack a sweep"
        )

    rule package:
        input:
            unpack(get_stack_package_input),
        output:
            dataset=directory(f"submissions/{KAGGLE_EXP}/kaggle/dataset"),
            kernel=directory(f"submissions/{KAGGLE_EXP}/kaggle/kernel"),
        log:
            f"models/{KAGGLE_EXP}/logs/package.log",
        conda:
            TORCH_ENV
        params:
            members={
                e: {"folds": folds_of(e), "resolved": get_inference_config(e)}
                for e in stack_experiments()
            },
            repo=workflow.basedir,
            owner=lambda w: get_kaggle_owner(),
            exp=KAGGLE_EXP,
            competition=config["kaggle"]["competition"],
            weights_dtype=config["kaggle"]["weights_dtype"],
            accelerator=config["kaggle"]["accelerator"],
        script:
            "../scripts/package_stack.py"

else:

    rule package:
        input:
            unpack(get_package_models),
            extractors=get_package_extractors(),
            task=f"models/{owner('data', KAGGLE_EXP)}/task.json",
            decision=f"models/{KAGGLE_EXP}/decision.json",
        output:
            dataset=directory(f"submissions/{KAGGLE_EXP}/kaggle/dataset"),
            kernel=directory(f"submissions/{KAGGLE_EXP}/kaggle/kernel"),
        log:
            f"models/{KAGGLE_EXP}/logs/package.log",
        conda:
            TORCH_ENV
        params:
            folds=folds_of(KAGGLE_EXP),
            resolved=get_inference_config(),
            repo=workflow.basedir,
            owner=lambda w: get_kaggle_owner(),
            exp=KAGGLE_EXP,
            competition=config["kaggle"]["competition"],
            weights_dtype=config["kaggle"]["weights_dtype"],
            accelerator=config["kaggle"]["accelerator"],
        script:
            "../scripts/package.py"


rule rehearse_kaggle:
    input:
        dataset=f"submissions/{KAGGLE_EXP}/kaggle/dataset",
        kernel=f"submissions/{KAGGLE_EXP}/kaggle/kernel",
        submission=f"submissions/{KAGGLE_EXP}/submission.csv",
        table=get_table("test"),
        solution=get_solution_table(),
    output:
        directory(f"submissions/{KAGGLE_EXP}/kaggle/rehearsal"),
    log:
        f"models/{KAGGLE_EXP}/logs/rehearse_kaggle.log",
    conda:
        TORCH_ENV
    resources:
        **get_resources("rehearse_kaggle", KAGGLE_EXP if KAGGLE_EXP in EXPERIMENTS else EXP),
    params:
        tolerance=config["kaggle"]["rehearsal_tolerance"],
        data_dir=get_data_dir("table", "test"),
    script:
        "../scripts/rehearse_kaggle.py"


rule publish:
    input:
        unpack(get_publish_input),
        cv=f"models/{KAGGLE_EXP}/cv.json",
        table=get_table("test"),
        task=get_kaggle_task(),
    log:
        f"models/{KAGGLE_EXP}/logs/publish.log",
    localrule: True
    conda:
        TORCH_ENV
    params:
        exp=KAGGLE_EXP,
        competition=config["kaggle"]["competition"],
        route=config["kaggle"]["route"],
        message=config["kaggle"]["message"],
        dry_run=is_kaggle_dry_run(),
        poll=config["kaggle"]["poll"],
        leaderboard=f"submissions/{KAGGLE_EXP}/leaderboard.csv",
        state=f"submissions/{KAGGLE_EXP}/kaggle/publish.json",
    script:
        "../scripts/publish.py"


rule leaderboard:
    input:
        cv=f"models/{KAGGLE_EXP}/cv.json",
    log:
        f"models/{KAGGLE_EXP}/logs/leaderboard.log",
    localrule: True
    conda:
        TORCH_ENV
    params:
        exp=KAGGLE_EXP,
        competition=config["kaggle"]["competition"],
        leaderboard=f"submissions/{KAGGLE_EXP}/leaderboard.csv",
        poll=config["kaggle"]["poll"],
    script:
        "../scripts/leaderboard.py"
