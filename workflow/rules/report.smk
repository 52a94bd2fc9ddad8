rule report:
    input:
        oof=get_fold_files("blend_oof.csv"),
        summaries=get_fold_files("blend.json"),
        folds="models/{exp}/folds.csv",
    output:
        cv="models/{exp}/cv.json",
        oof="models/{exp}/oof.csv",
    params:
        exp=EXP,
    log:
        "models/{exp}/logs/report.log",
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
    script:
        "../scripts/submission.py"
