from pawpipe.kaggle.poll import Poll
from pawpipe.kaggle.publish import PublishJob, Route, publish
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
job = PublishJob(
    cv_json=sm.input.cv,
    test_table=sm.input.table,
    task=sm.input.task,
    leaderboard=sm.params.leaderboard,
    state=sm.params.state,
    dataset_dir=sm.input.get("dataset"),
    kernel_dir=sm.input.get("kernel"),
    submission=sm.input.get("submission"),
)
route = Route(
    exp=sm.params.exp,
    competition=sm.params.competition,
    route=sm.params.route,
    message=sm.params.message,
    poll=Poll(**sm.params.poll),
    dry_run=sm.params.dry_run,
)
with job_logging(sm.log[0], sm):
    publish(job, route)
