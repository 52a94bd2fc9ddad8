include: "inputs/blend.smk"


rule blend:
    input:
        unpack(get_blend_input),
    output:
        oof="models/{exp}/fold{fold}/blend_oof.csv",
        test="models/{exp}/fold{fold}/blend_test.csv",
        summary="models/{exp}/fold{fold}/blend.json",
    log:
        "models/{exp}/logs/blend_fold{fold}.log",
    conda:
        TORCH_ENV
    params:
        fold=lambda w: int(w.fold),
        heads=get_heads,
        weight=lambda w: what(w)["blend"]["weight"],
        seed=lambda w: what(w)["seed"],
    script:
        "../scripts/blend.py"


rule cv:
    input:
        unpack(get_cv_input),
    output:
        cv="models/{exp}/cv.json",
        oof="models/{exp}/oof.csv",
        decision="models/{exp}/decision.json",
    log:
        "models/{exp}/logs/cv.log",
    conda:
        TORCH_ENV
    params:
        exp=lambda w: w.exp,
        image=lambda w: what(w)["image"],
        decision=lambda w: what(w)["decision"]["rule"],
    script:
        "../scripts/cv.py"


rule submission:
    input:
        tests=get_fold_files("blend_test.csv"),
        table=get_table("test"),
        task=get_task_json,
        decision="models/{exp}/decision.json",
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
        task=get_task_json,
    output:
        scores=report(
            "models/{exp}/report/score_by_fold.svg",
            caption="../report/score_by_fold.rst",
            category="Cross-validation",
        ),
        oof=report(
            "models/{exp}/report/oof.svg",
            caption="../report/oof.rst",
            category="Cross-validation",
        ),
        curve=report(
            "models/{exp}/report/curve.svg",
            caption="../report/curve.rst",
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
        folds=lambda w: folds_of(w.exp),
    script:
        "../scripts/plots.py"


rule experiment:
    output:
        "models/{exp}/experiment.json",
    log:
        "models/{exp}/logs/experiment.log",
    localrule: True  # writes one small json: not worth a cluster job
    conda:
        TORCH_ENV
    params:
        config=lambda w: sweep.experiment_config(what(w)),
        sweep=lambda w: SWEEP if len(EXPERIMENTS) > 1 else None,
        changed=lambda w: sweep.changed(
            sweep.experiment_config(WHAT), sweep.experiment_config(what(w))
        ),
    script:
        "../scripts/experiment.py"


checkpoint board:
    input:
        unpack(get_board_input),
    output:
        table=report(
            "models/board.csv",
            caption="../report/board.rst",
            category="Experiments",
        ),
        plot=report(
            "models/board.svg",
            caption="../report/board_plot.rst",
            category="Experiments",
        ),
    log:
        "models/logs/board.log",
    localrule: True  # reads every experiment's small summaries
    conda:
        TORCH_ENV
    params:
        base=sweep.experiment_config(WHAT),
    script:
        "../scripts/board.py"
