"""The workflow through profiles/slurm on a real SLURM (tools/slurm-up.sh starts one on this machine).

Every job is a real sbatch job of the executor plugin; the tests read what the scheduler recorded
(sacct) and what Snakemake printed, and compare the CV with the local run of the same config.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO, load_config, make_workdir, run_snakemake, shrink

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

PROFILE = str(REPO / "profiles" / "slurm")
TIMEOUT_S = 900  # a run that hangs (a status check that never sees its job finish) fails here


def slurm_state() -> str | None:
    """None when a SLURM node is ready for jobs, else what is wrong."""
    if shutil.which("sinfo") is None:
        return "sinfo not found"
    proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        return f"sinfo failed: {proc.stderr.strip()}"
    if not {"idle", "mixed", "allocated"} & set(proc.stdout.split()):
        return f"no node is up (sinfo: {proc.stdout.split()})"
    return None


@pytest.fixture(scope="session")
def slurm():
    problem = slurm_state()
    if problem:
        message = f"no SLURM to submit to ({problem}); start one with `sudo bash tools/slurm-up.sh`"
        if os.environ.get("PAWPIPE_REQUIRE_SLURM") == "1":  # CI started one: its absence is a failure
            pytest.fail(message)
        pytest.skip(message)


def run_profile(workdir: Path, *args: str, out: str = "slurm.out") -> subprocess.CompletedProcess:
    """A run through the profile; what Snakemake printed is kept in workdir/out."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--profile", PROFILE]
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=workdir, timeout=TIMEOUT_S)
    (workdir / out).write_text(proc.stdout + proc.stderr)
    return proc


def submissions(out: str) -> tuple[dict[int, tuple[str, bool]], dict[int, list[str]]]:
    """From Snakemake's output: each job's (rule, ran locally), and the SLURM job ids it was submitted as."""
    rules, slurm_ids, current = {}, {}, None
    for line in out.splitlines():
        if m := re.fullmatch(r"(local)?(?:rule|checkpoint) (\w+):", line.strip()):
            current = (m.group(2), bool(m.group(1)))
        elif (m := re.fullmatch(r"jobid: (\d+)", line.strip())) and current:
            rules[int(m.group(1))], current = current, None
        elif m := re.match(r"Job (\d+) has been submitted with SLURM jobid (\d+)", line):
            slurm_ids.setdefault(int(m.group(1)), []).append(m.group(2))
    return rules, slurm_ids


def slurm_ids_of(out: str, rule: str) -> list[str]:
    rules, slurm_ids = submissions(out)
    return [sid for job, (name, _) in rules.items() if name == rule for sid in slurm_ids.get(job, [])]


def fold_train_jobs(out: str, fold: int) -> list[str]:
    """SLURM job ids of one fold's training, in submission order (the plugin's log path names the fold)."""
    return re.findall(rf"submitted with SLURM jobid (\d+) \(log: \S+/rule_train/tiny_{fold}/", out)


def accounting(job_ids: list[str]) -> dict[str, dict[str, str]]:
    """sacct's record of each job: State, Start, End."""
    out = subprocess.run(
        ["sacct", "-X", "-P", "-n", "-j", ",".join(job_ids), "--format=JobIDRaw,State,Start,End"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = [line.split("|") for line in out.splitlines() if line]
    return {r[0]: {"State": r[1], "Start": r[2], "End": r[3]} for r in rows}


def cv_of(workdir: Path) -> dict:
    return json.loads((workdir / "models/tiny/cv.json").read_text())


def sweep_of(cfg: dict) -> dict:
    """tests/test_sweep.py's two-point sweep on top of cfg; its point `tiny` is cfg itself."""
    from test_sweep import sweep_config

    return {**copy.deepcopy(cfg), "sweep": sweep_config()["sweep"]}


def without_sweep(workdir: Path) -> dict:
    cfg = yaml.safe_load((workdir / "config/config.yaml").read_text())
    cfg.pop("sweep")
    return cfg


@pytest.fixture(scope="session")
def slurm_run(slurm, tmp_path_factory, tiny_config) -> Path:
    """The sweep of tests/test_sweep.py over the shrunk demo through profiles/slurm, once, as one DAG;
    its point `tiny` is the local pipeline_run's config. Tests read its output and artifacts."""
    workdir = make_workdir(tmp_path_factory.mktemp("slurm"), sweep_of(tiny_config))
    proc = run_profile(workdir, "--keep-going")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    return workdir


def test_every_job_but_all_ran_on_slurm(slurm_run):
    rules, slurm_ids = submissions((slurm_run / "slurm.out").read_text())
    assert {name for name, local in rules.values() if local} == {"all", "experiment", "board"}
    remote = {job: name for job, (name, local) in rules.items() if not local}
    assert {"demo_data", "check_data", "cache", "folds", "train", "embed", "svr", "blend", "cv"} <= set(remote.values())
    assert set(remote) == set(slurm_ids), "a job ran without a SLURM job id"
    states = accounting([sid for ids in slurm_ids.values() for sid in ids])
    assert {s["State"] for s in states.values()} == {"COMPLETED"}


def test_cv_through_slurm_equals_the_local_run(slurm_run, pipeline_run):
    assert cv_of(slurm_run)["scores"] == cv_of(pipeline_run)["scores"]
    assert (slurm_run / "models/tiny/oof.csv").read_text() == (pipeline_run / "models/tiny/oof.csv").read_text()


def test_folds_train_concurrently(slurm_run):
    ids = slurm_ids_of((slurm_run / "slurm.out").read_text(), "train")
    assert len(ids) == 4  # 2 points x 2 folds, all queued at once
    records = accounting(ids).values()
    spans = sorted((datetime.fromisoformat(s["Start"]), datetime.fromisoformat(s["End"])) for s in records)
    overlapping = [a for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1]]
    assert overlapping, f"training jobs ran one after the other: {spans}"  # the node has room for two (a core each)


def test_second_invocation_has_nothing_to_do(slurm_run):
    proc = run_profile(slurm_run, out="again.out")  # slurm.out stays the first run's
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Nothing to be done" in out
    assert "submitted with SLURM jobid" not in out


def test_failed_job_shows_its_own_log_and_the_run_stops(slurm_run, tmp_path):
    workdir = tmp_path / "broken"
    shutil.copytree(slurm_run, workdir, symlinks=True)
    cfg = without_sweep(workdir)
    cfg["train"]["augment"] = [{"name": "NoSuchTransform"}]  # valid for the schema, fails in the job
    make_workdir(workdir, cfg)
    proc = run_profile(workdir, "--retries", "0")  # the profile's retry would fail the same way
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    # The rule's own log, printed with its path: the reason, not only "job failed".
    logged = re.search(r"Logfile (models/tiny/logs/train_fold\d\.log):\n(.*)", out, re.DOTALL)
    assert logged, out[-4000:]
    assert "albumentations has no transform 'NoSuchTransform'" in logged.group(2)
    assert "SLURM status is: 'FAILED'" in out
    run_id = re.search(r"SLURM run ID: (\S+)", out).group(1)
    queued = subprocess.run(["squeue", "-h", "--name", run_id], capture_output=True, text=True, check=True).stdout
    assert queued.strip() == "", f"jobs of the failed run still queued: {queued}"
    assert not list((workdir / ".snakemake/locks").glob("*")), "the failed run left its lock behind"


def test_request_that_no_node_can_hold_is_refused_before_submission(slurm, tmp_path, tiny_config):
    cpus = max(int(c.rstrip("+")) for c in subprocess.check_output(["sinfo", "-h", "-o", "%c"], text=True).split())
    cfg = copy.deepcopy(tiny_config)
    cfg["train"]["threads"] = cpus + 1
    workdir = make_workdir(tmp_path, cfg)
    proc = run_profile(workdir)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"rule train asks for {cpus + 1} CPUs, 3000 MB, 30 min" in out
    assert f"has {cpus} CPUs" in out and "lower train.threads" in out
    assert "submitted with SLURM" not in out and not (workdir / "models").exists()


def slower_config() -> dict:
    """The shrunk demo with a wider Swin and more epochs: an epoch lasts long enough to cancel inside it."""
    cfg = shrink(load_config())
    cfg["backbone"]["kwargs"].update(embed_dim=96, depths=[2, 6], num_heads=[3, 6])
    cfg["train"].update(epochs=4)
    return cfg


def test_cancelled_training_job_resumes_from_its_last_epoch(slurm_run, pipeline_run, tmp_path):
    cfg = slower_config()
    reference, cancelled = tmp_path / "reference", tmp_path / "cancelled"
    for source, workdir in ((pipeline_run, reference), (slurm_run, cancelled)):
        shutil.copytree(source, workdir, symlinks=True)  # data, folds and cache are reused
        make_workdir(workdir, cfg)
        for state in (workdir / "models/tiny").glob("fold*/state"):
            shutil.rmtree(state)
    target = "models/tiny/fold0/best.pt"  # fold 0's training, which is cancelled below
    run_snakemake(reference, "--cores", "2", target)  # uninterrupted, locally

    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(cancelled), "--profile", PROFILE]
    cmd.append(target)
    log = (cancelled / "slurm.out").open("w")
    snakemake = subprocess.Popen(cmd, cwd=cancelled, stdout=log, stderr=subprocess.STDOUT, text=True)
    last_pt = cancelled / "models/tiny/fold0/state/last.pt"
    deadline = time.monotonic() + TIMEOUT_S
    while not last_pt.exists():  # fold 0 has finished an epoch; the next one is running
        assert snakemake.poll() is None and time.monotonic() < deadline, (cancelled / "slurm.out").read_text()[-4000:]
        time.sleep(0.05)
    (fold0_id,) = fold_train_jobs((cancelled / "slurm.out").read_text(), 0)
    subprocess.run(["scancel", fold0_id], check=True)
    assert snakemake.wait(timeout=TIMEOUT_S) == 0, (cancelled / "slurm.out").read_text()[-6000:]
    log.close()

    out = (cancelled / "slurm.out").read_text()
    assert accounting([fold0_id])[fold0_id]["State"].startswith("CANCELLED")
    assert fold_train_jobs(out, 0)[0] == fold0_id and len(fold_train_jobs(out, 0)) == 2  # resubmitted (retries)
    train_log = (cancelled / "models/tiny/logs/train_fold0.log").read_text()
    resumed = re.search(r"resuming fold 0 from \S+ after epoch (\d+)", train_log)
    assert resumed and 1 <= int(resumed.group(1)) < cfg["train"]["epochs"]
    # The resumed training ends exactly as the uninterrupted one: every epoch's loss and score, the weights.
    metrics = [pd.read_csv(w / "models/tiny/fold0/metrics.csv") for w in (cancelled, reference)]
    same = ["epoch", "train_loss", "val_rmse", "best", "precision"]
    assert metrics[0]["epoch"].tolist() == list(range(1, cfg["train"]["epochs"] + 1))
    assert metrics[0][same].equals(metrics[1][same]), (metrics[0][same], metrics[1][same])
    weights = [torch.load(w / target, weights_only=True)["model"] for w in (cancelled, reference)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[1])


def test_a_sweep_runs_through_the_profile_as_one_dag(slurm_run):
    """Every point's jobs are SLURM jobs of one run: the shared stages once, every point's CV and the board."""
    from test_sweep import NAMES

    out = (slurm_run / "slurm.out").read_text()
    assert len(slurm_ids_of(out, "check_data")) == 1 and len(slurm_ids_of(out, "cache")) == 2  # train, test: shared
    assert len(slurm_ids_of(out, "folds")) == 1 and len(slurm_ids_of(out, "train")) == 4
    board = pd.read_csv(slurm_run / "models/board.csv")
    assert sorted(board["exp"]) == sorted(NAMES) and sorted(board["rank"]) == [1, 2]
    assert board.loc[board["exp"] == "tiny_lr-0.004", "changed"].item() == "train.lr=0.004"
    assert (board["minutes"] > 0).all()  # each job's usage record, written inside its SLURM job
