from pawpipe.io import write_json
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
with job_logging(sm.log[0], sm):
    record = {"exp": sm.wildcards.exp, "sweep": sm.params.sweep, "changed": dict(sm.params.changed)}
    write_json({**record, "config": dict(sm.params.config)}, sm.output[0])
