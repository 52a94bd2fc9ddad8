"""The code-competition notebook's runtime: precision per GPU, loading that runs no code, inputs found
under /kaggle/input, folds split across devices."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import copy_run, pawpularity_task, run_snakemake
from pawpipe.io import read_json
from pawpipe.kaggle import notebook as kernel_predict
from pawpipe.kaggle.notebook import find_inputs
from pawpipe.kaggle.predict import deal_folds, predict_package, version_mismatches
from pawpipe.model import load_checkpoint
from pawpipe.runtime import choose_amp


@pytest.mark.parametrize("mode, capability, expected", [
    ("auto", (6, 0), "fp16"),  # P100
    ("auto", (7, 5), "fp16"),  # T4: bf16 would be emulated
    ("auto", (8, 0), "bf16"),  # A100
    ("auto", (9, 0), "bf16"),  # H100
    ("bf16", (7, 5), "bf16"),  # asked for explicitly: kept (training may want it)
    ("off", (8, 0), None),
    ("auto", None, None),  # not CUDA
])  # fmt: skip
def test_auto_precision_takes_bf16_only_where_it_is_native(mode, capability, expected):
    assert choose_amp(mode, capability) == expected


class Payload:
    """What a hostile checkpoint could carry: unpickling it calls Path.touch (it could call anything)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_checkpoints_load_without_unpickling_code(tmp_path):
    marker = tmp_path / "code-ran"
    torch.save({"model": {}, "model_args": {}, "extra": Payload(marker)}, tmp_path / "best.pt")
    with pytest.raises(RuntimeError, match=r"best\.pt: holds more than tensors.*weights_only=True"):
        load_checkpoint(tmp_path / "best.pt")
    assert not marker.exists()


def kaggle_input(root: Path, layout: str) -> Path:
    """An empty-weights stand-in of /kaggle/input in one of Kaggle's mount layouts."""
    comp, pkg = {
        "classic": ("petfinder-pawpularity-score", "pawpipe-demo"),
        "mounted": ("competitions/petfinder-pawpularity-score", "datasets/someone/pawpipe-demo"),
    }[layout]
    (root / comp / "test").mkdir(parents=True)
    (root / comp / "train").mkdir()
    (root / comp / "test.csv").write_text("Id\n")
    (root / pkg).mkdir(parents=True)
    (root / pkg / "pawpipe-0.1.0-py3-none-any.whl").write_bytes(b"")
    return root


@pytest.mark.parametrize("layout", ["classic", "mounted"])
def test_the_kernel_finds_its_inputs_in_either_mount_layout(tmp_path, layout):
    root = kaggle_input(tmp_path / "input", layout)
    data, packages = find_inputs(root, "petfinder-pawpularity-score", "test.csv")
    assert [Path(d).relative_to(root).parts[-1] for d in data] == ["petfinder-pawpularity-score"]
    assert [Path(p).name for p in packages] == ["pawpipe-demo"]


def test_the_kernel_says_what_is_missing(tmp_path):
    root = kaggle_input(tmp_path / "input", "mounted")
    (root / "datasets/someone/pawpipe-demo/pawpipe-0.1.0-py3-none-any.whl").unlink()
    with pytest.raises(SystemExit, match=r"(?s)no pawpipe dataset .* under .*input.*add the dataset.*competitions/"):
        kernel_predict.choose(find_inputs(root)[1], "pawpipe dataset (a folder with the pawpipe wheel)",
                              "add the dataset to the notebook's inputs", root)  # fmt: skip


def test_folds_are_dealt_round_robin_over_devices():
    assert deal_folds(list(range(10)), ["cuda:0", "cuda:1"]) == [
        ("cuda:0", [0, 2, 4, 6, 8]),
        ("cuda:1", [1, 3, 5, 7, 9]),
    ]
    assert deal_folds([0, 1], ["cpu"]) == [("cpu", [0, 1])]
    assert deal_folds([3], ["cuda:0", "cuda:1"]) == [("cuda:0", [3])]


def test_version_differences_are_named():
    import numpy

    assert version_mismatches({"numpy": numpy.__version__}) == []
    (problem,) = version_mismatches({"numpy": "0.0.1", "torch": torch.__version__})
    assert problem.startswith(f"numpy {numpy.__version__}") and "built with 0.0.1" in problem


@pytest.fixture(scope="module")
def packaged(pipeline_run, tmp_path_factory) -> Path:
    work = copy_run(pipeline_run, tmp_path_factory.mktemp("packaged"))
    run_snakemake(work, "--cores", "2", "package", env={**os.environ, "KAGGLE_USERNAME": "tester"})
    return work


@pytest.mark.slow
def test_folds_split_over_workers_give_the_same_submission(packaged, tmp_path):
    """The multi-GPU split, on the CPU: two workers (threads) share the folds, the result is unchanged."""
    dataset, data = packaged / "submissions/tiny/kaggle/dataset", packaged / "data/tiny"
    one = predict_package(dataset, data, tmp_path / "one.csv", device="cpu", timings_json=tmp_path / "t1.json")
    two = predict_package(dataset, data, tmp_path / "two.csv", device="cpu,cpu", timings_json=tmp_path / "t2.json")
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    assert len(one) == len(two) == 12
    assert read_json(tmp_path / "t2.json")["devices"] == ["cpu", "cpu"]


@pytest.mark.slow
@pytest.mark.gpu
def test_folds_split_over_every_visible_gpu(packaged, tmp_path):
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two GPUs (Kaggle's T4 x2)")
    dataset, data = packaged / "submissions/tiny/kaggle/dataset", packaged / "data/tiny"
    split = predict_package(dataset, data, tmp_path / "split.csv", device="auto", timings_json=tmp_path / "t.json")
    single = predict_package(dataset, data, tmp_path / "single.csv", device="cuda:0")
    assert len(read_json(tmp_path / "t.json")["devices"]) == torch.cuda.device_count()
    assert (split["Pawpularity"] - single["Pawpularity"]).abs().max() < 0.05


def write_package(folder: Path, **changes):
    """A minimal package folder: the files its manifest names, and the manifest."""
    from pawpipe.kaggle.manifest import Manifest

    folder.mkdir(parents=True, exist_ok=True)
    files = {"0": {"best.pt": "fold0-best.pt", "svr.npz": "fold0-svr.npz", "blend.json": "fold0-blend.json"}}
    for name in [*files["0"].values(), "pawpipe-0.1.0-py3-none-any.whl"]:
        (folder / name).write_bytes(b"")
    fields = dict(exp="demo", competition="petfinder-pawpularity-score", folds=[0], files=files,
                  wheel="pawpipe-0.1.0-py3-none-any.whl", image={"size": 64, "resize": "crop", "max_aspect": 1.34},
                  engine="torch", embed_batch_size=8, tta_hflip=False, amp="auto", weights_dtype="float16", seed=0,
                  versions={}, requires=[], task=pawpularity_task().to_dict())  # fmt: skip
    return Manifest(**{**fields, **changes}).write(folder)


def test_the_manifest_reads_back_what_was_written(tmp_path):
    from pawpipe.kaggle.manifest import Manifest

    write_package(tmp_path / "pkg")
    manifest = Manifest.read(tmp_path / "pkg")
    assert manifest.path(tmp_path / "pkg", 0, "svr.npz") == tmp_path / "pkg" / "fold0-svr.npz"
    assert manifest.path(tmp_path / "pkg", 0, "model.onnx") is None  # not shipped with engine torch
    assert sorted(manifest.named_files())[-1].endswith(".whl")


def test_a_manifest_of_another_version_or_with_a_missing_file_is_refused(tmp_path):
    import json

    from pawpipe.kaggle.manifest import Manifest, ManifestError

    path = write_package(tmp_path / "old")
    data = json.loads(path.read_text())
    path.write_text(json.dumps({k: v for k, v in data.items() if k != "version"}))  # as packages before it
    with pytest.raises(ManifestError, match=r"manifest version 1, but this pawpipe reads version 3; rebuild"):
        Manifest.read(tmp_path / "old")
    write_package(tmp_path / "partial")
    (tmp_path / "partial" / "fold0-svr.npz").unlink()
    with pytest.raises(ManifestError, match=r"names 1 file\(s\) the folder does not hold, e.g. fold0-svr.npz"):
        Manifest.read(tmp_path / "partial")
    with pytest.raises(ManifestError, match=r"no pawpipe.json, so not a pawpipe package"):
        Manifest.read(tmp_path)


def _blend_scaled(weights, preds):  # another blend formula: the last head's prediction scaled up by 10%
    out = None
    for i, p in enumerate(preds):
        w = weights[i] if np.ndim(weights) == 1 else np.asarray(weights)[:, i]
        part = w * p * (1.1 if i == len(preds) - 1 else 1.0)
        out = part if out is None else out + part
    return out


def _fold_max(fold_preds):  # another fold mean
    return np.clip(np.max(fold_preds, axis=0), 1, 100)


def _sets_reordered(sets, names, xp=np):  # another feature assembly: the sets reversed, the first one twice
    return xp.concatenate([sets[n] for n in [*names, names[0]][::-1]], axis=1).astype(xp.float32, copy=False)


def pipeline_and_notebook(work: Path, out: Path, refit_svr: bool) -> tuple:
    """The pipeline's stages from the SVR (or the blend) on, then `package` (the folds' new files copied
    into the dataset) and the notebook: both submissions, in process."""
    import shutil

    from pawpipe.blend import BlendJob, blend_fold
    from pawpipe.configfile import load_config
    from pawpipe.features import FeatureInputs
    from pawpipe.heads.backend import SVRConfig
    from pawpipe.heads.stage import SVRJob, fit_fold
    from pawpipe.kaggle.manifest import fold_file
    from pawpipe.report import make_submission

    cfg = load_config(base=work / "config/config.yaml")
    task = str(work / "models/tiny/task.json")
    dataset = out / "dataset"
    shutil.copytree(work / "submissions/tiny/kaggle/dataset", dataset)
    tests = []
    for k in (0, 1):
        fold, new = work / f"models/tiny/fold{k}", out / f"fold{k}"
        svr_oof, svr_test = fold / "svr_oof.csv", fold / "svr_test.csv"
        if refit_svr:
            svr_oof, svr_test = new / "svr_oof.csv", new / "svr_test.csv"
            inputs = FeatureInputs(str(fold / "embeddings.npz"), str(work / "data/tiny/train.csv"),
                                   str(work / "data/tiny/test.csv"), task)  # fmt: skip
            job = SVRJob(k, str(work / "models/tiny/folds.csv"), inputs, str(new / "svr.npz"), str(svr_oof),
                         str(svr_test), str(new / "svr.json"), task)  # fmt: skip
            fit_fold(job, SVRConfig(**{**cfg["svr"], "backend": "sklearn", "threads": 1}))
            shutil.copy(new / "svr.npz", dataset / fold_file(k, "svr.npz"))
        oofs, tests_ = {"mlp": str(fold / "mlp_oof.csv"), "svr": str(svr_oof)}, {"mlp": str(fold / "mlp_test.csv"),
                                                                                 "svr": str(svr_test)}  # fmt: skip
        outs = (str(new / "blend_oof.csv"), str(new / "blend_test.csv"), str(new / "blend.json"))
        job = BlendJob(k, oofs, tests_, *outs, task)
        blend_fold(job, cfg["blend"]["weight"], cfg["seed"])
        shutil.copy(new / "blend.json", dataset / fold_file(k, "blend.json"))
        tests.append(str(new / "blend_test.csv"))
    from pawpipe.task import Task

    pipeline = make_submission(test_csvs=tests, test_table=str(work / "data/tiny/test.csv"), task=Task.load(task),
                               out_csv=str(out / "p.csv"))  # fmt: skip
    notebook = predict_package(dataset, work / "data/tiny", out / "n.csv", device="cpu")
    return pipeline["Pawpularity"].to_numpy(), notebook["Pawpularity"].to_numpy()


@pytest.mark.slow
@pytest.mark.parametrize("where, function, replacement", [
    ("pawpipe.blend", "mix", _blend_scaled),
    ("pawpipe.blend", "fold_mean", _fold_max),
    ("pawpipe.features", "assemble", _sets_reordered),
])  # fmt: skip
def test_a_shared_fact_changed_in_one_place_moves_the_pipeline_and_the_notebook_alike(
    packaged, tmp_path, monkeypatch, where, function, replacement
):
    """The blend formula, the fold mean and the feature assembly are each one function that the pipeline
    and the notebook both call: its code replaced in place (as an edit of its source would), both
    submissions move, and they still agree."""
    import importlib

    target = importlib.import_module(where)
    for name in function.split("."):
        target = getattr(target, name)
    refit = function == "assemble"
    before, _ = pipeline_and_notebook(packaged, tmp_path / "before", refit)
    monkeypatch.setattr(target, "__code__", replacement.__code__)
    pipeline, notebook = pipeline_and_notebook(packaged, tmp_path / "after", refit)
    assert np.abs(pipeline - before).max() > 0.5  # the change moved the submission
    assert np.abs(pipeline - notebook).max() < 0.05  # and the notebook moved with it (kaggle.rehearsal_tolerance)
