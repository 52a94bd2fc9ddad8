from pawpipe.logs import job_logging
from pawpipe.ort import export_fold

sm = snakemake  # noqa: F821
with job_logging(sm.log[0]):
    export_fold(
        checkpoint=sm.input.checkpoint,
        folds_csv=sm.input.folds,
        train_npy=sm.input.train_npy,
        train_table=sm.input.table,
        fold=sm.params.fold,
        opset=sm.params.onnx["opset"],
        exporter=sm.params.onnx["exporter"],
        atol=sm.params.onnx["atol"],
        check_images=sm.params.onnx["check_images"],
        threads=sm.threads,
        out_onnx=sm.output.model,
        out_report=sm.output.report,
    )
