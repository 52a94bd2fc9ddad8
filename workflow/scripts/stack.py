from pawpipe.config import job_runtime
from pawpipe.gpus import job_gpu
from pawpipe.logs import job_logging
from pawpipe.stack import StackJob, StackSettings, resolve_device, run_stack

sm = snakemake  # noqa: F821
how = job_runtime()["stack"]
job = StackJob(
    name=sm.params.name,
    experiments=list(sm.params.experiments),
    oof_csvs=list(sm.input.oof),
    cv_jsons=list(sm.input.cv),
    task_jsons=list(sm.input.task),
    test_csvs={e: [p for p in sm.input.tests if p.startswith(f"models/{e}/")] for e in sm.params.experiments},
    train_table=sm.input.train_table,
    test_table=sm.input.table,
    out_json=sm.output.summary,
    out_oof=sm.output.oof,
    out_models=sm.output.models,
    out_submission=sm.output.submission,
    out_cv=sm.output.cv,
)
with job_logging(sm.log[0], sm), job_gpu(how["device"], uses_gpu=sm.resources.gpu > 0):
    settings = {**sm.params.settings, **how, "threads": sm.threads}
    settings["device"] = resolve_device(settings["device"])
    run_stack(job, StackSettings(**settings, seed=sm.params.seed))
