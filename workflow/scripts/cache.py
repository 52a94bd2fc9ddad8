from pawpipe.cache import ImageSpec, build_cache
from pawpipe.data import read_table
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
spec = ImageSpec.from_config(sm.params.image)
with job_logging(sm.log[0]):
    ids = read_table(sm.input.table)["Id"].tolist()
    build_cache(ids, sm.params.data_dir, sm.wildcards.split, spec, sm.output.npy, sm.output.index, workers=sm.threads)
