from pawpipe.gpus import job_gpu
from pawpipe.logs import job_logging
from pawpipe.svr import SVRConfig, fit_fold
from pawpipe.tracking import tracked

sm = snakemake  # noqa: F821
with (
    job_logging(sm.log[0]),
    job_gpu(uses_gpu=sm.resources.gpu > 0),
    tracked(sm.wildcards.exp, "svr", sm.params.fold, sm.params.svr) as tracker,
):
    result = fit_fold(
        embeddings=sm.input.embeddings,
        folds_csv=sm.input.folds,
        fold=sm.params.fold,
        cfg=SVRConfig(**sm.params.svr),
        out_model=sm.output.model,
        out_oof=sm.output.oof,
        out_test=sm.output.test,
        train_table=sm.input.get("train_table"),
        test_table=sm.input.get("test_table"),
        tuning=sm.input.get("tuning"),
        logits=sm.input.get("logits"),
    )
    tracker.summary({k: v for k, v in result.items() if k != "features"})
