rule report:
    input:
        unpack(get_report_input),
    output:
        cv="models/{exp}/cv.json",
        oof="models/{exp}/oof.csv",
    log:
        "models/{exp}/logs/report.log",
    conda:
        TORCH_ENV
    params:
        exp=EXP,
    script:
        "../scripts/report.py"


rule submission:
    input:
        tests=get_fold_files("blend_test.csv"),
        table=get_table("test"),
    output:
        "submissions/{exp}/submission.csv",
    log:
        "models/{exp}/logs/submission.log",
    conda:
        TORCH_ENV
    script:
        "../scripts/submission.py"


rule plots:
    input:
        cv="models/{exp}/cv.json",
        oof="models/{exp}/oof.csv",
        metrics=get_fold_files("metrics.csv"),
    output:
        rmse=report(
            "models/{exp}/report/rmse_by_fold.svg",
            caption="../report/rmse_by_fold.rst",
            category="Cross-validation",
        ),
        scatter=report(
            "models/{exp}/report/oof_scatter.svg",
            caption="../report/oof_scatter.rst",
            category="Cross-validation",
        ),
        curves=report(
            "models/{exp}/report/training_curves.svg",
            caption="../report/training_curves.rst",
            category="Training",
        ),
        table=report(
            "models/{exp}/report/cv_table.csv",
            caption="../report/cv_table.rst",
            category="Cross-validation",
        ),
    log:
        "models/{exp}/logs/plots.log",
    conda:
        TORCH_ENV
    params:
        folds=FOLDS,
    script:
        "../scripts/plots.py"


if is_ensemble():

    rule ensemble:
        input:
            oof=[f"models/{e}/oof.csv" for e in config["ensemble"]["experiments"]],
            tests=[
                f"models/{e}/fold{k}/blend_test.csv"
                for e in config["ensemble"]["experiments"]
                for k in get_experiment_folds(e)
            ],
            table=get_table("test"),
        output:
            summary=f"models/ensemble-{ENSEMBLE}/ensemble.json",
            oof=f"models/ensemble-{ENSEMBLE}/oof.csv",
            submission=f"submissions/ensemble-{ENSEMBLE}/submission.csv",
        log:
            f"models/ensemble-{ENSEMBLE}/logs/ensemble.log",
        conda:
            TORCH_ENV
        params:
            name=ENSEMBLE,
            experiments=config["ensemble"]["experiments"],
        script:
            "../scripts/ensemble.py"
