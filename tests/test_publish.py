"""`snakemake publish` through the pinned, unmodified kaggle CLI against a fake Kaggle on loopback: what
a real Kaggle would have received (every fold's files, the kernel's metadata, a code-competition submit
with the kernel version) and the leaderboard read back."""

from __future__ import annotations

import io
import os
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO, copy_run, run_snakemake, tiny_publish_job
from fake_kaggle import FakeKaggle
from pawpipe.kaggle.manifest import KERNEL_CODE, Manifest
from pawpipe.kaggle.poll import Poll
from pawpipe.kaggle.publish import Route, publish
from pawpipe.kaggle.rehearse import blocked_modules, lay_out, run_kernel
from pawpipe.task import Task

FAST_POLL = {"interval_s": 0.2, "dataset_minutes": 2, "kernel_minutes": 5, "score_minutes": 1, "max_failures": 3,
             "backoff_cap_s": 0.5}  # fmt: skip


def test_the_kaggle_cli_starts():
    """kaggle 2.2.4 imports six without declaring it; requirements.txt pins six so that the CLI runs."""
    proc = subprocess.run(["kaggle", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "Kaggle CLI 2.2.4"


def kernel_runner(competition_data: Path, tmp: Path):
    """Run a pushed kernel as Kaggle does: its code, the uploaded dataset files and the competition's test
    data mounted under an input folder (the newer layout), offline, with the notebook's blocked imports."""

    def run(request: dict, files: dict[str, bytes]):
        work = Path(tempfile.mkdtemp(dir=tmp, prefix="kernel-run-"))
        uploaded, code = work / "uploaded", work / "code"
        uploaded.mkdir()
        code.mkdir()
        for name, data in files.items():
            (uploaded / name).write_bytes(data)
        (code / KERNEL_CODE).write_text(request["text"])
        manifest = Manifest.read(uploaded)
        paths = lay_out(work / "kaggle", "mounted", uploaded, competition_data, Task.load(manifest.task),
                        request["competitionDataSources"][0], request["datasetDataSources"][0])  # fmt: skip
        try:
            log, _ = run_kernel(code, paths["input"], work / "kaggle" / "working", blocked_modules(manifest))
        except RuntimeError as exc:
            return False, {}, str(exc)
        return True, {"submission.csv": (work / "kaggle" / "working" / "submission.csv").read_bytes()}, log

    return run


@pytest.fixture
def published_run(pipeline_run, tmp_path):
    return copy_run(pipeline_run, tmp_path)


@pytest.mark.slow
def test_publish_dry_run_prints_every_command_in_order(published_run):
    env = {**os.environ, "KAGGLE_USERNAME": "someone"}
    proc = run_snakemake(published_run, "--cores", "2", "publish", "--config", "kaggle={dry_run: true}", env=env)
    out = proc.stdout + proc.stderr
    steps = [
        "kaggle competitions submission-limits petfinder-pawpularity-score --json",
        "kaggle datasets status someone/pawpipe-tiny --format json",
        "kaggle datasets create -p submissions/tiny/kaggle/dataset --dir-mode zip "
        "--ignore-patterns .snakemake_timestamp",
        "kaggle datasets version -p submissions/tiny/kaggle/dataset -m 'pawpipe tiny: CV RMSE",
        "kaggle kernels status someone/pawpipe-tiny-inference    # and `kernels logs`: the session before the push",
        "kaggle kernels push -p submissions/tiny/kaggle/kernel",
        "kaggle kernels status someone/pawpipe-tiny-inference",
        "kaggle kernels logs someone/pawpipe-tiny-inference",
        "kaggle kernels output someone/pawpipe-tiny-inference -p submissions/tiny/kaggle/output -o",
        "check submissions/tiny/kaggle/output/submission.csv against the Ids of data/tiny/test.csv",
        "kaggle competitions submit -c petfinder-pawpularity-score -k someone/pawpipe-tiny-inference -v "
        "'<version printed by kernels push>' -f submission.csv -m 'pawpipe tiny: CV RMSE blend",
        "kaggle competitions submissions -c petfinder-pawpularity-score --csv",
    ]
    at = 0
    for step in steps:  # each after the one before
        found = out.find(step, at)
        assert found >= 0, f"not printed after the step before: {step}\n{out[at:][-3000:]}"
        at = found + len(step)
    assert not (published_run / "submissions/tiny/leaderboard.csv").exists()


@pytest.mark.slow
def test_publish_through_the_kaggle_cli(published_run, tmp_path):
    home = tmp_path / "home"
    with FakeKaggle(home, runner=kernel_runner(published_run / "data/tiny", tmp_path)) as fake:
        env = {**os.environ, **fake.env()}
        env.pop("KAGGLE_USERNAME", None)  # the owner comes from the CLI itself: `kaggle config view` asks Kaggle
        overlay = published_run / "config" / "fast-poll.yaml"
        overlay.write_text(yaml.safe_dump({"kaggle": {"poll": FAST_POLL}}))
        first = run_snakemake(published_run, "--cores", "2", "publish", "--configfile", str(overlay), env=env)
        dataset = published_run / "submissions/tiny/kaggle/dataset"

        # The dataset: created once, every file of the flat package uploaded whole, nothing skipped.
        (created,) = fake.bodies("CreateDataset")
        assert (created["ownerSlug"], created["slug"], created["isPrivate"]) == ("tester", "pawpipe-tiny", True)
        received = fake.datasets["tester/pawpipe-tiny"]["versions"][0]
        shipped = {p.name for p in dataset.iterdir()} - {"dataset-metadata.json", ".snakemake_timestamp"}
        assert set(received) == shipped
        for k in (0, 1):
            assert {f"fold{k}-best.pt", f"fold{k}-svr.npz", f"fold{k}-blend.json"} <= set(received)
        assert all(received[name] == (dataset / name).read_bytes() for name in received)
        assert any(name.endswith(".whl") for name in received) and "Skipping folder" not in first.stdout + first.stderr
        weights = torch.load(io.BytesIO(received["fold0-best.pt"]), weights_only=True)["model"]
        assert {t.dtype for t in weights.values() if t.is_floating_point()} == {torch.float16}

        # The kernel: T4 machine shape, internet off, the competition and the dataset as sources.
        (push,) = fake.kernels["tester/pawpipe-tiny-inference"]["versions"]
        assert push["machineShape"] == "NvidiaTeslaT4" and push["enableGpu"] and not push["enableInternet"]
        assert push["datasetDataSources"] == ["tester/pawpipe-tiny"]
        assert push["competitionDataSources"] == ["petfinder-pawpularity-score"]
        assert push["text"] == (REPO / "src/pawpipe/kaggle/notebook.py").read_text()

        # The submission: the code-competition form, naming the kernel and the version pushed.
        (submit,) = fake.bodies("CreateCodeSubmission")
        assert (submit["kernelOwner"], submit["kernelSlug"], submit["kernelVersion"]) == (
            "tester", "pawpipe-tiny-inference", 1)  # fmt: skip
        assert submit["fileName"] == "submission.csv" and submit["competitionName"] == "petfinder-pawpularity-score"
        assert "StartSubmissionUpload" not in fake.methods()  # no CSV upload

        # The kernel's own output (it ran on the uploaded files) was fetched, and it matches the pipeline's.
        fetched = pd.read_csv(published_run / "submissions/tiny/kaggle/output/submission.csv")
        pipeline = pd.read_csv(published_run / "submissions/tiny/submission.csv")
        assert (fetched["Id"] == pipeline["Id"]).all()
        assert (fetched["Pawpularity"] - pipeline["Pawpularity"]).abs().max() < 0.05

        # The score, read back beside the CV.
        board = pd.read_csv(published_run / "submissions/tiny/leaderboard.csv")
        cv = pd.read_json(published_run / "models/tiny/cv.json", typ="series")
        assert len(board) == 1 and board.loc[0, "public_score"] == pytest.approx(17.4321)
        assert board.loc[0, "cv_blend"] == pytest.approx(cv["scores"]["blend"], abs=1e-4)
        assert board.loc[0, "kernel_version"] == 1 and board.loc[0, "status"] == "complete"

        # Publishing again versions the dataset (a second create would fail on the title) and adds a row.
        run_snakemake(published_run, "--cores", "2", "publish", "--configfile", str(overlay), env=env)
        assert len(fake.bodies("CreateDataset")) == 1 and len(fake.bodies("CreateDatasetVersion")) == 1
        assert fake.bodies("CreateCodeSubmission")[-1]["kernelVersion"] == 2
        assert pd.read_csv(published_run / "submissions/tiny/leaderboard.csv")["kernel_version"].tolist() == [1, 2]
    served = {name for name in vars(FakeKaggle) if name[0].isupper()} | {"PUT"}
    assert set(fake.methods()) <= served, set(fake.methods()) - served  # nothing the fake would not answer


def failing_runner(request, files):
    return False, {}, "Traceback (most recent call last):\nRuntimeError: CUDA error: no kernel image is available"


@pytest.mark.slow
def test_a_failed_kernel_run_shows_its_log_and_submits_nothing(pipeline_run, tmp_path, monkeypatch):
    work = copy_run(pipeline_run, tmp_path)
    monkeypatch.setenv("KAGGLE_USERNAME", "tester")
    run_snakemake(work, "--cores", "2", "package", env=dict(os.environ))
    with FakeKaggle(tmp_path / "home", runner=failing_runner) as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        failed = r"(?s)version 1 failed \(error\); the end of its log.*no kernel image is available"
        with pytest.raises(RuntimeError, match=failed):
            job = tiny_publish_job(work)
            poll = Poll(**FAST_POLL)
            publish(job, Route("tiny", "petfinder-pawpularity-score", "notebook", None, poll, dry_run=False))
    assert "CreateCodeSubmission" not in fake.methods()
    assert not (work / "submissions/tiny/leaderboard.csv").exists()
