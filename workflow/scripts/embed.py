from pawpipe.embed import embed_fold
from pawpipe.gpus import job_gpu
from pawpipe.logs import job_logging
from pawpipe.tracking import tracked

sm = snakemake  # noqa: F821
with (
    job_logging(sm.log[0]),
    job_gpu(sm.params.device, uses_gpu=sm.resources.gpu > 0),
    tracked(sm.wildcards.exp, "embed", sm.params.fold) as tracker,
):
    result = embed_fold(
        checkpoint=sm.input.checkpoint,
        folds_csv=sm.input.folds,
        train_npy=sm.input.train_npy,
        test_npy=sm.input.test_npy,
        test_index=sm.input.test_index,
        fold=sm.params.fold,
        batch_size=sm.params.batch_size,
        device=sm.params.device,
        amp=sm.params.amp,
        threads=sm.threads,
        tta_hflip=sm.params.tta_hflip,
        train_table=sm.input.train_table,
        test_table=sm.input.test_table,
        out_npz=sm.output.embeddings,
        out_oof=sm.output.oof,
        out_test=sm.output.test,
        engine=sm.params.engine,
        onnx_model=sm.input.get("onnx_model") or None,
        onnx_report=sm.input.get("onnx_report") or None,
    )
    tracker.summary(result)
