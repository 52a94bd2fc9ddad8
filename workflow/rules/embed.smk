include: "inputs/embed.smk"


rule export_onnx:
    input:
        checkpoint="models/{exp}/fold{fold}/best.pt",
        folds=get_folds_csv,
        train_npy=get_cache("train", "npy"),
        train_index=get_cache("train", "index"),
        table=get_table("train"),
        task=get_task_json,
    output:
        model="models/{exp}/fold{fold}/model.onnx",
        report="models/{exp}/fold{fold}/onnx.json",
    log:
        "models/{exp}/logs/export_onnx_fold{fold}.log",
    conda:
        TORCH_ENV
    threads: get_threads("export_onnx")
    resources:
        **get_resources("export_onnx"),
    params:
        fold=lambda w: int(w.fold),
        onnx=lambda w: what(w)["embed"]["onnx"],
    script:
        "../scripts/export_onnx.py"


rule embed:
    input:
        checkpoint="models/{exp}/fold{fold}/best.pt",
        onnx_model=get_onnx_input("model.onnx"),
        onnx_report=get_onnx_input("onnx.json"),
        folds=get_folds_csv,
        train_npy=get_cache("train", "npy"),
        train_index=get_cache("train", "index"),
        test_npy=get_cache("test", "npy"),
        test_index=get_cache("test", "index"),
        train_table=get_table("train"),
        test_table=get_table("test"),
        task=get_task_json,
    output:
        embeddings="models/{exp}/fold{fold}/embeddings.npz",
        oof="models/{exp}/fold{fold}/mlp_oof.csv",
        test="models/{exp}/fold{fold}/mlp_test.csv",
    log:
        "models/{exp}/logs/embed_fold{fold}.log",
    conda:
        TORCH_ENV
    threads: get_threads("embed")
    resources:
        **get_resources("embed"),
    params:
        fold=lambda w: int(w.fold),
        embed=lambda w: what(w)["embed"],
        amp=lambda w: what(w)["train"]["amp"],
    script:
        "../scripts/embed.py"


rule extract:
    input:
        train_table=get_table("train"),
        test_table=get_table("test"),
        check=get_data_check,
        task=get_task_json,
    output:
        table="models/{exp}/extract/{extractor}.parquet",
        info="models/{exp}/extract/{extractor}.json",
    log:
        "models/{exp}/logs/extract_{extractor}.log",
    # Ready as soon as the data is checked: run before training, so that a missing weights file or an
    # unreachable hub fails the run at its start, not after hours of training.
    priority: 10
    conda:
        TORCH_ENV
    threads: get_threads("extract")
    resources:
        **get_resources("extract"),
    params:
        data_dir=get_data_dir("train_table"),
        extractor=lambda w: get_extractor(w),
        seed=lambda w: what(w)["seed"],
        embed=lambda w: what(w)["embed"],
        amp=lambda w: what(w)["train"]["amp"],
    script:
        "../scripts/extract.py"
