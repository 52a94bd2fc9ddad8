from pawpipe.kaggle_package import package
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
with job_logging(sm.log[0]):
    package(
        folds=list(sm.params.folds),
        files={
            name: list(sm.input[key])
            for name, key in [
                ("best.pt", "best"),
                ("model.onnx", "onnx"),
                ("onnx.json", "onnx_report"),
                ("svr.npz", "svr"),
                ("blend.json", "blend"),
            ]
            if key in sm.input.keys()
        },
        resolved_config=sm.params.resolved,
        repo=sm.params.repo,
        owner=sm.params.owner,
        exp=sm.params.exp,
        competition=sm.params.competition,
        out_dataset=sm.output.dataset,
        out_kernel=sm.output.kernel,
        weights_dtype=sm.params.weights_dtype,
        accelerator=sm.params.accelerator,
    )
