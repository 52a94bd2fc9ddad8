from pawpipe.config import job_runtime
from pawpipe.features import FeatureInputs
from pawpipe.gpus import job_gpu
from pawpipe.logs import job_logging
from pawpipe.svr import SVRConfig
from pawpipe.tune import tune_svr

sm = snakemake  # noqa: F821
cfg = SVRConfig(**{**sm.params.svr, **job_runtime()["svr"], "threads": sm.threads})
fold_inputs = [
    FeatureInputs(
        embeddings=embeddings,
        train_table=sm.input.get("train_table"),
        test_table=sm.input.get("test_table"),
        logits=sm.input.get("logits"),
        others={e: (sm.input[f"exp_{e}"][k], sm.input[f"exp_{e}_folds"]) for e in cfg.features["experiments"]},
    )
    for k, embeddings in enumerate(sm.input.embeddings)
]
with job_logging(sm.log[0]), job_gpu(uses_gpu=sm.resources.gpu > 0):
    tune_svr(fold_inputs, sm.input.folds, cfg, sm.output[0])
