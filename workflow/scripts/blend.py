from pawpipe.blend import BlendJob, blend_fold
from pawpipe.logs import job_logging
from pawpipe.tracking import tracked

sm = snakemake  # noqa: F821
job = BlendJob(
    fold=sm.params.fold,
    mlp_oof=sm.input.mlp_oof,
    svr_oof=sm.input.svr_oof,
    mlp_test=sm.input.mlp_test,
    svr_test=sm.input.svr_test,
    out_oof=sm.output.oof,
    out_test=sm.output.test,
    out_json=sm.output.summary,
)
with job_logging(sm.log[0]), tracked(sm.wildcards.exp, "blend", sm.params.fold) as tracker:
    summary = blend_fold(job, sm.params.weight, sm.params.seed)
    tracker.summary({"weight_mlp": summary["weight_mlp"], **{f"rmse_{k}": v for k, v in summary["rmse"].items()}})
