rule report:
    input:
        oof=get_fold_files("blend_oof.csv"),
        summaries=get_fold_files("blend.json"),
        folds="models/{exp}/folds.csv",
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
