from pawpipe.embed import EmbedJob, EmbedSettings, embed_fold
from pawpipe.gpus import job_gpu
from pawpipe.logs import job_logging
from pawpipe.tracking import tracked

sm = snakemake  # noqa: F821
settings = EmbedSettings.for_job(sm.params.embed, sm.params.amp, sm.threads)
job = EmbedJob(
    fold=sm.params.fold,
    checkpoint=sm.input.checkpoint,
    folds_csv=sm.input.folds,
    train_npy=sm.input.train_npy,
    train_index=sm.input.train_index,
    test_npy=sm.input.test_npy,
    test_index=sm.input.test_index,
    train_table=sm.input.train_table,
    test_table=sm.input.test_table,
    out_npz=sm.output.embeddings,
    out_oof=sm.output.oof,
    out_test=sm.output.test,
    task=sm.input.task,
    onnx_model=sm.input.get("onnx_model") or None,
    onnx_report=sm.input.get("onnx_report") or None,
)
with (
    job_logging(sm.log[0], sm),
    job_gpu(settings.device, uses_gpu=sm.resources.gpu > 0),
    tracked(sm.wildcards.exp, "embed", sm.params.fold) as tracker,
):
    tracker.summary(embed_fold(job, settings))
