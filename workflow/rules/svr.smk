rule svr_tune:
    input:
        unpack(get_svr_tune_input),
    output:
        "models/{exp}/svr_tuning.json",
    log:
        "models/{exp}/logs/svr_tune.log",
    conda:
        get_svr_env()
    threads: 1
    resources:
        gpu=svr_gpu_request(),
        mem_mb=get_cluster_mem_mb("svr"),
        runtime=get_cluster_runtime("svr"),
        gpu_model=get_gpu_model(svr_gpu_request()),
    params:
        svr=config["svr"],
    script:
        "../scripts/svr_tune.py"


rule svr:
    input:
        unpack(get_svr_input),
    output:
        model="models/{exp}/fold{fold}/svr.pkl",
        oof="models/{exp}/fold{fold}/svr_oof.csv",
        test="models/{exp}/fold{fold}/svr_test.csv",
    log:
        "models/{exp}/logs/svr_fold{fold}.log",
    conda:
        get_svr_env()
    threads: 1
    resources:
        # cuML may take the GPU unless scikit-learn is forced or there is none.
        gpu=svr_gpu_request(),
        mem_mb=get_cluster_mem_mb("svr"),
        runtime=get_cluster_runtime("svr"),
        gpu_model=get_gpu_model(svr_gpu_request()),
    params:
        fold=lambda w: int(w.fold),
        svr=config["svr"],
    script:
        "../scripts/svr.py"


rule blend:
    input:
        mlp_oof="models/{exp}/fold{fold}/mlp_oof.csv",
        svr_oof="models/{exp}/fold{fold}/svr_oof.csv",
        mlp_test="models/{exp}/fold{fold}/mlp_test.csv",
        svr_test="models/{exp}/fold{fold}/svr_test.csv",
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
        weight=config["blend"]["weight"],
    script:
        "../scripts/blend.py"
