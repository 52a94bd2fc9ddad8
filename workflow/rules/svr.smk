include: "inputs/svr.smk"


# One job over every fold: svr_tuning.json (C and epsilon on OOF RMSE, svr.grid) or svr_selection.json
# (forward selection of the feature sets, svr.select).
rule svr_search:
    input:
        unpack(get_svr_all_folds_input),
    output:
        "models/{exp}/svr_{search}.json",
    log:
        "models/{exp}/logs/svr_{search}.log",
    wildcard_constraints:
        search="tuning|selection",
    conda:
        get_svr_env()
    threads: get_threads("svr_search")
    resources:
        **get_resources("svr_search"),
    params:
        svr=lambda w: what(w)["svr"],
        extractors=lambda w: what(w)["extractors"],
    script:
        "../scripts/svr_all_folds.py"


rule svr:
    input:
        unpack(get_svr_input),
    output:
        model="models/{exp}/fold{fold}/svr.npz",
        oof="models/{exp}/fold{fold}/svr_oof.csv",
        test="models/{exp}/fold{fold}/svr_test.csv",
        summary="models/{exp}/fold{fold}/svr.json",
    log:
        "models/{exp}/logs/svr_fold{fold}.log",
    conda:
        get_svr_env()
    threads: get_threads("svr")
    resources:
        **get_resources("svr"),
    params:
        fold=lambda w: int(w.fold),
        svr=lambda w: what(w)["svr"],
        extractors=lambda w: what(w)["extractors"],
    script:
        "../scripts/svr.py"


rule frozen_mlp:
    input:
        unpack(get_frozen_mlp_input),
    output:
        model="models/{exp}/fold{fold}/frozen_mlp.pt",
        oof="models/{exp}/fold{fold}/frozen_mlp_oof.csv",
        test="models/{exp}/fold{fold}/frozen_mlp_test.csv",
        summary="models/{exp}/fold{fold}/frozen_mlp.json",
    log:
        "models/{exp}/logs/frozen_mlp_fold{fold}.log",
    conda:
        TORCH_ENV
    threads: get_threads("frozen_mlp")
    resources:
        **get_resources("frozen_mlp"),
    params:
        fold=lambda w: int(w.fold),
        frozen=lambda w: what(w)["frozen_mlp"],
        features=lambda w: what(w)["svr"]["features"],
        extractors=lambda w: what(w)["extractors"],
        seed=lambda w: what(w)["seed"],
    script:
        "../scripts/frozen_mlp.py"
