from pawpipe.gpus import job_gpu
from pawpipe.logs import job_logging
from pawpipe.svr import SVRConfig
from pawpipe.tune import tune_svr

sm = snakemake  # noqa: F821
with job_logging(sm.log[0]), job_gpu(uses_gpu=sm.resources.gpu > 0):
    tune_svr(
        embeddings=list(sm.input.embeddings),
        folds_csv=sm.input.folds,
        cfg=SVRConfig(**sm.params.svr),
        out_json=sm.output[0],
        train_table=sm.input.get("train_table"),
        test_table=sm.input.get("test_table"),
        logits=sm.input.get("logits"),
    )
