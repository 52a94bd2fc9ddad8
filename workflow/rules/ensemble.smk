include: "inputs/ensemble.smk"


if is_ensemble():

    check_members("ensemble")

    rule ensemble:
        input:
            unpack(get_ensemble_input),
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
            experiments=ensemble_experiments,
        script:
            "../scripts/ensemble.py"
