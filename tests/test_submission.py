import numpy as np
import pandas as pd
import pytest

from conftest import pawpularity_task
from pawpipe.data import DataError
from pawpipe.report import check_submission, make_submission

TASK = pawpularity_task()

IDS = [f"{i:032x}" for i in range(6)]


def sub(ids=IDS, values=None):
    return pd.DataFrame({"Id": ids, "Pawpularity": values if values is not None else np.linspace(10, 90, len(ids))})


def test_the_guard_takes_the_bounds_and_refuses_just_past_them():
    check_submission(sub(values=[1, 100, 50, 1.0, 99.99, 100.0]), IDS, TASK)  # raises on any problem
    with pytest.raises(DataError, match="1 values of 'Pawpularity' are not finite numbers"):
        check_submission(sub(values=[1, 100.001, 50, 1.0, 99.99, 100.0]), IDS, TASK)


@pytest.mark.parametrize("frame, message", [
    (sub(IDS[:-1]), "5 rows, but the test set has 6"),
    (sub(IDS[:-1] + ["f" * 32]), "not in the test set"),
    (sub(IDS[:-1] + IDS[:1]), "duplicated ids"),
    (sub(values=[10, 20, np.nan, 40, 50, 60]), "not finite numbers in \\[1, 100\\]"),
    (sub(values=[10, 20, 30, 40, 50, 100.5]), "not finite numbers"),
    (sub(values=[0.5, 20, 30, 40, 50, 60]), "e.g. id '0{32}'"),
    (sub().rename(columns={"Pawpularity": "score"}), "columns are"),
])  # fmt: skip
def test_bad_submissions_are_caught(frame, message):
    with pytest.raises(DataError, match=message):
        check_submission(frame, IDS, TASK, "submission.csv")


def test_submission_is_the_clipped_mean_of_folds_in_test_order(tmp_path):
    pd.DataFrame({"Id": IDS}).to_csv(tmp_path / "test.csv", index=False)
    paths = []
    for k, values in enumerate([[-5, 10, 20, 30, 40, 150], [5, 20, 30, 40, 50, 150]]):
        p = tmp_path / f"blend_test{k}.csv"
        # Folds may list Ids in any order; the submission follows test.csv.
        pd.DataFrame({"Id": IDS, "blend": values}).iloc[::-1].to_csv(p, index=False)
        paths.append(str(p))
    out = tmp_path / "sub" / "submission.csv"
    make_submission(test_csvs=paths, test_table=str(tmp_path / "test.csv"), task=TASK, out_csv=str(out))
    written = pd.read_csv(out, dtype={"Id": str})
    assert written["Id"].tolist() == IDS
    assert written["Pawpularity"].tolist() == [1, 15, 25, 35, 45, 100]


def test_a_fold_missing_test_rows_writes_nothing(tmp_path):
    pd.DataFrame({"Id": IDS}).to_csv(tmp_path / "test.csv", index=False)
    p = tmp_path / "blend_test0.csv"
    pd.DataFrame({"Id": IDS[:-1], "blend": 50.0}).to_csv(p, index=False)
    out = tmp_path / "submission.csv"
    with pytest.raises(ValueError, match="blend_test0.csv"):
        make_submission(test_csvs=[str(p)], test_table=str(tmp_path / "test.csv"), task=TASK, out_csv=str(out))
    assert not out.exists()
