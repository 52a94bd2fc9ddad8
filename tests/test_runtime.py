"""Device and precision rules, and the out-of-memory message that names what to lower."""

from __future__ import annotations

import ast

import pytest
import torch

from conftest import REPO
from pawpipe.runtime import MEMORY_KEYS, explain_oom


def oom_stages() -> set[str]:
    """Every stage name the library passes to explain_oom."""
    found = set()
    for path in (REPO / "src" / "pawpipe").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "explain_oom":
                found.add(node.args[0].value)
    return found


def test_every_stage_that_explains_out_of_memory_has_its_keys():
    assert oom_stages() >= {"train", "validate", "embed", "extract"}
    assert oom_stages() <= set(MEMORY_KEYS), oom_stages() - set(MEMORY_KEYS)


@pytest.mark.parametrize("stage", sorted(oom_stages()))
def test_a_gpu_out_of_memory_error_names_the_keys_to_lower(stage):
    with pytest.raises(RuntimeError, match=rf"{stage}: the GPU ran out of memory \(CUDA out of memory\.") as exc:
        with explain_oom(stage):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert MEMORY_KEYS[stage] in str(exc.value) and "batch_size" in str(exc.value)


def test_an_extractor_out_of_memory_names_the_extractor_keys():
    with pytest.raises(RuntimeError, match=r"extract: .*embed\.batch_size"):
        with explain_oom("extract"):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
