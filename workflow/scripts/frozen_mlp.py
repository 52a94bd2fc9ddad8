from pawpipe.config import job_runtime
from pawpipe.features import FeatureInputs
from pawpipe.gpus import job_gpu
from pawpipe.heads.frozen_mlp import FrozenMLPConfig, fit_fold
from pawpipe.heads.stage import SVRJob
from pawpipe.logs import job_logging
from pawpipe.runtime import resolve_device, set_threads
from pawpipe.tracking import tracked

sm = snakemake  # noqa: F821
device = job_runtime()["train"]["device"]
job = SVRJob(
    fold=sm.params.fold,
    folds_csv=sm.input.folds,
    inputs=FeatureInputs.from_rule(sm.input, sm.params.extractors, sm.params.features["experiments"]),
    out_model=sm.output.model,
    out_oof=sm.output.oof,
    out_test=sm.output.test,
    out_summary=sm.output.summary,
    task=sm.input.task,
    selection=sm.input.get("selection"),
)
with (
    job_logging(sm.log[0], sm),
    job_gpu(device, uses_gpu=sm.resources.gpu > 0),
    tracked(sm.wildcards.exp, "frozen_mlp", sm.params.fold) as tracker,
):
    set_threads(sm.threads)
    result = fit_fold(job, FrozenMLPConfig(**sm.params.frozen), sm.params.features, sm.params.seed,
                      str(resolve_device(device)))  # fmt: skip
    tracker.summary({k: v for k, v in result.items() if k not in ("history", "features")})
