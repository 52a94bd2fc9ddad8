"""A competition metric in Kaggle's contract, written the way Kaggle publishes its metric files (this one
the shape of HMS 2024's): score(solution, submission, row_id_column_name, **kwargs), the participant's
errors raised as ParticipantVisibleError, the work done through kaggle_metric_utilities (which is not
on any registry; pawpipe provides it where it is missing)."""

import kaggle_metric_utilities
import numpy as np
import pandas as pd
import pandas.api.types


class ParticipantVisibleError(Exception):
    pass


def kl_divergence(solution: pd.DataFrame, submission: pd.DataFrame, epsilon: float) -> float:
    for col in solution.columns:
        if not pandas.api.types.is_float_dtype(solution[col]):
            solution[col] = solution[col].astype(float)
        submission[col] = np.clip(submission[col], epsilon, 1 - epsilon)
        y_nonzero = solution[col] != 0
        solution[col] = solution[col].astype(float)
        solution.loc[y_nonzero, col] = solution.loc[y_nonzero, col] * np.log(
            solution.loc[y_nonzero, col] / submission.loc[y_nonzero, col]
        )
        solution.loc[~y_nonzero, col] = 0
    return float(np.average(solution.sum(axis=1)))


def score(solution: pd.DataFrame, submission: pd.DataFrame, row_id_column_name: str, epsilon: float = 1e-15) -> float:
    del solution[row_id_column_name]
    del submission[row_id_column_name]
    if not pandas.api.types.is_numeric_dtype(submission.values):
        bad_dtypes = {
            x: submission[x].dtype for x in submission.columns if not pandas.api.types.is_numeric_dtype(submission[x])
        }
        raise ParticipantVisibleError(f"Invalid submission data types found: {bad_dtypes}")
    kaggle_metric_utilities.verify_valid_probabilities(submission, "submission")
    return kaggle_metric_utilities.safe_call_score(kl_divergence, solution, submission, epsilon=epsilon)
