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
    ({"type": "ranking"}, "task.type: unknown type 'ranking'; known: "),
    ({"type": "multitarget", "target": ["a", "b"], "bounds": [[0, 1]]}, "task.bounds: [[0, 1]] is neither"),
    ({"type": "softlabel", "target": "votes", "metric": "kl_divergence"}, "soft labels are a column per class"),
    ({"type": "multilabel", "metric": "rmse"}, "task.metric: rmse does not fit a multilabel task"),
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
    assert task.encode(train).tolist() == [task.classes.index(c) for c in train["category"]]


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


def test_every_type_is_a_registered_class_and_the_record_names_it():
    """Task types by name, like timm's register_model: the config's name gives the class that owns the
    behaviour, task.json loads back as that class, and a record cannot claim another type."""
    from pawpipe.task import TYPES, TaskError

    assert {"regression", "multitarget", "binary", "multiclass", "multilabel", "softlabel"} <= set(TYPES)
    task = Task.from_config(validated_config()["task"])
    assert type(task) is TYPES["regression"] and type(Task.load(task.to_dict())) is TYPES["regression"]
    with pytest.raises(TaskError, match="a regression task cannot have task.type 'binary'"):
        TYPES["regression"](**{**task.to_dict(), "type": "binary"})


def test_no_stage_outside_the_tables_branches_on_a_type_or_a_metric_name():
    """Stages ask the task object (and the metric entry); a new type is an entry, not an edit of ten
    modules. No module of the library outside pawpipe.task and pawpipe.metrics names a type or a metric
    in its code, nor tests a task's type, submission or class-ness."""
    import re

    from pawpipe.metrics import METRICS
    from pawpipe.task import TYPES

    names = set(TYPES) | set(METRICS)
    tables = ("src/pawpipe/task/", "src/pawpipe/metrics.py", "src/pawpipe/metric_file.py")
    branch = re.compile(
        r"task\.type\s*(==|!=|in\b)|\.classification\b|task\.submission\s*(==|!=|in\b)|metric\s*(==|!=)"
    )
    found = []
    for path in sorted((REPO / "src" / "pawpipe").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith(tables):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            literals = {m.group(1) for m in re.finditer(r"""["']([a-z_0-9]+)["']""", code)}
            if literals & names or branch.search(code):
                found.append(f"{rel}:{n}: {line.strip()}")
    assert not found, "\n".join(found)


LAYOUTS = {  # a variant of each new type, each in its own layout
    "multilabel": "labels", "softlabel": "mixtures", "multitarget": "digit_measures",
}  # fmt: skip


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    """Each new type's demo, written once (small), as its variant describes it."""
    from pawpipe.demos import get_demo

    root, out = tmp_path_factory.mktemp("layouts"), {}
    for kind, variant in LAYOUTS.items():
        cfg = overlay_task(variant)
        get_demo(validated_config(REPO / "config" / "variants" / f"{variant}.yaml")["data"]["demo"]["kind"]).make(
            root / variant, 60, 8, 0, 0
        )
        out[kind] = (root / variant, cfg)
    return out


def checked(path, cfg, n_splits=2):
    return validate_dataset(path, Task.from_config(cfg), n_splits=n_splits, workers=1)


@pytest.mark.parametrize("kind", sorted(LAYOUTS))
def test_each_new_type_resolves_its_outputs_and_submission_from_the_data(layouts, kind, tmp_path):
    path, cfg = layouts[kind]
    task, train, _ = checked(path, cfg)
    expected = {"multilabel": ("labels", ["labels"], ["circle", "square", "star", "triangle"]),
                "softlabel": ("probabilities", ["red_vote", "green_vote", "blue_vote"], ["red_vote", "green_vote",
                                                                                       "blue_vote"]),
                "multitarget": ("values", ["value", "ink", "top"], None)}[kind]  # fmt: skip
    assert (task.submission, task.columns, task.classes) == expected
    y = task.encode(train)
    assert y.shape == (60, task.n_outputs) and task.n_outputs == (3 if kind != "multilabel" else 4)
    folds = task.split(train, 2, 0, np.arange(len(train)))
    assert sorted(np.unique(folds)) == [0, 1] and min(np.bincount(folds)) >= 20


def broken(layouts, kind, tmp_path, edit):
    path, cfg = layouts[kind]
    shutil.copytree(path, tmp_path / "d")
    edit(tmp_path / "d")
    return tmp_path / "d", cfg


@pytest.mark.parametrize("kind, edit, message", [
    ("multilabel", lambda d: pd.read_csv(d / "sample_submission.csv").drop(columns="labels").assign(circle=0.5,
        square=0.5).to_csv(d / "sample_submission.csv", index=False),
     "the training labels ['star', 'triangle'] are not among its columns"),
    ("softlabel", lambda d: pd.read_csv(d / "train.csv").pipe(lambda t: t.assign(
        red_vote=[3.0, *t["red_vote"][1:]])).to_csv(d / "train.csv", index=False),
     "line 2 (spectrogram_id "),
    ("softlabel", lambda d: pd.read_csv(d / "train.csv").drop(columns="blue_vote").to_csv(d / "train.csv", index=False),
     "missing column(s) 'blue_vote'"),
    ("multitarget", lambda d: pd.read_csv(d / "train.csv").drop(columns="ink").to_csv(d / "train.csv", index=False),
     "missing column(s) 'ink'"),
    ("multitarget", lambda d: pd.read_csv(d / "train.csv").pipe(lambda t: t.assign(value=[12.0, *t["value"][1:]]))
     .to_csv(d / "train.csv", index=False), "value is 12.0, expected a number in [0, 9]"),
])  # fmt: skip
def test_bad_input_of_a_new_type_fails_before_training_naming_it(layouts, kind, edit, message, tmp_path):
    path, cfg = broken(layouts, kind, tmp_path, edit)
    with pytest.raises(DataError) as err:
        checked(path, cfg)
    assert message in str(err.value), str(err.value)
    if kind == "softlabel" and "line 2" in message:
        assert "sum to 4" in str(err.value) and "divided by the row's total" in str(err.value)


def test_a_multilabel_task_with_label_columns_refuses_a_sample_without_them(tmp_path):
    from pawpipe.digits import make_digit_tags

    make_digit_tags(tmp_path / "d", 60, 8, 0)
    sample = pd.read_csv(tmp_path / "d" / "sample_submission.csv").drop(columns="odd")
    sample.to_csv(tmp_path / "d" / "sample_submission.csv", index=False)
    with pytest.raises(DataError, match=r"the training labels \['odd'\] are not among its columns"):
        checked(tmp_path / "d", overlay_task("digit_tags"))


SHAPES = [  # (variant, submission it resolves to): every type, metric kind and submission shape
    ("shapes", "probabilities"), ("digits", "probabilities"), ("spots", "value"), ("labels", "labels"),
    ("mixtures", "probabilities"), ("digit_tags", "probabilities"), ("digit_measures", "values"),
]  # fmt: skip


def synthetic_prediction(task, y, rng):
    """A prediction of the task's shape with some signal about y (encoded targets)."""
    n = len(y)
    if task.n_outputs == 1 and np.issubdtype(np.asarray(y).dtype, np.integer):
        return np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, n), 0, 1)
    if task.n_outputs == 1:
        return y + rng.normal(0, 3, n)
    if y.ndim == 1:  # class indices
        logits = rng.normal(0, 1, (n, task.n_outputs)) + 2 * np.eye(task.n_outputs)[y]
        return np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    if np.issubdtype(y.dtype, np.integer):  # 0/1 per label
        return np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, y.shape), 0, 1)
    if np.allclose(y.sum(1), 1):  # distributions
        noisy = np.clip(y + rng.uniform(0, 0.3, y.shape), 1e-3, None)
        return noisy / noisy.sum(1, keepdims=True)
    return y + rng.normal(0, 0.2, y.shape) * y.std(axis=0)


@pytest.mark.parametrize("variant, submission", SHAPES, ids=[v for v, _ in SHAPES])
@pytest.mark.parametrize("metric_kind", ["own", "labels"])
def test_the_metric_on_the_submitted_values_is_the_cv_figure(variant, submission, metric_kind, tmp_path):
    """One function turns a prediction into what is submitted and what the metric scores: the submission
    made from out-of-fold predictions, written and read back as the file is, scores exactly what the CV
    reports, for every type, metric kind and submission shape."""
    from pawpipe.demos import get_demo
    from pawpipe.io import read_csv, write_csv
    from pawpipe.metrics import METRICS

    config = validated_config(*([REPO / "config/variants/shapes.yaml"] if variant == "digits" else []),
                              REPO / "config" / "variants" / f"{variant}.yaml")  # fmt: skip
    cfg = dict(config["task"])
    if metric_kind == "labels":  # a metric on labels for the same type (or skip where it has none)
        on_labels = [m.name for m in METRICS.values() if cfg["type"] in m.tasks and m.reads == "labels"]
        if not on_labels:
            pytest.skip(f"no metric on labels fits a {cfg['type']} task")
        cfg["metric"] = on_labels[0]
    get_demo(config["data"]["demo"]["kind"]).make(tmp_path / "d", 60, 8, 0, 0)
    task, train, _ = checked(tmp_path / "d", cfg)
    assert task.submission == submission or metric_kind == "labels"
    y = task.encode(train)
    pred = synthetic_prediction(task, y, np.random.default_rng(0))
    cv = task.score(y, pred)
    sub = task.submission_frame(train["Id"].tolist(), [pred])
    write_csv(sub, tmp_path / "oof_submission.csv")
    read_back = read_csv(tmp_path / "oof_submission.csv", id_column=task.id)
    metric = task.scorer
    scored = metric.score(y, task.read_submission(read_back, metric.reads), **task.metric_facts(metric))
    assert scored == pytest.approx(cv, abs=1e-9)
    assert task.submission_problems(read_back, train["Id"].tolist(), "oof") == []


def test_a_regression_scored_by_kappa_submits_whole_grades_within_its_bounds(tmp_path):
    """An APTOS-style ordinal target scored by quadratic kappa: `submission: auto` gives whole grades, the
    CV scores those grades, and a submission of floats is refused."""
    import dataclasses

    from conftest import task_of

    task = dataclasses.replace(task_of("regression", metric="qwk", bounds=[0, 4], columns=["diagnosis"]),
                               submission="label")  # fmt: skip
    ids = [f"r{i}" for i in range(6)]
    sub = task.submission_frame(ids, [np.array([-0.7, 0.4, 1.6, 2.49, 3.51, 9.0])])
    assert sub["diagnosis"].tolist() == [0, 0, 2, 2, 4, 4] and task.submission_problems(sub, ids, "s") == []
    floats = sub.assign(diagnosis=[0.5, 0, 2, 2, 4, 4])
    assert any("not whole grades in [0, 4]" in p for p in task.submission_problems(floats, ids, "s"))
    from pawpipe.task import resolve

    cfg = {**validated_config()["task"], "metric": "qwk", "bounds": [0, 4], "target": "diagnosis"}
    train = pd.DataFrame({"Id": ids, "diagnosis": [0, 1, 2, 3, 4, 2]})
    resolved, problems = resolve(Task.from_config(cfg), train, pd.DataFrame({"Id": ["t"], "diagnosis": [0]}), 2,
                                 {"train": "train.csv", "sample": "sample.csv"})  # fmt: skip
    assert problems == [] and resolved.submission == "label"
