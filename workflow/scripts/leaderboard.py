from pawpipe.kaggle.leaderboard import refresh
from pawpipe.kaggle.poll import Poll
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
with job_logging(sm.log[0], sm):
    refresh(
        leaderboard=sm.params.leaderboard,
        cv_json=sm.input.cv,
        exp=sm.params.exp,
        competition=sm.params.competition,
        poll=Poll(**sm.params.poll),
    )
