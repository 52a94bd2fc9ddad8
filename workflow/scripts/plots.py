from pawpipe.logs import job_logging
from pawpipe.plots import make_report_files

sm = snakemake  # noqa: F821
with job_logging(sm.log[0]):
    make_report_files(
        cv_json=sm.input.cv,
        oof_csv=sm.input.oof,
        metrics_csvs=list(sm.input.metrics),
        folds=list(sm.params.folds),
        out_rmse=sm.output.rmse,
        out_scatter=sm.output.scatter,
        out_curves=sm.output.curves,
        out_table=sm.output.table,
    )
