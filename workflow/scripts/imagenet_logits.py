from pawpipe.config import job_runtime
from pawpipe.embed import EmbedSettings
from pawpipe.gpus import job_gpu
from pawpipe.logits import LogitsJob, imagenet_logits
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
how = job_runtime()
settings = EmbedSettings.from_config(
    {**sm.params.embed, **how["embed"]}, {"amp": sm.params.amp, **how["train"]}, sm.threads
)
job = LogitsJob(
    train_npy=sm.input.train_npy,
    test_npy=sm.input.test_npy,
    train_index=sm.input.train_index,
    test_index=sm.input.test_index,
    out_npz=sm.output[0],
)
with job_logging(sm.log[0]), job_gpu(settings.device, uses_gpu=sm.resources.gpu > 0):
    imagenet_logits(job, sm.params.model_args, settings)
