from pawpipe.logs import job_logging
from pawpipe.report import make_submission
from pawpipe.task import Task

sm = snakemake  # noqa: F821
with job_logging(sm.log[0], sm):
    make_submission(
        test_csvs=list(sm.input.tests), test_table=sm.input.table, task=Task.load(sm.input.task), out_csv=sm.output[0]
    )
