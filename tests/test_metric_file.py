"""A competition's own metric file as the task's metric: Kaggle's contract, run unmodified (with the
kaggle_metric_utilities it imports), wherever the pipeline uses a metric; errors that name the file."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import REPO, task_of, validated_config
from pawpipe.metric_file import MetricFileError, load_score

METRICS = REPO / "tests" / "metrics"


def file_task(kind: str, path, greater: bool, **fields):
    return task_of(kind, metric={"file": str(path), "greater_is_better": greater, "label": None, "args": {}}, **fields)


def test_a_metric_file_scores_what_the_built_in_metric_scores():
    """Pawpularity's RMSE as a metric file and HMS's KL divergence as Kaggle wrote it (kaggle_metric_utilities
    and all): on the same predictions, the same figure as the built-in, in the file's direction."""
    rng = np.random.default_rng(0)
    y = rng.uniform(1, 100, 200)
    pred = y + rng.normal(0, 10, 200)
    builtin = task_of("regression", columns=["Pawpularity"], submission="value")
    mine = file_task("regression", METRICS / "rmse_metric.py", False, columns=["Pawpularity"], submission="value")
    assert mine.score(y, pred) == pytest.approx(builtin.score(y, pred), abs=1e-12)
    assert mine.scorer.name == "rmse_metric" and not mine.scorer.greater_is_better
    classes = ["a_vote", "b_vote", "c_vote"]
    shares = rng.dirichlet([1, 1, 1], 200)
    guess = rng.dirichlet([2, 2, 2], 200)
    soft = dict(target=classes, classes=classes, columns=classes[::-1], submission="probabilities")
    kl = file_task("softlabel", METRICS / "kl_divergence_metric.py", False, **soft)
    assert kl.score(shares, guess) == pytest.approx(
        task_of("softlabel", metric="kl_divergence", **soft).score(shares, guess)
    )


def write(tmp_path, name, body):
    path = tmp_path / f"{name}.py"
    path.write_text(body)
    return path


@pytest.mark.parametrize("body, message", [
    ("def scores(solution, submission, row_id_column_name):\n    return 1.0\n", "no score() function"),
    ("import nowhere_to_be_found\n", "does not load (ModuleNotFoundError"),
    ("class ParticipantVisibleError(Exception):\n    pass\n\n\ndef score(solution, submission, row_id_column_name):\n"
     "    raise ParticipantVisibleError('Submission must have no negative values')\n",
     "score() raised ParticipantVisibleError: Submission must have no negative values"),
    ("def score(solution, submission, row_id_column_name):\n    return float('nan')\n", "not a finite number"),
    ("def score(solution, submission, row_id_column_name):\n    return 'high'\n", "returned 'high', not a number"),
])  # fmt: skip
def test_a_bad_metric_file_fails_naming_the_file(tmp_path, body, message):
    path = write(tmp_path, "competition_metric", body)
    task = file_task("regression", path, False, columns=["Pawpularity"], submission="value")
    with pytest.raises(MetricFileError, match=r"competition_metric\.py") as err:
        task.score(np.ones(4), np.ones(4))
    assert message in str(err.value)


def test_a_missing_or_broken_metric_file_stops_the_run_at_load(tmp_path):
    from pawpipe.config import config_problems

    config = validated_config()
    config["task"]["metric"] = {"file": str(tmp_path / "absent.py"), "greater_is_better": True}
    assert any("absent.py not found" in p for p in config_problems(config))
    config["task"]["metric"]["file"] = str(write(tmp_path, "nothing", "x = 1\n"))
    assert any("nothing.py: no score() function" in p for p in config_problems(config))


def test_the_stand_in_for_kaggle_metric_utilities_has_what_metric_files_use():
    import pandas as pd

    load_score(str(METRICS / "kl_divergence_metric.py"))
    import kaggle_metric_utilities as kmu

    for name in ("ParticipantVisibleError", "HostVisibleError", "safe_call_score", "verify_valid_probabilities",
                 "treat_as_participant_error"):  # fmt: skip
        assert hasattr(kmu, name), name
    with pytest.raises(kmu.ParticipantVisibleError, match="do not add to one"):
        kmu.verify_valid_probabilities(pd.DataFrame({"a": [0.5], "b": [0.4]}), "submission")
    with pytest.raises(kmu.ParticipantVisibleError, match="broken"):  # a message without digits may be shown
        kmu.safe_call_score(lambda s, t: (_ for _ in ()).throw(ValueError("broken")), pd.DataFrame({"a": [1.0]}), None)


@pytest.mark.slow
def test_a_metric_file_drives_the_whole_run_as_the_built_in_would(pipeline_run, tmp_path):
    """The tiny run with Pawpularity's RMSE given as a metric file: every stage that uses a metric uses the
    file, and since it computes RMSE, the run's figures are the built-in run's: the epoch each fold
    chose, the blend's weights, the CV; its metrics.csv and the board name the file's metric."""
    import json
    import shutil

    import pandas as pd
    import yaml

    from conftest import run_snakemake

    work = tmp_path / "run"
    shutil.copytree(pipeline_run, work, symlinks=True)
    metric = {"file": str(METRICS / "rmse_metric.py"), "greater_is_better": False, "label": "RMSE (metric file)"}
    (work / "metric.yaml").write_text(yaml.safe_dump({"task": {"metric": metric}}))
    run_snakemake(work, "--cores", "2", "--configfile", "config/config.yaml", "metric.yaml")
    before = json.loads((pipeline_run / "models/tiny/cv.json").read_text())
    after = json.loads((work / "models/tiny/cv.json").read_text())
    assert after["task"]["metric"] == "rmse_metric" and after["task"]["label"] == "RMSE (metric file)"
    for key in ("mlp", "svr", "blend", "blend_in_sample", "baseline"):
        assert after["scores"][key] == pytest.approx(before["scores"][key], abs=1e-9), key
    assert [f["weights"] for f in after["folds"]] == [f["weights"] for f in before["folds"]]
    for k in range(2):
        a = pd.read_csv(pipeline_run / f"models/tiny/fold{k}/metrics.csv")
        b = pd.read_csv(work / f"models/tiny/fold{k}/metrics.csv")
        assert b["val_rmse_metric"].to_numpy() == pytest.approx(a["val_rmse"].to_numpy(), abs=1e-9)
    assert pd.read_csv(work / "models/board.csv")["metric"].tolist() == ["rmse_metric"]
