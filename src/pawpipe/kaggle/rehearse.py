"""A rehearsal of the code-competition notebook in Kaggle's conditions, on this machine.

The package and the competition's test data are laid out in a temporary /kaggle/input-like tree, in
both ways Kaggle mounts inputs (`classic`: /kaggle/input/<slug>/; `mounted`:
/kaggle/input/competitions/<slug>/ and /kaggle/input/datasets/<owner>/<slug>/). The kernel script runs
there, offline, from a working folder of its own, with pawpipe only from the packaged wheel and the
modules a Kaggle notebook must not need made unimportable (a `sitecustomize.py` sets
`sys.modules[name] = None`, so `import name` fails as it does where the package is missing). Its
submission.csv is compared with the pipeline's, and its timings give the projected notebook time for
the competition's hidden test set. `out_dir` receives report.json and each layout's submission.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import read_table
from ..io import atomic_path, read_csv, read_json, write_json
from ..logs import log
from ..task import Task
from .manifest import DATASET_METADATA, KERNEL_CODE, Manifest

# What the notebook must run without: the pipeline's tools, training-only libraries and the SVR backends.
BLOCKED = ("snakemake", "albumentations", "peft", "wandb", "cuml", "cupy", "sklearn", "onnxruntime", "kaggle")
LAYOUTS = ("classic", "mounted")
HIDDEN_TEST_IMAGES = 6800  # the competition's hidden test set, as its data page states


class RehearsalError(RuntimeError):
    pass


def blocked_modules(manifest: Manifest) -> list[str]:
    """BLOCKED, less what this experiment needs from Kaggle's image (peft for LoRA, onnxruntime for ONNX)."""
    return [m for m in BLOCKED if m not in manifest.requires]


def write_blocker(folder: Path, modules: list[str]) -> Path:
    """A folder whose sitecustomize.py makes `modules` unimportable; put it on PYTHONPATH."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        "import sys\n\n# Absent in the notebook's environment: importing them must fail as a missing package does.\n"
        f"for _name in {sorted(modules)!r}:\n    sys.modules[_name] = None\n"
    )
    return folder


def lay_out(
    root: Path, layout: str, dataset: Path, data_dir: Path, task: Task, competition: str, dataset_ref: str
) -> dict:
    """Copy the package and the competition's test data (its test table, sample submission and test
    images, at the paths the task gives them) where Kaggle would mount them; return the paths."""
    owner, slug = dataset_ref.split("/")
    inputs = root / "input"
    if layout == "classic":
        data, package = inputs / competition, inputs / slug
    elif layout == "mounted":
        data, package = inputs / "competitions" / competition, inputs / "datasets" / owner / slug
    else:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    shutil.copytree(dataset, package)
    data.mkdir(parents=True)
    for which in ("test", "sample"):
        if (data_dir / task.tables[which]).is_file():
            (data / task.tables[which]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(data_dir / task.tables[which], data / task.tables[which])
    test = read_table(data_dir / task.tables["test"], task.id)
    for path in task.image_paths(data_dir, "test", test):
        target = data / path.relative_to(data_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    # The competition also mounts its training images: the search must not walk them.
    Path(task.image_roots(data).get("train", data / "train")).mkdir(parents=True, exist_ok=True)
    return {"input": inputs, "data": data, "package": package}


def run_kernel(kernel: Path, inputs: Path, work: Path, blocked: list[str], device: str = "auto") -> tuple[str, float]:
    """Run the kernel script as Kaggle would (its own working folder, no network index, no checkout on the
    path, `blocked` unimportable); return its output and wall seconds."""
    work.mkdir(parents=True, exist_ok=True)
    script = work / KERNEL_CODE
    shutil.copy(kernel / KERNEL_CODE, script)
    env = {
        **os.environ,
        "PYTHONPATH": str(write_blocker(work.parent / "blocker", blocked)),
        "PIP_NO_INDEX": "1",
        "KAGGLE_KERNEL_RUN_TYPE": "Batch",
    }
    cmd = [sys.executable, str(script), "--input", str(inputs), "--device", device, "--timings", "timings.json"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RehearsalError(f"the kernel failed ({proc.returncode}) with {blocked} unimportable:\n{out[-4000:]}")
    return out, seconds


def compare(kernel_csv: Path, pipeline_csv: Path, tolerance: float, task: Task) -> float:
    """The largest difference between the kernel's and the pipeline's submissions over their value columns
    (labels must be equal); refused beyond `tolerance`."""
    ours, theirs = read_csv(kernel_csv, id_column=task.id), read_csv(pipeline_csv, id_column=task.id)
    if ours[task.id].tolist() != theirs[task.id].tolist() or list(ours.columns) != list(theirs.columns):
        raise RehearsalError(f"{kernel_csv}: its ids or columns differ from {pipeline_csv}'s (order or content)")
    diff = 0.0
    for c in task.columns:
        a, b = pd.to_numeric(ours[c], errors="coerce"), pd.to_numeric(theirs[c], errors="coerce")
        if a.isna().any() or b.isna().any():  # labels (or lists of them): equal, row for row
            differ = int((ours[c].fillna("").astype(str) != theirs[c].fillna("").astype(str)).sum())
            if differ:
                raise RehearsalError(f"the kernel's submission gives {differ} rows another {c!r} than the pipeline's")
            continue
        diff = max(diff, float(np.abs(a.to_numpy(float) - b.to_numpy(float)).max()))
    if diff > tolerance:
        raise RehearsalError(
            f"the kernel's submission differs from the pipeline's by up to {diff:.4g} (tolerance "
            f"kaggle.rehearsal_tolerance = {tolerance:g}); try kaggle.weights_dtype: float32"
        )
    return diff


def projection(timings: dict, startup_s: float, images: int = HIDDEN_TEST_IMAGES) -> dict:
    """Notebook time for `images` from a timed sample: startup and model loading once, decoding and
    predicting in proportion to the images, the folds' work shared by the devices."""
    scale = images / timings["images"]
    folds = timings["folds"].values()
    load = sum(f["load_s"] for f in folds)
    predict = sum(f["predict_s"] for f in folds)
    total = startup_s + timings["decode_s"] * scale + (load + predict * scale) / len(timings["devices"])
    return {
        "images": images,
        "sample_images": timings["images"],
        "devices": timings["devices"],
        "startup_s": round(startup_s, 2),
        "decode_s_per_image": timings["decode_s"] / timings["images"],
        "predict_s_per_image_all_folds": predict / timings["images"],
        "projected_minutes": round(total / 60, 2),
    }


def rehearse(
    *,
    dataset: str | Path,
    kernel: str | Path,
    pipeline_submission: str | Path,
    data_dir: str | Path,
    tolerance: float,
    out_dir: str | Path | None = None,
    layouts: tuple[str, ...] = LAYOUTS,
    device: str = "auto",
) -> dict:
    dataset, kernel, data_dir = Path(dataset), Path(kernel), Path(data_dir)
    manifest = Manifest.read(dataset)
    task = Task.load(manifest.task)
    ref = read_json(dataset / DATASET_METADATA)["id"]
    blocked = blocked_modules(manifest)
    report = {"exp": manifest.exp, "blocked": blocked, "requires": manifest.requires, "layouts": {}}
    solution = task.tables.get("solution")  # the test set's true targets, where known: both submissions scored
    truth = read_table(data_dir / solution, task.id) if solution and (data_dir / solution).is_file() else None
    kept = {}
    for layout in layouts:
        with tempfile.TemporaryDirectory(prefix=f"pawpipe-rehearsal-{layout}-") as tmp:
            paths = lay_out(Path(tmp) / "kaggle", layout, dataset, data_dir, task, manifest.competition, ref)
            work = Path(tmp) / "kaggle" / "working"
            out, seconds = run_kernel(kernel, paths["input"], work, blocked, device)
            for what in ("data", "package"):
                said = re.search(rf"^{'competition data' if what == 'data' else 'pawpipe package'}: +(\S+)", out, re.M)
                if not said or Path(said.group(1)) != paths[what]:
                    raise RehearsalError(
                        f"{layout} layout: the kernel did not report {paths[what]} as its {what}:\n{out[-2000:]}"
                    )
            if "pawpipe-lib-" not in out:
                raise RehearsalError(
                    f"{layout} layout: pawpipe was not imported from the packaged wheel:\n{out[-2000:]}"
                )
            diff = compare(work / "submission.csv", Path(pipeline_submission), tolerance, task)
            timings = read_json(work / "timings.json")
            kept[f"submission-{layout}.csv"] = (work / "submission.csv").read_bytes()
            report["layouts"][layout] = {
                "max_abs_diff": diff,
                **(
                    {"score": task.score_submission(read_csv(work / "submission.csv", id_column=task.id), truth)}
                    if truth is not None
                    else {}
                ),  # fmt: skip
                "wall_s": round(seconds, 2),
                "projection": projection(timings, startup_s=seconds - timings["total_s"]),
            }
            log.info("rehearsal, %s layout: kernel ran in %.1f s with %s unimportable; max |kernel - pipeline| %.2g",
                     layout, seconds, ", ".join(blocked), diff)  # fmt: skip
    if truth is not None:
        report["scores"] = {"pipeline": task.score_submission(read_csv(pipeline_submission, id_column=task.id), truth),
                            **{f"kernel-{k}": v["score"] for k, v in report["layouts"].items()}}  # fmt: skip
        log.info("rehearsal: %s against %s: %s", task.scorer.label, task.tables["solution"], report["scores"])
    proj = report["layouts"][layouts[-1]]["projection"]
    message = (
        f"projected notebook time for the {proj['images']:,} hidden test images on {', '.join(proj['devices'])}: "
        f"{proj['projected_minutes']:.1f} min (timed on {proj['sample_images']} images; "
        f"{proj['predict_s_per_image_all_folds'] * 1000:.1f} ms per image for all folds, "
        f"{proj['decode_s_per_image'] * 1000:.1f} ms decoding, {proj['startup_s']:.0f} s start-up)"
    )
    log.info("%s", message)
    print(message)
    report["projection"] = message
    if out_dir:
        with atomic_path(out_dir) as tmp:
            tmp.mkdir()
            for name, data in kept.items():
                (tmp / name).write_bytes(data)
            write_json(report, tmp / "report.json")
    return report
