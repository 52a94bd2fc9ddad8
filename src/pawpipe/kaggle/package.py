"""The code-competition package: a Kaggle dataset (models, blend weights, config, the project's wheel)
and a kernel (the offline inference script with its metadata).

The dataset folder is flat (`fold3-best.pt`, `fold3-svr.npz`, ...): the kaggle CLI uploads the files of
a folder and skips its subfolders unless told otherwise (`--dir-mode`), and Kaggle would unpack a zipped
subfolder on its side, out of our sight. Flat, every file is uploaded as it is, the wheel included, and
what the notebook reads is what was built here. The manifest (pawpipe.kaggle.manifest) names each file.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..config import rerun_command
from ..io import atomic_path, read_json, write_json
from ..logs import log
from ..report import decided_task
from ..task import Task
from .cli import KaggleError, owner_problem
from .manifest import (
    DATASET_METADATA,
    KERNEL_CODE,
    KERNEL_METADATA,
    NOTEBOOK_SOURCE,
    Manifest,
    extractor_file,
    fold_artifacts,
    fold_file,
)

WEIGHTS_DTYPES = {"float16": torch.float16, "float32": torch.float32}


def dataset_slug(exp: str) -> str:
    return f"pawpipe-{exp}".lower().replace("_", "-").replace(".", "-")


def kernel_slug(exp: str) -> str:
    return f"{dataset_slug(exp)}-inference"


def build_wheel(repo: str | Path, out_dir: Path) -> Path:
    """The project's wheel, for an offline `pip install` in the notebook, built from a clean copy of the
    sources: setuptools reuses a checkout's build/ folder, which keeps modules that no longer exist."""
    repo = Path(repo)
    with tempfile.TemporaryDirectory(prefix="pawpipe-wheel-") as tmp:
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(repo / name, tmp)
        shutil.copytree(repo / "src", Path(tmp) / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out_dir)]
        proc = subprocess.run([*cmd, tmp], capture_output=True, text=True)
    if proc.returncode != 0:
        raise KaggleError(f"building the pawpipe wheel failed: {proc.stderr[-2000:]}")
    (wheel,) = out_dir.glob("pawpipe-*.whl")
    return wheel


def write_checkpoint(src: str | Path, dst: Path, dtype: str) -> None:
    """Copy a fold's checkpoint with its floating-point weights in `dtype` (float16 halves the upload;
    the model casts them back to float32 on load)."""
    if dtype == "float32":
        shutil.copyfile(src, dst)
        return
    ckpt = torch.load(src, map_location="cpu", weights_only=True)
    ckpt["model"] = {k: v.to(WEIGHTS_DTYPES[dtype]) if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    ckpt["weights_dtype"] = dtype
    torch.save(ckpt, dst)


def library_versions() -> dict[str, str]:
    """What the notebook's environment is compared with: the versions this package was built under."""
    import numpy
    import timm

    from .. import __version__

    return {"pawpipe": __version__, "torch": torch.__version__, "timm": timm.__version__, "numpy": numpy.__version__}


def required_modules(resolved_config: dict) -> list[str]:
    """Modules beyond torch, timm, numpy, pandas and Pillow that predicting this experiment imports; the
    notebook needs them from Kaggle's image (the package ships only pawpipe)."""
    needs = []
    if (resolved_config["backbone"].get("finetune") or {}).get("mode") == "lora":
        needs.append("peft")
    if resolved_config["embed"].get("engine", "torch") == "onnx":
        needs.append("onnxruntime")
    return needs


def check_packageable(resolved_config: dict, owner: str | None) -> None:
    features = resolved_config.get("svr", {}).get("features", {})
    if features.get("experiments"):
        raise KaggleError(
            "this experiment's SVR reads other experiments' fold embeddings (svr.features.experiments), "
            "which the notebook could only compute with every fold checkpoint of those experiments too; "
            "package it without them, or blend the experiments instead (ensemble.experiments)"
        )
    if not owner:
        raise KaggleError(owner_problem())


def used_extractors(svr_files: list[str]) -> list[str]:
    """The extractors whose outputs some fold's SVR reads (after a selection, possibly fewer than all)."""
    from ..heads.portable import load_kernel_head

    sets = {name for path in svr_files for name in load_kernel_head(path).feature_sets}
    return sorted({name.split(".")[0] for name in sets if "." in name and not name.startswith("exp:")})


def write_extractors(job: PackageJob, resolved_config: dict, weights_dtype: str, ds: Path, prefix: str = "") -> dict:
    """Each used extractor's weights (`extractor-{name}.pt`, in weights_dtype) rebuilt as the extract rule
    built them (same weights file or hub cache; random weights from the same seed), with its spec and the
    preprocessing recorded by the rule; returns the manifest's `extractors` entry."""
    from ..extract import create_extractor

    specs = {e["name"]: e for e in resolved_config.get("extractors", [])}
    entries = {}
    for name in used_extractors(job.files["svr.npz"]):
        model = create_extractor(specs[name], resolved_config["seed"])
        state = {
            k: v.to(WEIGHTS_DTYPES[weights_dtype]) if v.is_floating_point() else v
            for k, v in model.state_dict().items()
        }
        target = ds / f"{prefix}{extractor_file(name)}"
        torch.save({"model": state, "weights_dtype": weights_dtype}, target)
        info = read_json(job.extractor_infos[name])
        entries[name] = {"file": target.name, "spec": specs[name], "data_config": info["data_config"]}
        log.info("extractor %s: %s, %s", name, specs[name]["model"], target.name)
    return entries


def kernel_metadata(owner: str, exp: str, competition: str, accelerator: str | None) -> dict:
    """kernel-metadata.json: private, internet off (a code competition requires it), the competition and the
    dataset as inputs, and the GPU asked for by machine shape (enable_gpu alone gets a P100, whose compute
    capability 6.0 current PyTorch builds no longer support)."""
    meta = {
        "id": f"{owner}/{kernel_slug(exp)}",
        "title": kernel_slug(exp),
        "code_file": KERNEL_CODE,
        "language": "python",
        "kernel_type": "script",
        "is_private": True,
        "enable_gpu": accelerator is not None and not accelerator.startswith("Tpu"),
        "enable_tpu": accelerator is not None and accelerator.startswith("Tpu"),
        "enable_internet": False,
        "dataset_sources": [f"{owner}/{dataset_slug(exp)}"],
        "competition_sources": [competition],
        "kernel_sources": [],
        "model_sources": [],
    }
    if accelerator:
        meta["machine_shape"] = accelerator
    return meta


@dataclass(frozen=True)
class PackageJob:
    """The package rule's inputs (`files`: each of manifest.fold_artifacts -> one path per fold, in the
    order of `folds`) and outputs."""

    exp: str
    competition: str
    owner: str | None
    folds: list[int]
    files: dict[str, list[str]]
    repo: str
    out_dataset: str
    out_kernel: str
    task: str  # task.json
    decision: str | None = None  # decision.json: the rule the notebook applies, as the pipeline's submission does
    extractor_infos: dict[str, str] = field(default_factory=dict)  # name -> models/{exp}/extract/{name}.json


def member_files(job: PackageJob, resolved_config: dict, weights_dtype: str, ds: Path, prefix: str = "") -> dict:
    """One experiment's part of a dataset folder (every fold's files, its extractors' weights, each named
    with `prefix`), and its manifest's fields but the wheel."""
    embed = resolved_config["embed"]
    wanted = fold_artifacts(embed["engine"], resolved_config["heads"])
    if sorted(job.files) != sorted(wanted):
        raise KaggleError(f"package: got fold files {sorted(job.files)}, the manifest wants {sorted(wanted)}")
    fold_files = {}
    for i, k in enumerate(job.folds):
        fold_files[str(k)] = {}
        for name in wanted:
            target = ds / f"{prefix}{fold_file(k, name)}"
            if name == "best.pt":
                write_checkpoint(job.files[name][i], target, weights_dtype)
            else:
                shutil.copyfile(job.files[name][i], target)
            fold_files[str(k)][name] = target.name
    return dict(
        exp=job.exp,
        competition=job.competition,
        folds=list(job.folds),
        files=fold_files,
        image={k: resolved_config["image"][k] for k in ("size", "resize", "max_aspect")},
        engine=embed["engine"],
        embed_batch_size=embed["batch_size"],
        tta_hflip=embed["tta_hflip"],
        amp=resolved_config["train"]["amp"],
        weights_dtype=weights_dtype,
        seed=resolved_config["seed"],
        versions=library_versions(),
        requires=required_modules(resolved_config),
        task=decided_task(job.task, job.decision).to_dict(),
        extractors=write_extractors(job, resolved_config, weights_dtype, ds, prefix),
        config=resolved_config,
    )


def write_dataset(job: PackageJob, resolved_config: dict, weights_dtype: str) -> Manifest:
    """The flat dataset folder: every fold's files, the extractors' weights, the wheel and the manifest."""
    with atomic_path(job.out_dataset) as ds:
        ds.mkdir()
        fields = member_files(job, resolved_config, weights_dtype, ds)
        manifest = Manifest(**fields, wheel=build_wheel(job.repo, ds).name)
        manifest.write(ds)
        write_dataset_metadata(ds, job.owner, job.exp)
    return manifest


def write_dataset_metadata(ds: Path, owner: str, exp: str) -> None:
    slug = dataset_slug(exp)
    write_json({"title": slug, "id": f"{owner}/{slug}", "licenses": [{"name": "CC0-1.0"}]}, ds / DATASET_METADATA)


@dataclass(frozen=True)
class StackPackageJob:
    """The package rule's inputs for a stacker (kaggle.experiment: stack-{name}): each stacked experiment's
    PackageJob and resolved config, the stacker's summary and boosters, and the outputs."""

    exp: str  # stack-{name}
    members: list[tuple[PackageJob, dict]]
    summary: str  # stack.json
    models: str  # the boosters' folder
    task: str  # task.json of the stacked experiments
    out_dataset: str
    out_kernel: str


def write_stack_dataset(job: StackPackageJob, weights_dtype: str) -> Manifest:
    """One flat dataset for a stacker: each experiment's files under the prefix `{exp}--`, the boosters, the
    wheel and a manifest whose `stack` names them; the notebook predicts each experiment's heads, then
    the stacker on them (pawpipe.kaggle.predict)."""
    summary = read_json(job.summary)
    first, _ = job.members[0]
    with atomic_path(job.out_dataset) as ds:
        ds.mkdir()
        members = {}
        for member, resolved in job.members:
            members[member.exp] = {**member_files(member, resolved, weights_dtype, ds, f"{member.exp}--"), "wheel": ""}
        boosters = {}
        for path in sorted(Path(job.models).glob("fold*.ubj")):
            shutil.copyfile(path, ds / f"stack-{path.name}")
            boosters[path.stem.removeprefix("fold")] = f"stack-{path.name}"
        stack = {"members": members, "boosters": boosters, "components": summary["components"],
                 "tabular": summary["tabular"], "summaries": summary["summaries"]}  # fmt: skip
        base = {k: v for k, v in members[first.exp].items() if k != "wheel"}
        requires = sorted({m for fields in members.values() for m in fields["requires"]} | {"xgboost"})
        manifest = Manifest(**{**base, "exp": job.exp, "folds": [], "files": {}, "extractors": {}, "requires": requires,
                               "task": Task.load(job.task).to_dict()},
                            wheel=build_wheel(first.repo, ds).name, stack=stack)  # fmt: skip
        manifest.write(ds)
        write_dataset_metadata(ds, first.owner, job.exp)
    return manifest


def package_stack(job: StackPackageJob, weights_dtype: str, accelerator: str | None) -> None:
    """A stacker's Kaggle dataset and kernel, each written whole or not at all."""
    first, _ = job.members[0]
    for member, resolved in job.members:
        check_packageable(resolved, member.owner)
    write_stack_dataset(job, weights_dtype)
    write_kernel(job.out_kernel, first.owner, job.exp, first.competition, accelerator)
    log.info("packaged the stacker %s over %s: dataset %s, kernel %s", job.exp, [m.exp for m, _ in job.members],
             job.out_dataset, job.out_kernel)  # fmt: skip


def write_kernel(out_kernel: str, owner: str, exp: str, competition: str, accelerator: str | None) -> None:
    with atomic_path(out_kernel) as kd:
        kd.mkdir()
        shutil.copyfile(NOTEBOOK_SOURCE, kd / KERNEL_CODE)
        write_json(kernel_metadata(owner, exp, competition, accelerator), kd / KERNEL_METADATA)


def package(job: PackageJob, resolved_config: dict, weights_dtype: str, accelerator: str | None) -> None:
    """Kaggle dataset and kernel folders, each written whole or not at all."""
    check_packageable(resolved_config, job.owner)
    if weights_dtype not in WEIGHTS_DTYPES:
        raise KaggleError(f"kaggle.weights_dtype must be one of {sorted(WEIGHTS_DTYPES)}, not {weights_dtype!r}")
    wheel = write_dataset(job, resolved_config, weights_dtype).wheel
    write_kernel(job.out_kernel, job.owner, job.exp, job.competition, accelerator)
    size = sum(p.stat().st_size for p in Path(job.out_dataset).iterdir()) / 2**20
    log.info(
        "packaged %s: dataset %s (%.1f MiB, weights in %s, wheel %s), kernel %s (%s)",
        job.exp, job.out_dataset, size, weights_dtype, wheel, job.out_kernel, accelerator or "CPU",
    )  # fmt: skip
    log.info("publish it (upload, run the notebook, submit, read the score): %s", rerun_command("publish", "1"))
