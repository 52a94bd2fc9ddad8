"""Every `snakemake` command the docs show runs as written: collected from the README, the docs pages,
the config and profile comments and the hints the code prints, each is parsed by Snakemake's own
argument parser and dry-run (-n) in a finished copy of the demo."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, load_config

# Where commands are shown to a user: pages, config and profile comments, and what the code prints.
SOURCES = ["README.md", "BENCHMARKS.md", "docs/*.md", "config/**/*.md", "config/**/*.yaml", "profiles/**/*.yaml",
           "workflow/schemas/*.yaml", "workflow/rules/*.smk", "src/pawpipe/**/*.py"]  # fmt: skip
# Commands that cannot be planned on this machine, and why; they are still parsed and their files checked.
NOT_PLANNED = {
    "--sdm conda": "conda is not installed here (CI installs the pinned pip packages only)",
    "config/variants/ensemble.yaml": "it blends demo-lora, demo-frozen and demo-metahead, which must have run first",
}
COMMAND = re.compile(r"^\s*(?:\$\s+|[A-Z][\w ,()]*:\s+)?(snakemake\s.*)$")  # "$ snakemake ..", "Use with: snakemake .."
INLINE = re.compile(r"`(snakemake\s[^`]+)`")
FENCE = re.compile(r"^```")


def commands_in(path: Path) -> list[tuple[str, str]]:
    """(where, command) for each snakemake command in a file: in code blocks and comment lines a line
    that starts with `snakemake ` (chained commands split at && and ;), elsewhere an inline code span."""
    text = path.read_text()
    found, fenced = [], False
    rel = path.relative_to(REPO).as_posix()
    for n, line in enumerate(text.splitlines(), 1):
        if path.suffix == ".md" and FENCE.match(line.strip()):
            fenced = not fenced
            continue
        body = line
        if path.suffix in (".yaml", ".smk", ".py") and "#" in line:
            body = line.split("#", 1)[1]  # a comment line
        elif not fenced:
            body = ""
        for part in re.split(r"&&|;", body):
            m = COMMAND.match(part)
            if m:
                found.append((f"{rel}:{n}", m.group(1)))
    flat = text if path.suffix != ".md" else re.sub(r"```.*?```", "", text, flags=re.S)
    for m in INLINE.finditer(flat.replace("\n", " ")):
        found.append((f"{rel}: `{m.group(1)}`", m.group(1)))
    return found


def documented_commands() -> list[tuple[str, str]]:
    """(where it is shown, command), once per distinct command; `where` lists every place."""
    found: dict[str, list[str]] = {}
    for pattern in SOURCES:
        for path in sorted(REPO.glob(pattern)):
            for where, cmd in commands_in(path):
                found.setdefault(shlex.join(shlex.split(cmd, comments=True)), []).append(where)
    return sorted((", ".join(wheres), cmd) for cmd, wheres in found.items())


COMMANDS = documented_commands()


def test_the_docs_show_commands_to_check():
    where = {w.split(":")[0] for ws, _ in COMMANDS for w in ws.split(", ")}
    assert len(COMMANDS) >= 20 and {"README.md", "config/petfinder.yaml", "profiles/slurm/profile.yaml"} <= where


def arguments(cmd: str):
    """Snakemake's own reading of a command line."""
    from snakemake.cli import get_argument_parser

    return get_argument_parser().parse_args(shlex.split(cmd)[1:])


def parse(cmd: str):
    """(targets, config files) of a command line, as Snakemake reads it."""
    args = arguments(cmd)
    return list(args.targets or []), [str(f) for f in (args.configfile or [])]


def cores_problem(cmd: str) -> str | None:
    """A command that runs jobs here needs --cores (or a profile that runs them elsewhere); a dry run
    does not, so planning alone would not catch its absence."""
    args = arguments(cmd)
    runs_jobs = not (args.dryrun or args.lint or args.report or args.unlock or args.list_rules)
    if runs_jobs and args.cores is None and args.jobs is None and not args.profile:
        return "it runs jobs but gives no --cores (Snakemake: 'cores have to be specified for local execution')"
    return None


@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory) -> Path:
    """A fresh copy of the repository (its tracked files) after the demo, shrunk to run in a minute:
    experiment `demo` with four folds, so every path and target the docs name exists."""
    copy = tmp_path_factory.mktemp("clone") / "pawpipe"
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy / name)
    cfg = load_config()  # the demo's own model and image size, so that every overlay applies as documented
    cfg["data"]["demo"].update(n_train=64, n_test=8)
    cfg["folds"]["n_splits"] = 4
    cfg["train"]["epochs"] = 1
    (copy / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    snakemake(copy, "snakemake --cores 2", check=True)
    return copy


def snakemake(workdir: Path, cmd: str, check: bool = False) -> subprocess.CompletedProcess:
    """A documented command run as written, but through this interpreter (`snakemake` -> python -m snakemake)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAGGLE_", "WANDB_"))}
    env["HOME"] = str(workdir / ".home")  # no kaggle.json of the developer's
    argv = [sys.executable, "-m", "snakemake", *shlex.split(cmd)[1:]]
    proc = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.mark.slow
@pytest.mark.parametrize("where, cmd", COMMANDS, ids=[c for _, c in COMMANDS])
def test_a_documented_command_runs_as_written(demo_copy, where, cmd):
    targets, configfiles = parse(cmd)
    assert not cores_problem(cmd), f"{where}: `{cmd}`: {cores_problem(cmd)}"
    missing = [f for f in configfiles if not (demo_copy / f).is_file()]
    assert not missing, f"{where}: `{cmd}`: --configfile {missing} is not a file (a target after --configfile?)"
    reason = next((why for key, why in NOT_PLANNED.items() if key in cmd), None)
    if reason:
        pytest.skip(f"parsed, not planned: {reason}")
    proc = snakemake(demo_copy, f"{cmd} -n")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{where}: `{cmd}` does not plan:\n{out[-3000:]}"


def test_the_commands_hints_print_carry_the_runs_config_files(monkeypatch):
    from pawpipe.config import CONFIGFILES_ENV, rerun_command

    monkeypatch.setenv(CONFIGFILES_ENV, '["config/petfinder.yaml", "config/variants/winners.yaml"]')
    cmd = rerun_command("publish", "1")
    assert cmd == "snakemake publish --cores 1 --configfile config/petfinder.yaml config/variants/winners.yaml"
    assert parse(cmd) == (["publish"], ["config/petfinder.yaml", "config/variants/winners.yaml"])
    monkeypatch.delenv(CONFIGFILES_ENV)
    assert parse(rerun_command("leaderboard")) == (["leaderboard"], [])


def test_a_command_that_runs_jobs_must_say_how_many_cores():
    assert cores_problem("snakemake leaderboard")
    assert not cores_problem("snakemake leaderboard --cores 1") and not cores_problem("snakemake -n")
    assert not cores_problem("snakemake --profile profiles/slurm")
    assert not cores_problem("snakemake --report report.html")


def test_the_config_page_lists_every_key_of_the_schema(tmp_path):
    """config/README.md's table is the schema's (regenerate: python -m pawpipe.configfile config/README.md)."""
    from pawpipe.configfile import render_reference, schema_keys

    page = tmp_path / "README.md"
    shutil.copy(REPO / "config" / "README.md", page)
    assert not render_reference(page), "config/README.md is stale: python -m pawpipe.configfile config/README.md"
    text = page.read_text()
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    missing = [key for key, _ in schema_keys(schema) if f"| `{key}` |" not in text]
    assert not missing and len(schema_keys(schema)) > 100
