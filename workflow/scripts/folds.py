from pawpipe.folds import FoldSettings, FoldsJob, folds_stage
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
job = FoldsJob(
    data_dir=sm.params.data_dir,
    task=sm.input.task,
    out_folds=sm.output.folds,
    out_duplicates=sm.output.duplicates,
    cache_npy=sm.input.get("cache"),
    cache_index=sm.input.get("cache_index"),
    fold_file=sm.input.get("fold_file"),
)
with job_logging(sm.log[0], sm):
    folds_stage(job, FoldSettings(**sm.params.settings))
