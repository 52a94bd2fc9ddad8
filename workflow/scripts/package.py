from pawpipe.kaggle import package
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
with job_logging(sm.log[0]):
    package(
        folds=list(sm.params.folds),
        files={"best.pt": list(sm.input.best), "svr.pkl": list(sm.input.svr), "blend.json": list(sm.input.blend)},
        resolved_config=sm.params.resolved,
        repo=sm.params.repo,
        owner=sm.params.owner,
        exp=sm.params.exp,
        competition=sm.params.competition,
        out_dataset=sm.output.dataset,
        out_kernel=sm.output.kernel,
    )
