"""Many experiments as one run: a sweep's points, their names, what they share, the board that compares
them and the ensemble over its best; the sweep as one Snakemake DAG that a kill does not lose."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pandas as pd
import pytest

from conftest import REPO, load_config, make_workdir, run_snakemake, shrink, validated_config
from pawpipe.sweep import expand, owners, sweep_problems

RUNTIME = ["train.num_workers", "svr.threads"]


def with_sweep(**sweep) -> dict:
    return {**validated_config(), "sweep": {"name": None, "grid": {}, "points": [], **sweep}}


def test_points_are_named_after_what_they_change():
    cfg = with_sweep(grid={"train.lr": [1.0e-3, 2.0e-3], "image.resize": ["crop", "squash"]})
    points = expand(cfg)
    assert list(points) == ["demo", "demo_resize-squash", "demo_lr-0.002", "demo_lr-0.002_resize-squash"]
    assert points["demo_lr-0.002"]["train"]["lr"] == 2.0e-3 and points["demo_lr-0.002"]["exp"] == "demo_lr-0.002"
    assert expand(cfg).keys() == points.keys()  # stable: the same config gives the same names
    lora = {"name": "lora", "set": {"backbone.finetune.mode": "lora"}}
    overlays = with_sweep(points=[{"name": "base", "set": {}}, lora], grid={"seed": [42, 7]})
    assert list(expand(overlays)) == ["demo", "demo_seed-7", "demo_lora", "demo_lora_seed-7"]
    clash = with_sweep(grid={"train.epochs": [1, 2], "frozen_mlp.epochs": [5]})
    assert list(expand(clash)) == ["demo_train-epochs-1_frozen_mlp-epochs-5", "demo_train-epochs-2_frozen_mlp-epochs-5"]


def test_a_sweep_refuses_what_cannot_tell_experiments_apart():
    cfg = with_sweep(grid={"svr.threads": [1, 2], "data.dir": ["a", "b"], "train.lrr": [1.0]})
    problems = " | ".join(sweep_problems(cfg, RUNTIME))
    assert "svr.threads is a runtime setting" in problems and "data.dir cannot vary in a sweep" in problems
    assert "train.lrr is not a key of the config" in problems
    assert "task.metric cannot vary" in " ".join(sweep_problems(with_sweep(grid={"task.metric": ["mae"]}), RUNTIME))
    assert sweep_problems(with_sweep(grid={"task.loss": ["mse", "huber"]}), RUNTIME) == []


def test_points_share_exactly_the_stages_that_cannot_differ():
    from pawpipe.config import load_schema, split_config

    cfg = with_sweep(grid={"train.lr": [1.0e-3, 2.0e-3], "image.resize": ["crop", "squash"]})
    cfg["extractors"] = [{"name": "vit", "model": "test_vit.r160_in1k", "pretrained": False, "take": ["embedding"],
                          "weights": None, "kwargs": {}}]  # fmt: skip
    schema = load_schema()
    shared = owners({name: split_config(c, schema)[0] for name, c in expand(cfg).items()})
    assert set(shared["data"].values()) == {"demo"}  # one data check for all
    assert shared["cache"]["demo_lr-0.002"] == "demo" and shared["cache"]["demo_lr-0.002_resize-squash"] == (
        "demo_resize-squash")  # fmt: skip
    assert shared["folds"]["demo_lr-0.002"] == "demo"  # grouping duplicates hashes the cache: by resize too
    assert set(shared["extract:vit"].values()) == {"demo"}  # frozen features depend on neither


def sweep_config(**extra) -> dict:
    cfg = shrink(load_config())
    cfg["train"]["epochs"] = 2
    cfg["sweep"] = {"name": "t", "grid": {"train.lr": [2.0e-3, 4.0e-3]}}  # the base point and one other
    return {**cfg, **extra}


NAMES = ["tiny", "tiny_lr-0.004"]
# Two settings x two values, one of them (the resize mode) shared upstream: the sweep of the plan below.
GRID = {"train.lr": [2.0e-3, 4.0e-3], "image.resize": ["crop", "squash"]}


@pytest.mark.slow
def test_a_sweep_runs_as_one_dag_survives_a_kill_and_the_board_ranks_it(tmp_path):
    workdir = make_workdir(tmp_path / "sweep", sweep_config())
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2"]
    # Killed (the whole process group, as a preempted machine would be) once the first point's CV job has
    # finished: Snakemake has recorded it, and everything it depends on, as complete.
    proc = subprocess.Popen([*cmd, "--keep-going"], cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, text=True)  # fmt: skip
    for line in proc.stdout:
        if re.search(r"Finished jobid: \d+ \(Rule: cv\)", line):
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    (finished,) = [p.parent.name for p in workdir.glob("models/*/cv.json")]
    done = workdir / "models" / finished
    before = {p: p.stat().st_mtime_ns for p in [done / "cv.json", done / "oof.csv", *done.glob("fold*/**/*")]
              if p.is_file()}  # fmt: skip
    run_snakemake(workdir, "--unlock")
    rerun = run_snakemake(workdir, "--cores", "2", "--keep-going")
    out = rerun.stdout + rerun.stderr
    after = {p: p.stat().st_mtime_ns for p in before}
    assert before == after, "the rerun redid a finished experiment's work"
    assert sorted(p.parent.name for p in workdir.glob("models/*/cv.json")) == sorted(NAMES)
    # The shared stages ran once over both runs: one data check, one cache, one split.
    logs = sorted(p.name for p in workdir.glob("models/*/logs/*.log"))
    assert [logs.count(f"{stage}.log") for stage in ("check_data", "cache_train", "folds")] == [1, 1, 1], logs
    assert not (workdir / "models/tiny_lr-0.004/cache").exists()  # it reads tiny's cache
    board = pd.read_csv(workdir / "models/board.csv")
    assert sorted(board["exp"]) == sorted(NAMES) and sorted(board["rank"]) == [1, 2]
    assert board.loc[board["exp"] == "tiny_lr-0.004", "changed"].item() == "train.lr=0.004"
    assert board.loc[board["exp"] == "tiny", "changed"].item() == "(base config)"
    best = board.loc[board["best"], "exp"].item()
    assert best == board.sort_values("cv_blend")["exp"].iloc[0]  # RMSE: the lowest CV is the best
    assert (board["cv_blend_in_sample"] <= board["cv_blend"] + 1e-9).all() and (board["minutes"] > 0).all()
    assert "board (* best by CV" in out
    # The ensemble over the board's top two, chosen once the board exists.
    (workdir / "ens.yaml").write_text("ensemble: {name: top, experiments: {top: 2}}\n")
    run_snakemake(workdir, "--cores", "2", "--configfile", "config/config.yaml", "ens.yaml")
    summary = json.loads((workdir / "models/ensemble-top/ensemble.json").read_text())
    assert summary["experiments"] == board.sort_values("rank")["exp"].head(2).tolist()
    assert run_snakemake(workdir, "-n", "--cores", "1").stdout.count("Nothing to be done") == 1
    check_the_stacker_over_the_sweep(workdir)


def check_the_stacker_over_the_sweep(workdir):
    """The stacker fed by the sweep's points and the metadata columns: its honest CV beside the ensemble's
    and the best point's, a row on the board, and its package's notebook reproducing its submission."""
    (workdir / "stack.yaml").write_text(
        "stack: {experiments: sweep, n_estimators: 200}\nkaggle: {experiment: stack-main, weights_dtype: float32}\n"
    )
    env = {**os.environ, "KAGGLE_USERNAME": "t"}
    run_snakemake(workdir, "--cores", "2", "all", "rehearse_kaggle", "--configfile", "config/config.yaml",
                  "stack.yaml", env=env)  # fmt: skip
    stack = json.loads((workdir / "models/stack-main/stack.json").read_text())
    assert stack["experiments"] == NAMES and stack["components"] == [f"{e}:{h}" for e in NAMES for h in ("mlp", "svr")]
    assert len(stack["tabular"]) == 12 and {"stack", "ensemble", "best_experiment"} <= set(stack["scores"])
    assert stack["stack_beats_the_others"] == all(stack["scores"]["stack"] < stack["scores"][k]
                                                  for k in ("ensemble", "best_experiment"))  # fmt: skip
    board = pd.read_csv(workdir / "models/board.csv")
    row = board[board["exp"] == "stack-main"].iloc[0]
    assert (
        row["cv_blend"] == pytest.approx(stack["scores"]["stack"]) and row["changed"] == f"stack of {', '.join(NAMES)}"
    )
    report = json.loads((workdir / "submissions/stack-main/kaggle/rehearsal/report.json").read_text())
    assert "xgboost" in report["requires"]
    assert all(layout["max_abs_diff"] <= 1e-6 for layout in report["layouts"].values())  # float32 weights


def test_a_sweep_point_gets_its_own_config_in_every_rule(tmp_path):
    """The dry run of a sweep plans each point's training with its own params."""
    workdir = make_workdir(tmp_path / "plan", sweep_config(sweep={"name": "t", "grid": GRID}))
    out = run_snakemake(workdir, "-n", "--cores", "1", "-p").stdout
    assert out.count("rule check_data:") == 1 and out.count("rule cache:") == 4  # 2 splits x 2 resize modes
    assert out.count("rule folds:") == 2  # duplicates are found on the cached images: one split per mode
    assert out.count("rule train:") == 8 and out.count("rule experiment:") == 4


def test_wandb_groups_a_sweeps_runs_and_says_what_each_changes(monkeypatch):
    from pawpipe.config import SWEEP_ENV
    from pawpipe.tracking import grouping

    changes = {"tiny": {}, "tiny_lr-0.004": {"train.lr": 0.004}}
    monkeypatch.setenv(SWEEP_ENV, json.dumps({"name": "t", "changes": changes}))
    where = grouping("tiny_lr-0.004", "train", 1)
    assert where["group"] == "t" and where["name"] == "tiny_lr-0.004/fold1" and where["tags"] == ["tiny_lr-0.004"]
    assert where["config"] == {"exp": "tiny_lr-0.004", "changed.train.lr": 0.004}
    monkeypatch.setenv(SWEEP_ENV, json.dumps({"name": "tiny", "changes": {"tiny": {}}}))
    assert grouping("tiny", "train", 1)["group"] == "tiny"  # no sweep: grouped by experiment
