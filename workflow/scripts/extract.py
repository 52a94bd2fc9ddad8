from pawpipe.embed import EmbedSettings
from pawpipe.extract import ExtractJob, extract
from pawpipe.gpus import job_gpu
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
settings = EmbedSettings.for_job(sm.params.embed, sm.params.amp, sm.threads)
job = ExtractJob(
    data_dir=sm.params.data_dir,
    train_table=sm.input.train_table,
    test_table=sm.input.test_table,
    out_table=sm.output.table,
    out_info=sm.output.info,
    task=sm.input.task,
)
with job_logging(sm.log[0], sm), job_gpu(settings.device, uses_gpu=sm.resources.gpu > 0):
    extract(job, sm.params.extractor, sm.params.seed, settings)
