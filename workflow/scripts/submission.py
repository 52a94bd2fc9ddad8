from pawpipe.logs import job_logging
from pawpipe.report import decided_task, make_submission

sm = snakemake  # noqa: F821
with job_logging(sm.log[0], sm):
    task = decided_task(sm.input.task, sm.input.decision)  # with the decision rule the cv rule fitted
    make_submission(test_csvs=list(sm.input.tests), test_table=sm.input.table, task=task, out_csv=sm.output[0])
