from pawpipe.demos import get_demo
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
with job_logging(sm.log[0], sm) as log:
    get_demo(sm.params.kind).make(sm.params.out_dir, sm.params.n_train, sm.params.n_test, sm.params.seed,
                                  sm.params.n_duplicates)  # fmt: skip
    log.info("demo data (%s): %d train, %d test images in %s", sm.params.kind, sm.params.n_train, sm.params.n_test,
             sm.params.out_dir)  # fmt: skip
