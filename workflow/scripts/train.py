from pawpipe.gpus import job_gpu
from pawpipe.logs import job_logging
from pawpipe.tracking import tracked
from pawpipe.train import TrainConfig, train_fold

sm = snakemake  # noqa: F821
with (
    job_logging(sm.log[0]),
    job_gpu(sm.params.train["device"]),
    tracked(sm.wildcards.exp, "train", sm.params.fold, sm.params.resolved) as tracker,
):
    train_fold(
        folds_csv=sm.input.folds,
        cache_npy=sm.input.cache,
        fold=sm.params.fold,
        model_args=sm.params.model_args,
        cfg=TrainConfig.from_params({**sm.params.train, "threads": sm.threads}, seed=sm.params.seed),
        resolved_config=sm.params.resolved,
        out_best=sm.output.best,
        out_metrics=sm.output.metrics,
        state_dir=sm.params.state_dir,
        tracker=tracker,
        train_table=sm.input.table,
    )
