from pawpipe.blend import blend_fold
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
with job_logging(sm.log[0]):
    blend_fold(
        mlp_oof=sm.input.mlp_oof,
        svr_oof=sm.input.svr_oof,
        mlp_test=sm.input.mlp_test,
        svr_test=sm.input.svr_test,
        fold=sm.params.fold,
        weight=sm.params.weight,
        out_oof=sm.output.oof,
        out_test=sm.output.test,
        out_json=sm.output.summary,
    )
