from pawpipe.kaggle.publish import refresh_leaderboard
from pawpipe.logs import job_logging

sm = snakemake  # noqa: F821
with job_logging(sm.log[0]):
    refresh_leaderboard(
        leaderboard=sm.params.leaderboard, cv_json=sm.input.cv, exp=sm.params.exp, competition=sm.params.competition
    )
