from pawpipe.folds import folds_stage
from pawpipe.logs import job_logging
from pawpipe.task import Task

sm = snakemake  # noqa: F821
with job_logging(sm.log[0], sm):
    folds_stage(
        data_dir=sm.params.data_dir,
        task=Task.load(sm.input.task),
        n_splits=sm.params.n_splits,
        seed=sm.params.seed,
        cache_npy=sm.input.get("cache"),
        cache_index=sm.input.get("cache_index"),
        threshold=sm.params.threshold,
        out_folds=sm.output.folds,
        out_duplicates=sm.output.duplicates,
    )
