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
