from pawpipe.data import load_tables
from pawpipe.io import write_json
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
with job_logging(sm.log[0]) as log:
    train, test = load_tables(sm.params.data_dir)
    write_json({"data_dir": sm.params.data_dir, "n_train": len(train), "n_test": len(test)}, sm.output[0])
    log.info("%s: %d train and %d test rows, every image file present", sm.params.data_dir, len(train), len(test))
