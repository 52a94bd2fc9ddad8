from pawpipe.gpus import job_gpu
from pawpipe.logits import imagenet_logits
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
with job_logging(sm.log[0]), job_gpu(sm.params.device):
    imagenet_logits(
        model_args=sm.params.model_args,
        train_npy=sm.input.train_npy,
        test_npy=sm.input.test_npy,
        train_index=sm.input.train_index,
        test_index=sm.input.test_index,
        batch_size=sm.params.batch_size,
        device=sm.params.device,
        amp=sm.params.amp,
        threads=sm.threads,
        hflip=sm.params.tta_hflip,
        out_npz=sm.output[0],
    )
