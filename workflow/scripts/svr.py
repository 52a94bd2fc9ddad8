from pawpipe.config import job_runtime
from pawpipe.features import FeatureInputs
from pawpipe.gpus import job_gpu
from pawpipe.heads.backend import SVRConfig
from pawpipe.heads.stage import SVRJob, fit_fold
from pawpipe.logs import job_logging
from pawpipe.tracking import tracked

sm = snakemake  # noqa: F821
cfg = SVRConfig(**{**sm.params.svr, **job_runtime()["svr"], "threads": sm.threads, "gpu": sm.resources.gpu > 0})
job = SVRJob(
    fold=sm.params.fold,
    folds_csv=sm.input.folds,
    inputs=FeatureInputs.from_rule(sm.input, sm.params.extractors, cfg.features["experiments"]),
    out_model=sm.output.model,
    out_oof=sm.output.oof,
    out_test=sm.output.test,
    out_summary=sm.output.summary,
    task=sm.input.task,
    tuning=sm.input.get("tuning"),
    selection=sm.input.get("selection"),
)
with (
    job_logging(sm.log[0], sm),
    job_gpu(uses_gpu=sm.resources.gpu > 0),
    tracked(sm.wildcards.exp, "svr", sm.params.fold, sm.params.svr) as tracker,
):
    result = fit_fold(job, cfg)
    tracker.summary({k: v for k, v in result.items() if k != "features"})
