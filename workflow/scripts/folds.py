from pawpipe.data import load_tables
from pawpipe.folds import make_folds
from pawpipe.io import write_csv
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
with job_logging(sm.log[0]) as log:
    train, _ = load_tables(sm.params.data_dir, check_images=False)
    folds = make_folds(train, sm.params.n_splits, sm.params.seed)
    write_csv(folds, sm.output[0])
    log.info("folds: %s rows per fold", folds["fold"].value_counts().sort_index().tolist())
