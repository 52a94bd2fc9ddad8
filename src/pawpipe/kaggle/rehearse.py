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

from ..io import atomic_path, read_csv, read_json, write_json
from ..logs import log
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


def lay_out(root: Path, layout: str, dataset: Path, test_table: Path, competition: str, dataset_ref: str) -> dict:
    """Copy the package and the competition's test data where Kaggle would mount them; return the paths."""
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
    shutil.copy(test_table, data / "test.csv")
    shutil.copytree(test_table.parent / "test", data / "test")
    (data / "train").mkdir()  # the competition also mounts its training images: the search must not walk them
    sample = test_table.parent / "sample_submission.csv"
    if sample.is_file():
        shutil.copy(sample, data)
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


def compare(kernel_csv: Path, pipeline_csv: Path, tolerance: float) -> float:
    ours, theirs = read_csv(kernel_csv), read_csv(pipeline_csv)
    if ours["Id"].tolist() != theirs["Id"].tolist():
        raise RehearsalError(f"{kernel_csv}: its Ids differ from {pipeline_csv}'s (order or content)")
    diff = float(np.abs(ours["Pawpularity"].to_numpy() - theirs["Pawpularity"].to_numpy()).max())
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
    test_table: str | Path,
    tolerance: float,
    out_dir: str | Path | None = None,
    layouts: tuple[str, ...] = LAYOUTS,
    device: str = "auto",
) -> dict:
    dataset, kernel, test_table = Path(dataset), Path(kernel), Path(test_table)
    manifest = Manifest.read(dataset)
    ref = read_json(dataset / DATASET_METADATA)["id"]
    blocked = blocked_modules(manifest)
    report = {"exp": manifest.exp, "blocked": blocked, "requires": manifest.requires, "layouts": {}}
    kept = {}
    for layout in layouts:
        with tempfile.TemporaryDirectory(prefix=f"pawpipe-rehearsal-{layout}-") as tmp:
            paths = lay_out(Path(tmp) / "kaggle", layout, dataset, test_table, manifest.competition, ref)
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
            diff = compare(work / "submission.csv", Path(pipeline_submission), tolerance)
            timings = read_json(work / "timings.json")
            kept[f"submission-{layout}.csv"] = (work / "submission.csv").read_bytes()
            report["layouts"][layout] = {
                "max_abs_diff": diff,
                "wall_s": round(seconds, 2),
                "projection": projection(timings, startup_s=seconds - timings["total_s"]),
            }
            log.info("rehearsal, %s layout: kernel ran in %.1f s with %s unimportable; max |kernel - pipeline| %.2g",
                     layout, seconds, ", ".join(blocked), diff)  # fmt: skip
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
