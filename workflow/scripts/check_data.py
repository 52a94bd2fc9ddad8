from pawpipe.io import write_json
from pawpipe.logs import job_logging
from pawpipe.validate import validate_dataset

sm = snakemake  # noqa: F821
with job_logging(sm.log[0]) as log:
    train, test = validate_dataset(sm.params.data_dir, workers=sm.threads)
    write_json({"data_dir": sm.params.data_dir, "n_train": len(train), "n_test": len(test)}, sm.output[0])
    log.info(
        "%s: %d train and %d test rows; every image present and decodable", sm.params.data_dir, len(train), len(test)
    )
