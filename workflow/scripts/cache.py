from pawpipe.cache import ImageSpec, build_cache
from pawpipe.data import read_table
from pawpipe.logs import job_logging
from pawpipe.task import Task

sm = snakemake  # noqa: F821
spec = ImageSpec.from_config(sm.params.image)
with job_logging(sm.log[0], sm):
    task = Task.load(sm.input.task)
    table = read_table(sm.input.table, task.id)
    paths = task.image_paths(sm.params.data_dir, sm.wildcards.split, table)
    build_cache(table["Id"].tolist(), paths, sm.wildcards.split, spec, sm.output.npy, sm.output.index, sm.threads)
