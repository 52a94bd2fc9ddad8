from pawpipe.logs import job_logging
from pawpipe.report import CVJob, cv_report
from pawpipe.tracking import tracked

sm = snakemake  # noqa: F821
job = CVJob(
    exp=sm.params.exp,
    folds_csv=sm.input.folds,
    oof_csvs=list(sm.input.oof),
    blend_jsons=list(sm.input.blend),
    svr_jsons=list(sm.input.svr),
    metrics_csvs=list(sm.input.metrics),
    out_json=sm.output.cv,
    out_oof=sm.output.oof,
    task=sm.input.task,
    tuning_json=sm.input.get("tuning"),
    selection_json=sm.input.get("selection"),
    image=dict(sm.params.image),
    decision_rule=sm.params.decision,
    out_decision=sm.output.decision,
)
with job_logging(sm.log[0], sm), tracked(sm.params.exp, "cv") as tracker:
    report = cv_report(job)
    tracker.summary({f"cv_{report['task']['metric']}_{k}": v for k, v in report["scores"].items()})
