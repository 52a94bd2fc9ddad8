from pawpipe.logs import job_logging
from pawpipe.plots import PlotsJob, make_report_files

sm = snakemake  # noqa: F821
job = PlotsJob(
    cv_json=sm.input.cv,
    oof_csv=sm.input.oof,
    metrics_csvs=list(sm.input.metrics),
    folds=list(sm.params.folds),
    task=sm.input.task,
    out_scores=sm.output.scores,
    out_oof=sm.output.oof,
    out_curve=sm.output.curve,
    out_curves=sm.output.curves,
    out_table=sm.output.table,
)
with job_logging(sm.log[0], sm):
    make_report_files(job)
