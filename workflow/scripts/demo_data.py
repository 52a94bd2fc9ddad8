from pawpipe.demo import make_demo
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
with job_logging(sm.log[0]) as log:
    make_demo(sm.params.out_dir, sm.params.n_train, sm.params.n_test, sm.params.seed, sm.params.n_duplicates)
    log.info("demo data: %d train, %d test images in %s", sm.params.n_train, sm.params.n_test, sm.params.out_dir)
