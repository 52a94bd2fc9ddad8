from pawpipe.config import job_runtime
from pawpipe.gpus import job_gpu
from pawpipe.logs import job_logging
from pawpipe.stack import StackJob, StackSettings, resolve_device, run_stack

sm = snakemake  # noqa: F821
how = job_runtime()["stack"]
job = StackJob.of_rule(sm, train_table=sm.input.train_table, out_models=sm.output.models, out_cv=sm.output.cv)
with job_logging(sm.log[0], sm), job_gpu(how["device"], uses_gpu=sm.resources.gpu > 0):
    settings = {**sm.params.settings, **how, "threads": sm.threads}
    settings["device"] = resolve_device(settings["device"])
    run_stack(job, StackSettings(**settings, seed=sm.params.seed))
