rule svr_tune:
    input:
        unpack(get_svr_tune_input),
    output:
        "models/{exp}/svr_tuning.json",
    log:
        "models/{exp}/logs/svr_tune.log",
    conda:
        get_svr_env()
    threads: config["svr"]["threads"]
    resources:
        gpu=svr_gpu_request(),
        mem_mb=get_cluster_mem_mb("svr"),
        runtime=get_cluster_runtime("svr"),
        gpu_model=get_gpu_model(svr_gpu_request()),
    params:
        svr=WHAT["svr"],
        extractors=WHAT["extractors"],
    script:
        "../scripts/svr_all_folds.py"


rule svr_select:
    input:
        unpack(get_svr_tune_input),
    output:
        "models/{exp}/svr_selection.json",
    log:
        "models/{exp}/logs/svr_select.log",
    conda:
        get_svr_env()
    threads: config["svr"]["threads"]
    resources:
        gpu=svr_gpu_request(),
        mem_mb=get_cluster_mem_mb("svr"),
        runtime=get_cluster_runtime("svr"),
        gpu_model=get_gpu_model(svr_gpu_request()),
    params:
        svr=WHAT["svr"],
        extractors=WHAT["extractors"],
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
    threads: config["svr"]["threads"]
    resources:
        gpu=svr_gpu_request(),
        mem_mb=get_cluster_mem_mb("svr"),
        runtime=get_cluster_runtime("svr"),
        gpu_model=get_gpu_model(svr_gpu_request()),
    params:
        fold=lambda w: int(w.fold),
        svr=WHAT["svr"],
        extractors=WHAT["extractors"],
    script:
        "../scripts/svr.py"
