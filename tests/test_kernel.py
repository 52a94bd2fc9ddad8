"""The code-competition notebook's runtime: precision per GPU, loading that runs no code, inputs found
under /kaggle/input, folds split across devices."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from conftest import copy_run, run_snakemake
from pawpipe import kernel_predict
from pawpipe.infer import deal_folds, predict_package, version_mismatches
from pawpipe.io import read_json
from pawpipe.kernel_predict import find_inputs
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
    (root / pkg / "pawpipe.json").write_text('{"competition": "petfinder-pawpularity-score"}')
    return root


@pytest.mark.parametrize("layout", ["classic", "mounted"])
def test_the_kernel_finds_its_inputs_in_either_mount_layout(tmp_path, layout):
    root = kaggle_input(tmp_path / "input", layout)
    data, packages = find_inputs(root, "petfinder-pawpularity-score")
    assert [Path(d).relative_to(root).parts[-1] for d in data] == ["petfinder-pawpularity-score"]
    assert [Path(p).name for p in packages] == ["pawpipe-demo"]


def test_the_kernel_says_what_is_missing(tmp_path):
    root = kaggle_input(tmp_path / "input", "mounted")
    (root / "datasets/someone/pawpipe-demo/pawpipe.json").unlink()
    with pytest.raises(SystemExit, match=r"(?s)no pawpipe dataset .* under .*input.*add the dataset.*competitions/"):
        kernel_predict.choose(find_inputs(root)[1], "pawpipe dataset (a folder with pawpipe.json)",
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


@pytest.mark.gpu
def test_folds_split_over_every_visible_gpu(packaged, tmp_path):
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two GPUs (Kaggle's T4 x2)")
    dataset, data = packaged / "submissions/tiny/kaggle/dataset", packaged / "data/tiny"
    split = predict_package(dataset, data, tmp_path / "split.csv", device="auto", timings_json=tmp_path / "t.json")
    single = predict_package(dataset, data, tmp_path / "single.csv", device="cuda:0")
    assert len(read_json(tmp_path / "t.json")["devices"]) == torch.cuda.device_count()
    assert (split["Pawpularity"] - single["Pawpularity"]).abs().max() < 0.05
