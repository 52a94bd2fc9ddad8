from pawpipe.logs import job_logging
from pawpipe.report import cv_report
from pawpipe.tracking import tracked

sm = snakemake  # noqa: F821
with job_logging(sm.log[0]), tracked(sm.params.exp, "report") as tracker:
    report = cv_report(
        oof_csvs=list(sm.input.oof),
        blend_jsons=list(sm.input.summaries),
        folds_csv=sm.input.folds,
        exp=sm.params.exp,
        out_json=sm.output.cv,
        out_oof=sm.output.oof,
        tuning_json=sm.input.get("tuning"),
    )
    tracker.summary({f"cv_rmse_{k}": v for k, v in report["rmse"].items()})
