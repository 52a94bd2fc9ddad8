from pawpipe.embed import EmbedSettings
from pawpipe.gpus import job_gpu
from pawpipe.logits import LogitsJob, imagenet_logits
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
settings = EmbedSettings.for_job(sm.params.embed, sm.params.amp, sm.threads)
job = LogitsJob(
    train_npy=sm.input.train_npy,
    test_npy=sm.input.test_npy,
    train_index=sm.input.train_index,
    test_index=sm.input.test_index,
    out_npz=sm.output[0],
)
with job_logging(sm.log[0]), job_gpu(settings.device, uses_gpu=sm.resources.gpu > 0):
    imagenet_logits(job, sm.params.model_args, settings)
