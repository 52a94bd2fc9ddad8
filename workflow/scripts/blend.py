from pawpipe.blend import BlendJob, blend_fold
from pawpipe.logs import job_logging
from pawpipe.tracking import tracked

sm = snakemake  # noqa: F821
job = BlendJob(
    fold=sm.params.fold,
    oof={h: sm.input[f"{h}_oof"] for h in sm.params.heads},
    test={h: sm.input[f"{h}_test"] for h in sm.params.heads},
    out_oof=sm.output.oof,
    out_test=sm.output.test,
    out_json=sm.output.summary,
    task=sm.input.task,
)
with job_logging(sm.log[0], sm), tracked(sm.wildcards.exp, "blend", sm.params.fold) as tracker:
    summary = blend_fold(job, sm.params.weight, sm.params.seed)
    tracker.summary({**{f"weight_{k}": v for k, v in summary["weights"].items()},
                     **{f"score_{k}": v for k, v in summary["scores"].items()}})  # fmt: skip
