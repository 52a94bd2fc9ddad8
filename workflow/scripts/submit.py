from pawpipe.kaggle.cli import submit
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
with job_logging(sm.log[0], sm):
    submit(
        submission=sm.input.submission,
        test_table=sm.input.table,
        task=sm.input.task,
        cv_json=sm.input.cv,
        exp=sm.params.exp,
        competition=sm.params.competition,
        message=sm.params.message,
        dry_run=sm.params.dry_run,
        route=sm.params.route,
    )
