"""The second-level stacker (pawpipe.stack): gradient-boosted trees over experiments' out-of-fold
predictions and the tabular columns, honestly cross-validated, checked before any fit."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import pawpularity_task, task_of, write_task
from pawpipe.data import DataError
from pawpipe.io import write_csv
from pawpipe.stack import StackJob, StackSettings, load_booster, predict_stacker, run_stack

SETTINGS = StackSettings(n_estimators=200, learning_rate=0.1, max_depth=3, subsample=1.0, colsample_bytree=1.0,
                         min_child_weight=1.0, reg_lambda=1.0, early_stopping_rounds=20, validation_share=0.2,
                         summaries=True, tabular=None)  # fmt: skip


def experiments(
    tmp_path,
    task,
    target: pd.Series,
    heads: dict[str, dict[str, np.ndarray]],
    tabular: pd.DataFrame,
    test_heads: dict[str, dict[str, np.ndarray]] | None = None,
    folds: int = 3,
) -> StackJob:
    """Experiments' files as a run leaves them (oof.csv, cv.json, task.json, each fold's blend_test.csv) and
    the tables; `heads`: experiment -> head -> OOF prediction (n,)."""
    n, ids = len(target), [f"r{i:04d}" for i in range(len(target))]
    test_ids = [f"t{i}" for i in range(20)]
    fold = np.arange(n) % folds
    table = tabular.assign(Id=ids, **{task.target: target.to_numpy()})
    write_csv(table, tmp_path / "train.csv")
    write_csv(tabular.iloc[:20].assign(Id=test_ids), tmp_path / "test.csv")
    oofs, cvs, tasks, tests = [], [], [], {}
    for exp, preds in heads.items():
        d = tmp_path / exp
        d.mkdir()
        oof = pd.DataFrame({"Id": ids, task.target: target.to_numpy(), "fold": fold, **preds})
        write_csv(oof, d / "oof.csv")
        blend = task.score(task.encode(oof), np.mean(list(preds.values()), axis=0))
        (d / "cv.json").write_text(json.dumps({"heads": list(preds), "scores": {"blend": blend}}))
        tasks.append(write_task(d / "task.json", task))
        oofs.append(str(d / "oof.csv"))
        cvs.append(str(d / "cv.json"))
        test = (test_heads or {}).get(exp) or {h: p[:20] for h, p in preds.items()}
        tests[exp] = []
        for k in range(folds):
            write_csv(pd.DataFrame({"Id": test_ids, **test}), d / f"blend_test{k}.csv")
            tests[exp].append(str(d / f"blend_test{k}.csv"))
    out, tables = tmp_path / "stack", (str(tmp_path / "train.csv"), str(tmp_path / "test.csv"))
    outputs = (str(out / "stack.json"), str(out / "oof.csv"), str(out / "models"), str(out / "submission.csv"))
    return StackJob("main", list(heads), oofs, cvs, tasks, tests, tables[1], *outputs[:2], outputs[3],
                    train_table=tables[0], out_models=outputs[2])  # fmt: skip


def interaction_problem(n=600, seed=0):
    """Two experiments, each right on half of the rows, and a tabular flag that says which half: a weighted
    mean cannot use the flag, the trees can."""
    rng = np.random.default_rng(seed)
    y = rng.uniform(1, 100, n)
    flag = rng.integers(0, 2, n)
    good_a = np.where(flag == 1, y + rng.normal(0, 2, n), rng.uniform(1, 100, n))
    good_b = np.where(flag == 0, y + rng.normal(0, 2, n), rng.uniform(1, 100, n))
    return pd.Series(y), {"a": {"mlp": good_a}, "b": {"mlp": good_b}}, pd.DataFrame({"flag": flag.astype(float)})


def test_the_stacker_learns_what_a_weighted_mean_cannot(tmp_path):
    y, heads, tabular = interaction_problem()
    task = pawpularity_task(features=["flag"])
    summary = run_stack(experiments(tmp_path, task, y, heads, tabular), SETTINGS)
    s = summary["scores"]
    assert s["stack"] < 0.5 * s["ensemble"] and s["stack"] < 0.5 * s["best_experiment"]
    assert summary["stack_beats_the_others"] and "tabular:flag" in summary["features"]  # named, not numbered
    sub = pd.read_csv(tmp_path / "stack/submission.csv")
    assert list(sub.columns) == ["Id", "Pawpularity"] and sub["Pawpularity"].between(1, 100).all()


def test_each_folds_oof_rows_come_from_a_model_that_never_saw_them(tmp_path):
    """Fold 0's targets replaced by noise: fold 0's OOF predictions do not move (no model that predicts
    them saw them), every other fold's do (their models trained on fold 0's rows)."""
    y, heads, tabular = interaction_problem()
    task = pawpularity_task(features=["flag"])
    noisy = y.copy()
    noisy[np.arange(len(y)) % 3 == 0] = np.random.default_rng(9).uniform(1, 100, (len(y) + 2) // 3)
    for name, target in (("a", y), ("b", noisy)):
        (tmp_path / name).mkdir()
        run_stack(experiments(tmp_path / name, task, target, heads, tabular), SETTINGS)
    a, b = (pd.read_csv(tmp_path / d / "stack/oof.csv").sort_values("Id") for d in ("a", "b"))
    fold0 = a["fold"].to_numpy() == 0
    assert np.array_equal(a["stack"].to_numpy()[fold0], b["stack"].to_numpy()[fold0])
    assert not np.allclose(a["stack"].to_numpy()[~fold0], b["stack"].to_numpy()[~fold0])


def test_the_boosters_are_saved_without_pickle_and_reload_to_the_same_predictions(tmp_path):
    y, heads, tabular = interaction_problem()
    job = experiments(tmp_path, pawpularity_task(features=["flag"]), y, heads, tabular)
    run_stack(job, SETTINGS)
    oof_by_id = pd.read_csv(tmp_path / "stack/oof.csv").set_index("Id")
    files = sorted(p.name for p in (tmp_path / "stack/models").iterdir())
    assert files == ["fold0.ubj", "fold1.ubj", "fold2.ubj"]
    assert (tmp_path / "stack/models/fold0.ubj").read_bytes()[:1] == b"{"  # UBJSON, not a pickle
    booster = load_booster(tmp_path / "stack/models/fold0.ubj")
    oof = oof_by_id.reset_index()
    tabular = tabular.set_index(pd.Index([f"r{i:04d}" for i in range(len(tabular))])).loc[oof["Id"]]
    rows = oof["fold"] == 0
    from pawpipe.stack import feature_matrix

    parts = {"a:mlp": oof.loc[rows, "a:mlp"].to_numpy(), "b:mlp": oof.loc[rows, "b:mlp"].to_numpy()}
    x, _ = feature_matrix(pawpularity_task(), parts, tabular["flag"].to_numpy()[rows.to_numpy()][:, None], True)
    assert np.allclose(predict_stacker(booster, x), oof.loc[rows, "stack"].to_numpy(), atol=1e-4)


def test_a_binary_task_with_rare_positives_stacks_probabilities(tmp_path):
    from pawpipe.metrics import roc_auc

    rng = np.random.default_rng(1)
    n = 900
    y = (rng.random(n) < 0.08).astype(int)
    age = rng.normal(50, 10, n) + 12 * y
    p1 = np.clip(0.1 + 0.3 * y + rng.normal(0, 0.15, n), 0, 1)
    p2 = np.clip(0.1 + 0.2 * y + rng.normal(0, 0.2, n), 0, 1)
    task = task_of("binary", target="target", metric="roc_auc", classes=[0, 1], columns=["target"], submission="value",
                   features=["age"])  # fmt: skip
    job = experiments(tmp_path, task, pd.Series(y), {"x": {"mlp": p1, "svr": p2}}, pd.DataFrame({"age": age}))
    summary = run_stack(job, SETTINGS)
    oof = pd.read_csv(tmp_path / "stack/oof.csv")
    assert oof["stack"].between(0, 1).all() and summary["scores"]["stack"] == pytest.approx(roc_auc(y, oof["stack"]))
    assert summary["scores"]["stack"] > 0.85


def test_bad_input_fails_before_any_fit(tmp_path, monkeypatch):
    import pawpipe.stack as stack

    monkeypatch.setattr(stack, "fit_stacker", lambda *a: pytest.fail("a stacker was fitted"))
    y, heads, tabular = interaction_problem(120)
    task = pawpularity_task(features=["flag"])
    (tmp_path / "1").mkdir()
    job = experiments(tmp_path / "1", task, y, heads, tabular)
    with pytest.raises(DataError, match=r"stack.tabular: .*train.csv has no column 'age'"):
        run_stack(job, StackSettings(**{**SETTINGS.__dict__, "tabular": ["age"]}))
    other = task_of("binary", target="Pawpularity", metric="roc_auc", classes=[0, 1], columns=["Pawpularity"])
    write_task(tmp_path / "1" / "b" / "task.json", other)
    with pytest.raises(ValueError, match=r"b/task.json: another task \(binary, roc_auc\)"):
        run_stack(job, SETTINGS)
    (tmp_path / "2").mkdir()
    job = experiments(tmp_path / "2", task, y, heads, tabular)
    pd.read_csv(job.oof_csvs[1]).iloc[:-5].to_csv(job.oof_csvs[1], index=False)
    with pytest.raises(ValueError, match=r"b/oof.csv: its out-of-fold rows differ"):
        run_stack(job, SETTINGS)
