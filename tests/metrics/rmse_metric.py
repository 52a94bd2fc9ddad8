"""Pawpularity's RMSE written as a Kaggle metric file (score(solution, submission, row_id_column_name)),
for the tests: it must give the CV, the best epoch and the blend weights that the built-in rmse gives."""

import numpy as np
import pandas as pd
from kaggle_metric_utilities import ParticipantVisibleError


def score(solution: pd.DataFrame, submission: pd.DataFrame, row_id_column_name: str) -> float:
    if len(solution) != len(submission):
        raise ParticipantVisibleError("the submission has another number of rows than the solution")
    truth = solution.drop(columns=[row_id_column_name]).to_numpy(float)
    pred = submission.drop(columns=[row_id_column_name]).to_numpy(float)
    return float(np.sqrt(np.mean((truth - pred) ** 2)))
