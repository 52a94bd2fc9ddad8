import copy

from pawpipe.config import job_runtime, merge
from pawpipe.kaggle.manifest import fold_artifacts, input_key
from pawpipe.kaggle.package import PackageJob, package
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
job = PackageJob(
    exp=sm.params.exp,
    competition=sm.params.competition,
    owner=sm.params.owner,
    folds=list(sm.params.folds),
    files={
        name: list(sm.input[input_key(name)])
        for name in fold_artifacts(sm.params.resolved["embed"]["engine"], sm.params.resolved["heads"])
    },
    repo=sm.params.repo,
    out_dataset=sm.output.dataset,
    out_kernel=sm.output.kernel,
    task=sm.input.task,
    decision=sm.input.decision,
    extractor_infos={
        e["name"]: path for e, path in zip(sm.params.resolved["extractors"], sm.input.extractors, strict=True)
    },
)
# The notebook runs like the pipeline: the model's settings, plus today's runtime settings (batch sizes).
resolved = merge(copy.deepcopy(sm.params.resolved), job_runtime())
with job_logging(sm.log[0], sm):
    package(job, resolved, sm.params.weights_dtype, sm.params.accelerator)
