import copy

from pawpipe.config import job_runtime, merge
from pawpipe.kaggle.manifest import fold_artifacts, input_key
from pawpipe.kaggle.package import PackageJob, StackPackageJob, package_stack
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
members = []
for exp, m in sm.params.members.items():
    resolved = m["resolved"]
    artifacts = fold_artifacts(resolved["embed"]["engine"], resolved["heads"])
    member = PackageJob(
        exp=exp,
        competition=sm.params.competition,
        owner=sm.params.owner,
        folds=list(m["folds"]),
        files={name: list(sm.input[f"{exp}__{input_key(name)}"]) for name in artifacts},
        repo=sm.params.repo,
        out_dataset="",
        out_kernel="",
        task=sm.input[f"{exp}__task"],
        decision=sm.input[f"{exp}__decision"],
        extractor_infos={
            e["name"]: p for e, p in zip(resolved["extractors"], sm.input[f"{exp}__extractors"], strict=True)
        },
    )
    members.append((member, merge(copy.deepcopy(resolved), job_runtime())))  # as each experiment's package
job = StackPackageJob(
    exp=sm.params.exp,
    members=members,
    summary=sm.input.summary,
    models=sm.input.models,
    task=members[0][0].task,
    out_dataset=sm.output.dataset,
    out_kernel=sm.output.kernel,
)
with job_logging(sm.log[0], sm):
    package_stack(job, sm.params.weights_dtype, sm.params.accelerator)
