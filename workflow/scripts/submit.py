from pawpipe.kaggle.cli import SubmitJob, submit
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
job = SubmitJob(
    submission=sm.input.submission,
    test_table=sm.input.table,
    task=sm.input.task,
    cv_json=sm.input.cv,
    exp=sm.params.exp,
    competition=sm.params.competition,
    route=sm.params.route,
)
with job_logging(sm.log[0], sm):
    submit(job, message=sm.params.message, dry_run=sm.params.dry_run)
