from pawpipe.board import BoardJob, write_board
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
job = BoardJob(
    cv_jsons=list(sm.input.cv),
    experiment_jsons=list(sm.input.experiment),
    base=dict(sm.params.base),
    out_csv=sm.output.table,
    out_plot=sm.output.plot,
    stack_jsons=list(sm.input.get("stacks", [])),
)
with job_logging(sm.log[0], sm):
    write_board(job)
