from pawpipe.io import write_json
from pawpipe.logs import job_logging
from pawpipe.model import check_pretrained

sm = snakemake  # noqa: F821
with job_logging(sm.log[0], sm) as log:
    result = check_pretrained(sm.params.model_args)
    write_json(result, sm.output[0])
    log.info("pretrained weights: %s", result)
