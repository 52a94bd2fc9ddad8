# svr_search: SVRs fitted over every fold at once, to tune C and epsilon or to select feature sets.
from pawpipe.config import job_runtime
from pawpipe.features import FeatureInputs
from pawpipe.gpus import job_gpu
from pawpipe.heads.backend import SVRConfig
from pawpipe.heads.search import select_features, tune_svr
from pawpipe.logs import job_logging
from pawpipe.task import Task

sm = snakemake  # noqa: F821
cfg = SVRConfig(**{**sm.params.svr, **job_runtime()["svr"], "threads": sm.threads, "gpu": sm.resources.gpu > 0})
experiments = cfg.features["experiments"]
fold_inputs = [
    FeatureInputs.from_rule(sm.input, sm.params.extractors, experiments, k) for k in range(len(sm.input.embeddings))
]
run = {"tuning": tune_svr, "selection": select_features}[sm.wildcards.search]
with job_logging(sm.log[0], sm), job_gpu(uses_gpu=sm.resources.gpu > 0):
    run(fold_inputs, sm.input.folds, cfg, sm.output[0], Task.load(sm.input.task))
