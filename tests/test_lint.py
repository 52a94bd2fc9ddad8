"""Lint as part of the test command, so CI and developers run the same checks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.parametrize("cmd", [
    [sys.executable, "-m", "ruff", "check", "."],
    [sys.executable, "-m", "ruff", "format", "--check", "."],
    [sys.executable, "-m", "snakefmt", "--check", "."],
    [sys.executable, "-m", "snakemake", "--lint"],
], ids=["ruff", "ruff-format", "snakefmt", "snakemake-lint"])  # fmt: skip
def test_lint(cmd):
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    if "--lint" in cmd:
        assert "Congratulations" in out, out[-4000:]  # snakemake --lint exits 0 even with findings


def test_no_function_of_the_library_takes_more_than_eight_parameters():
    """A stage takes a typed job object, not a dozen keyword arguments (timm's 19-parameter
    train_one_epoch is the example not to follow); self and cls are not counted, *args and **kwargs are."""
    import ast

    found = []
    for path in sorted((REPO / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                a = node.args
                names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
                count = len(names) + bool(a.vararg) + bool(a.kwarg) - (names[:1] in (["self"], ["cls"]))
                if count > 8:
                    found.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} takes {count}")
    assert not found, "\n".join(found)
