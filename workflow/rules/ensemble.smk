include: "inputs/ensemble.smk"


if is_ensemble():

    rule ensemble:
        input:
            oof=[f"models/{e}/oof.csv" for e in config["ensemble"]["experiments"]],
            cv=[f"models/{e}/cv.json" for e in config["ensemble"]["experiments"]],
            task=[f"models/{e}/task.json" for e in config["ensemble"]["experiments"]],
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
