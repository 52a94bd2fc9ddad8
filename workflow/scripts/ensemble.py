from pawpipe.ensemble import EnsembleJob, ensemble
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
job = EnsembleJob(
    name=sm.params.name,
    experiments=list(sm.params.experiments),
    oof_csvs=list(sm.input.oof),
    cv_jsons=list(sm.input.cv),
    task_jsons=list(sm.input.task),
    test_csvs={e: [p for p in sm.input.tests if p.startswith(f"models/{e}/")] for e in sm.params.experiments},
    test_table=sm.input.table,
    out_json=sm.output.summary,
    out_oof=sm.output.oof,
    out_submission=sm.output.submission,
)
with job_logging(sm.log[0], sm):
    ensemble(job)
