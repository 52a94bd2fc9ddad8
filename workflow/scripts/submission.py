from pawpipe.logs import job_logging
from pawpipe.report import make_submission

sm = snakemake  # noqa: F821
with job_logging(sm.log[0]):
    make_submission(test_csvs=list(sm.input.tests), test_table=sm.input.table, out_csv=sm.output[0])
