from pawpipe.kaggle.rehearse import rehearse
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
with job_logging(sm.log[0], sm):
    rehearse(
        dataset=sm.input.dataset,
        kernel=sm.input.kernel,
        pipeline_submission=sm.input.submission,
        data_dir=sm.params.data_dir,
        tolerance=sm.params.tolerance,
        out_dir=sm.output[0],
    )
