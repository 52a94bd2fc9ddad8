from pawpipe.config import job_runtime
from pawpipe.gpus import job_gpu
from pawpipe.logs import job_logging
from pawpipe.tracking import tracked
from pawpipe.train import FoldJob, TrainConfig, train_fold

sm = snakemake  # noqa: F821
how = job_runtime()["train"]
cfg = TrainConfig.from_params({**sm.params.train, **how, "threads": sm.threads}, seed=sm.params.seed)
job = FoldJob(
    folds_csv=sm.input.folds,
    cache_npy=sm.input.cache,
    cache_index=sm.input.cache_index,
    train_table=sm.input.table,
    fold=sm.params.fold,
    out_best=sm.output.best,
    out_metrics=sm.output.metrics,
    state_dir=sm.params.state_dir,
    task=sm.input.task,
)
with (
    job_logging(sm.log[0], sm),
    job_gpu(cfg.device),
    tracked(sm.wildcards.exp, "train", sm.params.fold, sm.params.resolved) as tracker,
):
    train_fold(job, sm.params.model_args, cfg, sm.params.resolved, tracker)
