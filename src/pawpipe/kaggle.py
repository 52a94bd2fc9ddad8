"""The kaggle CLI: download the competition data, submit a checked CSV, build the code-competition package."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd

from .io import atomic_path, read_json, write_json
from .logs import log
from .report import check_submission

COMPETITION = "petfinder-pawpularity-score"
KERNEL_SCRIPT = Path(__file__).with_name("kernel_predict.py")


class KaggleError(RuntimeError):
    pass


def credentials_problem() -> str | None:
    """None when the kaggle CLI can authenticate, else what to do about it."""
    config_dir = Path(os.environ.get("KAGGLE_CONFIG_DIR", Path.home() / ".kaggle"))
    if os.environ.get("KAGGLE_API_TOKEN") or (os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY")):
        return None
    if (config_dir / "kaggle.json").is_file() or (config_dir / "access_token").is_file():
        return None
    return (
        f"no Kaggle credentials: set KAGGLE_API_TOKEN to an API token from https://www.kaggle.com/settings, "
        f"or save the legacy kaggle.json there as {config_dir / 'kaggle.json'} (chmod 600)"
    )


def run_kaggle(args: list[str], *, dry_run: bool = False) -> str:
    """Run `kaggle ARGS`; with dry_run, return the command line without running it."""
    exe = shutil.which("kaggle")
    cmd = [exe or "kaggle", *args]
    line = shlex.join(["kaggle", *args])
    if dry_run:
        return line
    problem = credentials_problem()
    if problem:
        raise KaggleError(problem)
    if exe is None:
        raise KaggleError("the kaggle CLI is not installed: pip install -r requirements.txt")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        hint = ""
        if "403" in out or "rules" in out.lower():
            hint = f"; accept the competition's rules first at https://www.kaggle.com/competitions/{COMPETITION}/rules"
        elif "401" in out:
            hint = "; the credentials were refused: create a new API token"
        raise KaggleError(f"`{line}` failed ({proc.returncode}): {out[-1500:]}{hint}")
    return out


def download(data_dir: str | Path, competition: str = COMPETITION, dry_run: bool = False) -> str:
    """Download and unpack the competition data into data_dir (Kaggle's layout)."""
    data_dir = Path(data_dir)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir.parent, prefix=f".{data_dir.name}.download-") as tmp:
        out = run_kaggle(["competitions", "download", "-c", competition, "-p", tmp], dry_run=dry_run)
        if dry_run:
            return out
        archives = list(Path(tmp).glob("*.zip"))
        if not archives:
            raise KaggleError(f"kaggle downloaded no archive for {competition}: {out}")
        unpacked = Path(tmp) / "unpacked"
        with zipfile.ZipFile(archives[0]) as zf:
            zf.extractall(unpacked)
        data_dir.mkdir(exist_ok=True)
        for item in sorted(unpacked.iterdir(), key=lambda p: p.suffix == ".csv"):  # tables last
            dst = data_dir / item.name
            if dst.is_dir():
                shutil.rmtree(dst)
            item.replace(dst)
    log.info("downloaded %s into %s", competition, data_dir)
    return out


def submission_message(exp: str, cv: dict) -> str:
    r = cv["rmse"]
    return (
        f"pawpipe {exp}: CV RMSE blend {r['blend']:.4f} (mlp {r['mlp']:.4f}, svr {r['svr']:.4f}, {cv['n_folds']} folds)"
    )


def submit(
    *,
    submission: str,
    test_table: str,
    cv_json: str,
    exp: str,
    competition: str = COMPETITION,
    message: str | None = None,
    dry_run: bool = False,
) -> str:
    """Check the submission again, then `kaggle competitions submit` it (or print the command)."""
    sub = pd.read_csv(submission, dtype={"Id": str})
    test_ids = pd.read_csv(test_table, dtype={"Id": str})["Id"].tolist()
    check_submission(sub, test_ids, submission)
    message = message or submission_message(exp, read_json(cv_json))
    out = run_kaggle(["competitions", "submit", "-c", competition, "-f", submission, "-m", message], dry_run=dry_run)
    print(out if not dry_run else f"dry run; would run:\n{out}")
    return out


def build_wheel(repo: str | Path, out_dir: Path) -> Path:
    """The project's wheel, for an offline `pip install` in the notebook."""
    before = set(out_dir.glob("*.whl"))
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(out_dir),
        str(repo),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise KaggleError(f"building the pawpipe wheel failed: {proc.stderr[-2000:]}")
    (wheel,) = set(out_dir.glob("*.whl")) - before
    return wheel


def package(
    *,
    folds: list[int],
    files: dict[str, list[str]],
    resolved_config: dict,
    repo: str,
    owner: str,
    exp: str,
    competition: str,
    out_dataset: str,
    out_kernel: str,
) -> None:
    """Kaggle dataset (models, blend weights, config, wheel) and kernel (offline inference script).

    `files` maps best.pt (or model.onnx and onnx.json with embed.engine: onnx) / svr.npz / blend.json
    to one path per fold, in the order of `folds`.
    """
    features = resolved_config.get("svr", {}).get("features", {})
    if features.get("logits") or features.get("experiments"):
        raise KaggleError(
            "the code-competition package computes embedding and metadata features only; this "
            "experiment's SVR also uses svr.features.logits or .experiments: switch them off to package it"
        )
    slug = f"pawpipe-{exp}".lower().replace("_", "-").replace(".", "-")
    with atomic_path(out_dataset) as ds:
        ds.mkdir()
        for i, k in enumerate(folds):
            (ds / f"fold{k}").mkdir()
            for name, paths in files.items():
                shutil.copyfile(paths[i], ds / f"fold{k}" / name)
        write_json(
            {
                "exp": exp,
                "folds": folds,
                "embed_batch_size": resolved_config["embed"]["batch_size"],
                "tta_hflip": resolved_config["embed"].get("tta_hflip", False),
                "engine": resolved_config["embed"].get("engine", "torch"),
                "amp": resolved_config["train"]["amp"],
                "config": resolved_config,
            },
            ds / "pawpipe.json",
        )
        wheel = build_wheel(repo, ds)
        write_json(
            {"title": slug, "id": f"{owner}/{slug}", "licenses": [{"name": "CC0-1.0"}]}, ds / "dataset-metadata.json"
        )
    with atomic_path(out_kernel) as kd:
        kd.mkdir()
        shutil.copyfile(KERNEL_SCRIPT, kd / "predict.py")
        write_json(
            {
                "id": f"{owner}/{slug}-inference",
                "title": f"{slug} inference",
                "code_file": "predict.py",
                "language": "python",
                "kernel_type": "script",
                "is_private": True,
                "enable_gpu": True,
                "enable_internet": False,
                "dataset_sources": [f"{owner}/{slug}"],
                "competition_sources": [competition],
                "kernel_sources": [],
            },
            kd / "kernel-metadata.json",
        )
    log.info("packaged %s: dataset %s (wheel %s), kernel %s", exp, out_dataset, wheel.name, out_kernel)
    log.info("upload: kaggle datasets create -p %s && kaggle kernels push -p %s", out_dataset, out_kernel)
