import copy

from pawpipe.config import job_runtime, merge
from pawpipe.kaggle_package import PackageJob, package
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
names = [("best.pt", "best"), ("model.onnx", "onnx"), ("onnx.json", "onnx_report"), ("svr.npz", "svr")]
names.append(("blend.json", "blend"))
job = PackageJob(
    exp=sm.params.exp,
    competition=sm.params.competition,
    owner=sm.params.owner,
    folds=list(sm.params.folds),
    files={name: list(sm.input[key]) for name, key in names if key in sm.input.keys()},
    repo=sm.params.repo,
    out_dataset=sm.output.dataset,
    out_kernel=sm.output.kernel,
    extractor_infos={
        e["name"]: path for e, path in zip(sm.params.resolved["extractors"], sm.input.extractors, strict=True)
    },
)
# The notebook runs like the pipeline: the model's settings, plus today's runtime settings (batch sizes).
resolved = merge(copy.deepcopy(sm.params.resolved), job_runtime())
with job_logging(sm.log[0]):
    package(job, resolved, sm.params.weights_dtype, sm.params.accelerator)
