from pawpipe.logs import job_logging
from pawpipe.ort import ExportJob, export_fold

sm = snakemake  # noqa: F821
job = ExportJob(
    fold=sm.params.fold,
    checkpoint=sm.input.checkpoint,
    folds_csv=sm.input.folds,
    train_npy=sm.input.train_npy,
    train_index=sm.input.train_index,
    train_table=sm.input.table,
    out_onnx=sm.output.model,
    out_report=sm.output.report,
    task=sm.input.task,
)
with job_logging(sm.log[0], sm):
    export_fold(job, sm.params.onnx, sm.threads)
