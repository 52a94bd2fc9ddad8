from pawpipe.ensemble import EnsembleJob, ensemble
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
with job_logging(sm.log[0], sm):
    ensemble(EnsembleJob.of_rule(sm))
