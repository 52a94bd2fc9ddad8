"""Shared fixtures: the real config, shrunk, and a real Snakemake run in a temporary directory."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
# The suite runs on two workers whose Snakemake jobs share the cores: OpenMP threads that spin while
# they wait for work would take the cores from the other worker's jobs. Passive waiting changes no result.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def load_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def validated_config(*overlays) -> dict:
    """config/config.yaml with overlays, through the workflow's loader: schema validation and defaults."""
    from pawpipe.configfile import load_config as load

    return load(list(overlays))


def pawpularity_task(**changes):
    """The demo config's task (Pawpularity's), resolved as check_data resolves it against the demo data."""
    import dataclasses

    from pawpipe.task import Task

    task = Task.from_config(validated_config()["task"])
    return dataclasses.replace(task, columns=["Pawpularity"], submission="value", **changes)


def task_of(kind: str, **fields):
    """A resolved task of another type, on the demo's columns (`fields` set what the type needs)."""
    from pawpipe.task import Task

    return Task.load({**pawpularity_task().to_dict(), "type": kind, **fields})


def write_task(path: Path, task=None) -> str:
    """A task.json (Pawpularity's unless given), as check_data writes it; returns its path."""
    from pawpipe.io import write_json

    write_json((task or pawpularity_task()).to_dict(), path)
    return str(path)


def svr_config(**overrides):
    """The SVR settings of the validated demo config (scikit-learn), with overrides."""
    from pawpipe.heads.backend import SVRConfig

    return SVRConfig(**{**validated_config()["svr"], "backend": "sklearn", **overrides})


def train_config(cfg: dict, **overrides):
    """TrainConfig from a (shrunk) config's train block, with overrides."""
    from pawpipe.train import TrainConfig

    return TrainConfig.from_params({**validated_config()["train"], **cfg["train"], **overrides}, seed=cfg["seed"])


# The device the workflow tests run on, from the environment: auto (the default: whatever this machine
# has, as a user's run gets), or forced, e.g. PAWPIPE_TEST_DEVICE=cpu PAWPIPE_TEST_SVR_BACKEND=sklearn
# on a CUDA machine. Tests that assert a device, a precision or a backend take it from the config
# they ran (expected_precision, expected_svr_backend), so they pass either way.
TEST_DEVICE = os.environ.get("PAWPIPE_TEST_DEVICE", "auto")
TEST_SVR_BACKEND = os.environ.get("PAWPIPE_TEST_SVR_BACKEND", "auto")
REQUIRE_GPU = os.environ.get("PAWPIPE_REQUIRE_GPU") == "1"


def expected_precision(cfg: dict) -> str:
    """The precision a fold of `cfg` trains in on this machine (train.amp on train.device)."""
    from pawpipe.runtime import amp_dtype, precision_name, resolve_device

    return precision_name(amp_dtype(cfg["train"]["amp"], resolve_device(cfg["train"]["device"])))


def expected_svr_backend(cfg: dict) -> str:
    """The kernel head's backend a run of `cfg` uses on this machine (pawpipe.heads.backend.svr_backend)."""
    from pawpipe import cluster
    from pawpipe.heads.backend import svr_backend

    gpu = cluster.device_gpus(cfg["train"]["device"], cluster.machine_has_gpu()) > 0
    return svr_backend(cfg["svr"]["backend"], gpu, cluster.cuml_installed())


def on_cuda(cfg: dict) -> bool:
    """Whether jobs of `cfg` compute on a GPU here: their CSVs may then differ from a CPU's in the last digits."""
    from pawpipe.runtime import resolve_device

    return resolve_device(cfg["train"]["device"]).type == "cuda" or expected_svr_backend(cfg) == "cuml"


def assert_same_csv(got: Path, expected: Path, exact: bool, atol: float = 1e-6) -> None:
    """Two prediction CSVs: byte for byte where `exact` (every step on a CPU: the same arithmetic in the
    same order), else the same rows and columns with numbers within `atol` (CUDA kernels, cuML and torch's
    float64 on a GPU differ from a CPU's in the last digits)."""
    if exact:
        assert got.read_bytes() == expected.read_bytes(), f"{got} differs from {expected}"
        return
    a, b = pd.read_csv(got, dtype=str), pd.read_csv(expected, dtype=str)
    assert list(a.columns) == list(b.columns) and a.iloc[:, 0].tolist() == b.iloc[:, 0].tolist()
    for col in a.columns[1:]:
        x, y = pd.to_numeric(a[col], errors="coerce"), pd.to_numeric(b[col], errors="coerce")
        if x.isna().all():  # labels
            assert a[col].tolist() == b[col].tolist(), col
        else:
            assert (x - y).abs().max() <= atol, col


def cpu_only() -> bool:
    """Whether nothing here computes on a GPU (the notebook's device: auto takes one where there is one)."""
    import torch

    return not torch.cuda.is_available()


def shrink(config: dict, **overrides) -> dict:
    """The demo config made small: fewer, smaller images, 2 folds, 2 epochs. Still learns the signal. It
    runs on TEST_DEVICE with the TEST_SVR_BACKEND."""
    cfg = copy.deepcopy(config)
    cfg["exp"] = "tiny"
    cfg["data"]["dir"] = "data/tiny"
    cfg["data"]["demo"].update(n_train=120, n_test=12)
    cfg["folds"]["n_splits"] = 2
    cfg["image"]["size"] = 32
    cfg["backbone"]["kwargs"] = dict(img_size=32, embed_dim=16, depths=[1, 1], num_heads=[1, 2])
    cfg["head"]["hidden"] = 32
    cfg["train"].update(epochs=3, batch_size=16, lr=2e-3, device=TEST_DEVICE)
    cfg["svr"]["backend"] = TEST_SVR_BACKEND
    for key, value in overrides.items():
        cfg[key] = value
    return cfg


def run_snakemake(
    workdir: Path, *args: str, check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def make_workdir(path: Path, config: dict) -> Path:
    """A working directory holding config/config.yaml, as a user's checkout would."""
    (path / "config").mkdir(parents=True, exist_ok=True)
    (path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def tiny_config() -> dict:
    return shrink(load_config())


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory, tiny_config) -> Path:
    """The whole workflow, run once with the shrunk config; tests read its artifacts."""
    workdir = make_workdir(tmp_path_factory.mktemp("pipeline"), tiny_config)
    proc = run_snakemake(workdir, "--cores", "2")
    (workdir / "snakemake.out").write_text(proc.stdout + proc.stderr)
    return workdir


def pytest_collection_modifyitems(config, items):
    """The slurm tests first: they wait on the scheduler most of their time, so on several workers
    (`-n 2 --dist loadscope`, the README's command) the other tests run meanwhile. Tests marked gpu are
    skipped at collection where there is no CUDA device, so that their fixtures (a packaged run, a
    trained fold) never run for a test that cannot."""
    import torch

    items.sort(key=lambda item: "slurm" not in item.keywords)  # stable: the rest keep their order
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="marked gpu: needs a CUDA device, and this machine has none")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With PAWPIPE_REQUIRE_GPU=1 (a GPU machine's CI), a test marked gpu that skips (no CUDA device, no
    cuML, one GPU where it needs two) fails instead, saying why it could not run."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_GPU and report.skipped and "gpu" in item.keywords:
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"PAWPIPE_REQUIRE_GPU=1, but this gpu test skipped: {reason}"


def pytest_terminal_summary(terminalreporter):
    """Say how many fault-injection cases ran, and how each ended."""
    outcomes = [
        dict(r.user_properties).get("fault_case") for r in terminalreporter.stats.get("passed", []) if r.when == "call"
    ]
    outcomes = [o for o in outcomes if o]
    if outcomes:
        terminalreporter.write_line(
            f"fault matrix: {len(outcomes)} bad-input cases tried, {outcomes.count('rejected')} rejected "
            f"with the file or line named, {outcomes.count('converted')} image modes converted to RGB"
        )


@pytest.fixture(scope="session")
def prepared_train(tmp_path_factory):
    """Demo data, folds and cache for calling train_fold directly (48 images at 32 px in the config's
    image.resize mode, 2 folds)."""
    import pandas as pd

    from pawpipe.cache import ImageSpec, build_cache
    from pawpipe.demo import make_demo
    from pawpipe.folds import make_folds
    from pawpipe.io import write_csv

    root = tmp_path_factory.mktemp("train")
    make_demo(root / "data", 48, 2, seed=0)
    table = pd.read_csv(root / "data" / "train.csv", dtype={"Id": str})
    write_csv(make_folds(table, 2, seed=0, task=pawpularity_task()), root / "folds.csv")
    spec = ImageSpec.from_config({**validated_config()["image"], "size": 32})
    ids = table["Id"].tolist()
    build_cache(ids, demo_paths(root / "data", "train", ids), "train", spec, root / "train.npy", root / "train.json")
    write_task(root / "task.json")
    return root, shrink(load_config())


def demo_paths(data_dir: Path, split: str, ids: list[str]) -> list[Path]:
    """Where the Pawpularity demo's images of `ids` lie (task.image: {split}/{id}.jpg)."""
    return [Path(data_dir) / split / f"{i}.jpg" for i in ids]


def cached_images(root: Path):
    """prepared_train's cache as every reader sees it (centre crops)."""
    from pawpipe.cache import open_cache

    return open_cache(root / "train.npy", root / "train.json")


def train_fold_0(prepared_train, out, epochs=3, tracker=None, finetune=None, head=None, **how):
    """train_fold on fold 0 of the prepared data; `how` overrides train settings (workers, amp, ...)."""
    from pawpipe.config import resolve_model_args
    from pawpipe.train import FoldJob, train_fold

    root, cfg = prepared_train
    if finetune:
        cfg = {**cfg, "backbone": {**cfg["backbone"], "finetune": finetune}}
    if head:
        cfg = {**cfg, "head": {**cfg["head"], **head}}
    job = FoldJob(
        folds_csv=str(root / "folds.csv"),
        cache_npy=str(root / "train.npy"),
        cache_index=str(root / "train.json"),
        train_table=str(root / "data" / "train.csv"),
        fold=0,
        out_best=str(out / "best.pt"),
        out_metrics=str(out / "metrics.csv"),
        state_dir=str(out / "state"),
        task=str(root / "task.json"),
    )
    resolved = {**cfg, "train": {**cfg["train"], "epochs": epochs, "batch_size": 8}}
    model_args = resolve_model_args(cfg["backbone"], cfg["head"], 32, validated_config()["task"]["features"])
    return train_fold(job, model_args, train_config(cfg, epochs=epochs, batch_size=8, **how), resolved, tracker)


def tiny_publish_job(work: Path):
    """The PublishJob of the tiny run in `work`, as the publish rule would hand it over."""
    from pawpipe.kaggle.publish import PublishJob

    return PublishJob(
        cv_json=str(work / "models/tiny/cv.json"),
        test_table=str(work / "data/tiny/test.csv"),
        task=str(work / "models/tiny/task.json"),
        leaderboard=str(work / "submissions/tiny/leaderboard.csv"),
        state=str(work / "submissions/tiny/kaggle/publish.json"),
        dataset_dir=str(work / "submissions/tiny/kaggle/dataset"),
        kernel_dir=str(work / "submissions/tiny/kaggle/kernel"),
    )


def copy_run(pipeline_run: Path, tmp_path: Path) -> Path:
    """A copy of the finished tiny run, without its Kaggle files: packaging and publishing write into it."""
    work = tmp_path / "run"
    shutil.copytree(pipeline_run, work, symlinks=True, ignore=shutil.ignore_patterns("kaggle", "leaderboard.csv"))
    return work


def run_packaged_kernel(workdir: Path, exp: str, tmp_path: Path, *snakemake_args: str) -> Path:
    """Package `exp` and rehearse its kernel in Kaggle's conditions (both /kaggle/input layouts, offline,
    the notebook's blocked imports, the competition's test data alone); return the kernel's CSV."""
    env = {**os.environ, "KAGGLE_USERNAME": "tester"}
    run_snakemake(workdir, "--cores", "2", "rehearse_kaggle", "all", *snakemake_args, env=env)
    kaggle_dir = workdir / f"submissions/{exp}/kaggle"
    meta = pd.read_json(kaggle_dir / "kernel/kernel-metadata.json", typ="series")
    assert not meta["enable_internet"] and meta["enable_gpu"] and meta["machine_shape"] == "NvidiaTeslaT4"
    assert meta["competition_sources"] == ["petfinder-pawpularity-score"]
    assert meta["dataset_sources"] == [f"tester/pawpipe-{exp}"]
    dataset = kaggle_dir / "dataset"
    assert [p.name for p in dataset.iterdir() if p.is_dir()] == []  # flat: nothing for the CLI to skip
    assert sorted(p.name for p in dataset.glob("*.whl")) and (dataset / "dataset-metadata.json").is_file()
    report = pd.read_json(kaggle_dir / "rehearsal/report.json", typ="series")
    assert sorted(report["layouts"]) == ["classic", "mounted"]
    assert {"snakemake", "albumentations", "wandb", "cuml", "sklearn", "kaggle"} <= set(report["blocked"])
    out = tmp_path / "submission.csv"
    tmp_path.mkdir(parents=True, exist_ok=True)
    shutil.copy(kaggle_dir / "rehearsal/submission-mounted.csv", out)
    assert_same_csv(out, kaggle_dir / "rehearsal/submission-classic.csv", exact=cpu_only())
    return out
