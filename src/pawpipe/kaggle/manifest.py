"""The code-competition package's contract: one typed, versioned manifest that `package` writes and the
notebook, the rehearsal and `publish` read. Every file the package holds is named here once.

The package is a flat Kaggle dataset (`fold3-best.pt`, `fold3-svr.npz`, ..., the extractors' weights,
the project's wheel) plus `pawpipe.json`, this manifest, and a kernel folder (the notebook's code and
its metadata). A manifest written by another format version, or one that names a file the folder does
not hold, is refused with what to do, before any model loads.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILE = "pawpipe.json"
VERSION = 3  # 1: unversioned; 2: before task types were classes and stacks were packaged
DATASET_METADATA = "dataset-metadata.json"  # the kaggle CLI's dataset description
KERNEL_METADATA = "kernel-metadata.json"  # the kaggle CLI's kernel description
KERNEL_CODE = "predict.py"  # the notebook's code, as the kernel folder holds it
NOTEBOOK_SOURCE = Path(__file__).with_name("notebook.py")  # finds the package by its wheel (notebook.WHEEL)


class ManifestError(ValueError):
    pass


def fold_artifacts(engine: str, heads: list[str] = ("mlp", "svr")) -> tuple[str, ...]:
    """The artifacts of each fold that the package ships (the names the pipeline writes them under):
    the checkpoint, or the ONNX graph and its check report with embed.engine: onnx; each frozen-feature
    head's file (pawpipe.heads.HEADS); the blend."""
    from ..heads import HEADS

    models = ("model.onnx", "onnx.json") if engine == "onnx" else ("best.pt",)
    return (*models, *(HEADS[h].model_file for h in heads if HEADS[h].model_file), "blend.json")


def input_key(artifact: str) -> str:
    """A fold artifact's name as a rule's input key (`best.pt` -> `best_pt`)."""
    return artifact.replace(".", "_")


def fold_file(fold: int, artifact: str) -> str:
    """Where a fold's artifact lies in the flat dataset folder."""
    return f"fold{fold}-{artifact}"


def extractor_file(name: str) -> str:
    return f"extractor-{name}.pt"


@dataclass(frozen=True)
class Manifest:
    """What the notebook needs to predict as the pipeline did, and the files it reads."""

    exp: str
    competition: str
    folds: list[int]
    files: dict[str, dict[str, str]]  # fold (as a string) -> {artifact: file in the dataset folder}
    wheel: str
    image: dict[str, Any]  # size, resize, max_aspect: how the models saw their images
    engine: str  # torch | onnx
    embed_batch_size: int
    tta_hflip: bool
    amp: str  # train.amp, which the notebook adapts to its GPUs (runtime.inference_amp)
    weights_dtype: str
    seed: int
    versions: dict[str, str]  # the libraries the package was built with
    requires: list[str]  # modules beyond the notebook's own that this experiment needs from Kaggle's image
    task: dict[str, Any]  # the resolved task (task.json): columns, test table, images, submission
    extractors: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {file, spec, data_config}
    config: dict[str, Any] = field(default_factory=dict)  # the resolved config, for the record
    # A stacker's package: {members: {exp: manifest fields, files prefixed `{exp}--`}, boosters: {fold: file},
    # components, tabular, summaries}; empty for one experiment's.
    stack: dict[str, Any] = field(default_factory=dict)
    version: int = VERSION

    def path(self, folder: str | Path, fold: int, artifact: str) -> Path | None:
        """A fold's artifact in the package folder; None when this package does not ship it."""
        name = self.files[str(fold)].get(artifact)
        return Path(folder) / name if name else None

    def named_files(self) -> list[str]:
        """Every file of the dataset folder the notebook reads, besides this manifest."""
        names = [name for files in self.files.values() for name in files.values()]
        names += [e["file"] for e in self.extractors.values()]
        for member in self.members().values():
            names += [n for n in member.named_files() if n]
        return [*names, *self.stack.get("boosters", {}).values(), self.wheel]

    def members(self) -> dict[str, Manifest]:
        """A stacker's experiments, each as a manifest of its own files (within the same folder)."""
        return {exp: Manifest(**fields) for exp, fields in self.stack.get("members", {}).items()}

    def write(self, folder: str | Path) -> Path:
        from ..io import write_json

        path = Path(folder) / FILE
        write_json(dataclasses.asdict(self), path)
        return path

    @classmethod
    def read(cls, folder: str | Path) -> Manifest:
        """The manifest of a package folder, refused unless it is this version's and every file it names is there."""
        path = Path(folder) / FILE
        rebuild = "rebuild the package with this pawpipe's package rule (and publish it again)"
        if not path.is_file():
            raise ManifestError(f"{folder}: no {FILE}, so not a pawpipe package; {rebuild}")
        data = json.loads(path.read_text())
        version = data.get("version", 1)
        if version != VERSION:
            raise ManifestError(
                f"{path}: a package of manifest version {version}, but this pawpipe reads version {VERSION}; {rebuild}"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown, missing = (
            sorted(set(data) - known),
            sorted(f.name for f in dataclasses.fields(cls) if f.name not in data and f.default is dataclasses.MISSING),
        )
        if unknown or missing:
            raise ManifestError(f"{path}: unknown keys {unknown}, missing keys {missing}; {rebuild}")
        manifest = cls(**data)
        absent = [name for name in manifest.named_files() if not (Path(folder) / name).is_file()]
        if absent:
            raise ManifestError(
                f"{path} names {len(absent)} file(s) the folder does not hold, e.g. {absent[0]}: the dataset is "
                f"incomplete (an upload that failed, or files moved); upload the whole folder again or {rebuild}"
            )
        return manifest
