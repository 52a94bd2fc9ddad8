if not is_demo():

    rule download_data:
        output:
            train=f"{DATA}/train.csv",
            test=f"{DATA}/test.csv",
            sample=f"{DATA}/sample_submission.csv",
            train_images=directory(f"{DATA}/train"),
            test_images=directory(f"{DATA}/test"),
        log:
            f"models/{EXP}/logs/download_data.log",
        conda:
            TORCH_ENV
        params:
            out_dir=lambda w, output: os.path.dirname(output.train),
            competition=config["kaggle"]["competition"],
        script:
            "../scripts/download_data.py"


rule submit:
    input:
        submission=f"submissions/{EXP}/submission.csv",
        cv=f"models/{EXP}/cv.json",
        table=get_table("test"),
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
    script:
        "../scripts/submit.py"


rule package:
    input:
        unpack(get_package_models),
        svr=get_fold_files("svr.npz"),
        blend=get_fold_files("blend.json"),
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
        owner=get_kaggle_owner(),
        exp=EXP,
        competition=config["kaggle"]["competition"],
    script:
        "../scripts/package.py"
