from pawpipe.kaggle.cli import download
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
with job_logging(sm.log[0], sm):
    download(sm.params.out_dir, sm.params.competition)
