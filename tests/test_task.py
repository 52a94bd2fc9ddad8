"""The task from the config: what it refuses at load, what check_data refuses in the data before any
training (naming the key, file or row), the classes and the submission's shape it reads from the data."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, validated_config
from pawpipe.data import DataError
from pawpipe.task import Task, config_problems
from pawpipe.validate import validate_dataset


def overlay_task(variant: str, **changes) -> dict:
    """The task block of a shipped variant (config/variants/<variant>.yaml) over the schema's defaults."""
    task = validated_config(REPO / "config" / "variants" / f"{variant}.yaml")["task"]
    return {**task, **changes}


@pytest.mark.parametrize("changes, message", [
    ({"type": "multiclass", "metric": "rmse"}, "task.metric: rmse does not fit a multiclass task; use one of roc_auc"),
    ({"type": "regression", "metric": "accuracy"}, "task.metric: accuracy does not fit a regression task"),
    ({"type": "binary", "loss": "mse"}, "task.loss: mse does not fit a binary task"),
    ({"type": "regression", "submission": "probabilities"}, "task.submission: a regression task submits value"),
    ({"image": "{split}/{name}.png"}, "task.image: '{split}/{name}.png' uses ['name']"),
    ({"image": "{split}/photo.png"}, "does not name the row"),
    ({"image": None, "image_column": None}, "task.image: set a file pattern"),
    ({"bounds": None, "loss": "bce"}, "task.loss: bce needs task.bounds"),
])  # fmt: skip
def test_a_task_that_cannot_work_is_refused_at_load_naming_the_key(changes, message):
    task = {**validated_config()["task"], **changes}
    problems = config_problems(task)
    assert any(message in p for p in problems), problems
    with pytest.raises(ValueError, match="task."):
        Task.from_config(task)


def test_the_pawpularity_defaults_and_the_shipped_overlays_are_valid():
    for variant in ("shapes", "spots"):
        assert config_problems(overlay_task(variant)) == []
    assert config_problems(validated_config()["task"]) == []


@pytest.fixture(scope="module")
def shapes_source(tmp_path_factory):
    from pawpipe.demos import make_shapes

    path = tmp_path_factory.mktemp("shapes") / "d"
    make_shapes(path, n_train=40, n_test=6, seed=1)
    return path


@pytest.fixture
def shapes(tmp_path, shapes_source):
    shutil.copytree(shapes_source, tmp_path / "d")
    return tmp_path / "d"


def check(data, **changes):
    return validate_dataset(data, Task.from_config(overlay_task("shapes", **changes)), n_splits=2, workers=1)


def test_check_data_reads_the_classes_and_the_submission_shape(shapes):
    task, train, test = check(shapes)
    assert task.classes == ["circle", "square", "star", "triangle"] and task.n_outputs == 4
    assert task.submission == "probabilities" and task.columns == ["circle", "square", "star", "triangle"]
    assert len(train) == 40 and len(test) == 6 and list(train.columns[:1]) == ["Id"]
    assert task.encode(train["category"]).tolist() == [task.classes.index(c) for c in train["category"]]


@pytest.mark.parametrize("breaks, message", [
    (lambda d: None, "missing column(s) 'label'"),  # task.target names a column the table lacks
    (lambda d: pd.read_csv(d / "train.csv").rename(columns={"image_name": "name"}).to_csv(d / "train.csv", index=False),
     "missing column(s) 'image_name'"),
    (lambda d: shutil.move(d / "train_images", d / "images"), "matches none of the 40 train images"),
    (lambda d: pd.read_csv(d / "sample_submission.csv").rename(columns={"star": "hexagon"}).to_csv(
        d / "sample_submission.csv", index=False), "columns ['hexagon'] are not classes of the training labels"),
    (lambda d: pd.read_csv(d / "train.csv").pipe(lambda t: t.assign(category=["comet", *t["category"][1:]])).to_csv(
        d / "train.csv", index=False), "class 'comet' of 'category' has 1 rows, fewer than folds.n_splits=2"),
])  # fmt: skip
def test_bad_data_for_the_task_fails_before_training_naming_it(shapes, breaks, message):
    breaks(shapes)
    changes = {"target": "label"} if "'label'" in message else {}
    with pytest.raises(DataError) as err:
        check(shapes, **changes)
    assert message in str(err.value), str(err.value)


def test_one_missing_image_is_named_by_its_file(shapes):
    image_id = pd.read_csv(shapes / "train.csv")["image_name"].iloc[3]
    (shapes / "train_images" / f"{image_id}.png").unlink()
    with pytest.raises(DataError, match=rf"train_images/{image_id}.png: image missing for image_name '{image_id}'"):
        check(shapes)


def resolved(kind: str, classes, columns, submission="auto", metric=None):
    cfg = overlay_task("shapes" if kind == "multiclass" else "spots", submission=submission)
    cfg["metric"] = metric or cfg["metric"]
    task = Task.from_config(cfg)
    from pawpipe.task import resolve

    train = pd.DataFrame({"Id": [f"r{i}" for i in range(4 * len(classes))], task.target: list(classes) * 4})
    sample = pd.DataFrame({task.id: ["t0"], **{c: [0.0] for c in columns}})
    return resolve(task, train, sample, 2, {"train": "train.csv", "sample": "sample_submission.csv"})


def test_the_submission_shape_follows_sample_submission_and_the_metric():
    task, problems = resolved("multiclass", ["a", "b", "c"], ["a", "b", "c"])
    assert (task.submission, problems) == ("probabilities", [])
    task, problems = resolved("multiclass", ["a", "b", "c"], ["label"])
    assert (task.submission, task.columns, problems) == ("label", ["label"], [])
    task, _ = resolved("binary", [0, 1], ["target"])
    assert task.submission == "value" and task.classes == [0, 1]  # roc_auc reads probabilities
    task, _ = resolved("binary", [0, 1], ["target"], metric="accuracy")
    assert task.submission == "label"
    _, problems = resolved("multiclass", ["a", "b", "c"], ["a", "b"])
    assert problems == ["sample_submission.csv: no column for the classes ['c'] of the training labels"]


def test_submissions_of_every_shape_are_made_and_checked():
    ids = ["t0", "t1"]
    probs = [np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]), np.array([[0.5, 0.3, 0.2], [0.2, 0.2, 0.6]])]
    task, _ = resolved("multiclass", ["a", "b", "c"], ["c", "a", "b"])  # the sample's column order is kept
    sub = task.submission_frame(ids, probs)
    assert list(sub.columns) == ["image_name", "c", "a", "b"] and sub["a"].tolist() == pytest.approx([0.6, 0.15])
    assert task.submission_problems(sub, ids, "s.csv") == []
    label, _ = resolved("multiclass", ["a", "b", "c"], ["label"])
    assert label.submission_frame(ids, probs)["label"].tolist() == ["a", "c"]
    bad = sub.assign(a=[1.5, 0.1])
    assert any("values of 'a' are not finite numbers in [0, 1]" in p for p in task.submission_problems(bad, ids, "s"))
    wrong = label.submission_frame(ids, probs).assign(label=["a", "zebra"])
    assert any("labels are not classes of the training data, e.g. 'zebra'" in p for p in
               label.submission_problems(wrong, ids, "s"))  # fmt: skip


def test_the_variants_document_themselves():
    for variant in ("shapes", "spots", "digits"):
        text = (REPO / "config" / "variants" / f"{variant}.yaml").read_text()
        assert "snakemake --cores all --configfile config/variants/" in text and yaml.safe_load(text)["exp"] == variant
