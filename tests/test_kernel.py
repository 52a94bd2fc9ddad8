"""The code-competition notebook's runtime: precision per GPU, loading that runs no code, inputs found
under /kaggle/input, folds split across devices."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

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
