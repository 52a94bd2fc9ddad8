"""Every `snakemake` command the docs show runs as written: collected from the README, the docs pages,
the config and profile comments and the hints the code prints, each is parsed by Snakemake's own
argument parser and dry-run (-n) in a finished copy of the demo."""

from __future__ import annotations

import json
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


def quick_start() -> list[str]:
    """The lines of the README's quick start (between its `<!-- quick-start -->` markers), comments cut."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- quick-start -->\n```bash\n(.*?)```\n<!-- /quick-start -->", text, re.S)
    assert block, "README.md has no quick start between <!-- quick-start --> markers"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.split("#")[0].strip()]


@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory) -> Path:
    """A fresh copy of the repository (its tracked files) after the README's quick start, run as written
    on the demo shrunk to run in a minute: experiment `demo` with two folds, so every path and target the
    docs name exists."""
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
    cfg["folds"]["n_splits"] = 2
    cfg["train"]["epochs"] = 1
    (copy / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    for cmd in quick_start():
        if cmd.startswith("snakemake "):
            snakemake(copy, cmd, check=True)
    return copy


@pytest.mark.slow
def test_the_quick_start_is_what_ci_and_the_tests_run(demo_copy):
    """Its install line is the one CI runs (quietly); its snakemake commands ran, as written, in demo_copy."""
    lines = quick_start()
    ci = (REPO / ".ci" / "run").read_text().replace("pip install -q ", "pip install ")
    installs = [line for line in lines if not line.startswith("snakemake ")]
    assert installs and all(line in ci for line in installs), installs
    assert [line for line in lines if line.startswith("snakemake ")], "the quick start runs nothing"
    assert (demo_copy / "submissions/demo/submission.csv").is_file() and (demo_copy / "report.html").is_file()


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


def declared_outputs(tmp_path: Path, *configfiles: str) -> dict[str, list[str]]:
    """Every rule's declared outputs, as the workflow defines them for these config files: a Snakefile
    that includes the real one and writes `workflow.rules` out once they are defined."""
    (tmp_path / "workflow").symlink_to(REPO / "workflow")  # the Snakefile reads its rules beside itself
    dump = tmp_path / "rules.json"
    (tmp_path / "Snakefile").write_text(
        f"include: {str(REPO / 'Snakefile')!r}\n"
        "import json\n"
        f"json.dump({{r.name: [str(o) for o in r.output] for r in workflow.rules}}, open({str(dump)!r}, 'w'))\n"
    )
    rules = {}
    for configfile in configfiles:
        work = tmp_path / Path(configfile).stem
        shutil.copytree(REPO / "config", work / "config")
        args = ["-n", "--cores", "1", "--configfile", "config/config.yaml", configfile] if configfile else ["-n"]
        proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(tmp_path / "Snakefile"), "-d", str(work),
                               *args], cwd=work, capture_output=True, text=True)  # fmt: skip
        assert dump.exists(), proc.stdout[-2000:] + proc.stderr[-3000:]
        rules.update(json.loads(dump.read_text()))
        dump.unlink()
    return rules


def normalised(path: str) -> list[str]:
    """A declared output as docs/outputs.md writes it: {exp}, fold{k}, {name}, {data.dir}; a wildcard
    limited to a few literals (cache/{split,train|test}.npy) gives one path per literal."""
    for found in re.finditer(r"\{\w+,([\w|]+)\}", path):
        if "|" in found.group(1):
            return [p for alt in found.group(1).split("|") for p in normalised(path.replace(found.group(0), alt))]
    path = re.sub(r"\{fold,[^}]*\}", "{k}", path)
    path = re.sub(r"\{extractor,[^}]*\}", "{name}", path)
    path = re.sub(r"\{(\w+),[^}]*\}", r"{\1}", path)
    path = re.sub(r"^data/[^/]+/", "{data.dir}/", path)
    path = re.sub(r"^(models|submissions)/(ensemble|stack)-[^/]+/", r"\1/\2-{name}/", path)
    return [re.sub(r"^(models|submissions)/(?!ensemble-|stack-)[^/{]+/", r"\1/{exp}/", path)]  # an experiment's


@pytest.mark.slow
def test_the_outputs_page_lists_every_artifact_a_rule_declares(tmp_path):
    """docs/outputs.md names every output of every rule (the demo, the competition preset, a sweep with
    its ensemble and stacker), so an artifact added without its line fails here."""
    rules = declared_outputs(tmp_path, "", "config/petfinder.yaml", "config/variants/sweep.yaml")
    assert {"download_data", "demo_data", "ensemble", "stack", "board", "train"} <= set(rules)
    page = (REPO / "docs" / "outputs.md").read_text()
    missing = sorted({f"{rule}: {p}" for rule, outs in rules.items() for o in outs for p in normalised(o)
                      if f"`{p}`" not in page})  # fmt: skip
    assert not missing, "docs/outputs.md lacks these artifacts:\n" + "\n".join(missing)
    assert normalised("models/{exp,demo}/cache/{split,train|test}.npy") == [
        "models/{exp}/cache/train.npy", "models/{exp}/cache/test.npy"]  # fmt: skip


OVERLAY_MARK = re.compile(r"<!--\s*overlay on:\s*([^;>]+?)\s*(?:;\s*as:\s*([^>]+?)\s*)?-->")
YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)


def yaml_blocks() -> list[tuple[str, str, list[str], str | None]]:
    """(where, block, the config files it goes on top of, the file it says it is) for every YAML block of
    the README and the docs pages: each one is an overlay a user copies. The line before a block may say
    what it goes on (`<!-- overlay on: config/petfinder.yaml; as: config/variants/cassava.yaml -->`);
    without one it goes on config/config.yaml."""
    found = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "config" / "README.md"]:
        text = path.read_text()
        for m in YAML_BLOCK.finditer(text):
            before = text[: m.start()].rstrip().splitlines()[-1:] or [""]
            mark = OVERLAY_MARK.search(before[0])
            bases = [b.strip() for b in mark.group(1).split(",")] if mark else ["config/config.yaml"]
            line = text[: m.start()].count("\n") + 1
            found.append((f"{path.relative_to(REPO)}:{line}", m.group(1), bases, mark.group(2) if mark else None))
    return found


BLOCKS = yaml_blocks()


def test_the_docs_show_overlays_to_check():
    assert any("cassava" in block for _, block, _, _ in BLOCKS) and len(BLOCKS) >= 2


@pytest.mark.parametrize("where, block, bases, same_as", BLOCKS, ids=[b[0] for b in BLOCKS])
def test_every_documented_overlay_loads_and_validates(where, block, bases, same_as, tmp_path):
    """A YAML block in the docs is an overlay a user copies: on the files it says it goes on, it passes the
    schema and every check the workflow makes at load (the task, the feature sets, a sweep's points); a
    block that says which variant file it is holds exactly that file's settings."""
    from pawpipe.config import config_problems
    from pawpipe.configfile import load_config as load
    from pawpipe.sweep import expand

    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(block)
    config = load([REPO / b for b in bases if b != "config/config.yaml"] + [overlay])
    assert config_problems(config) == [], where
    assert expand(config), where
    if same_as:
        assert yaml.safe_load(block) == yaml.safe_load((REPO / same_as).read_text()), f"{where} differs from {same_as}"
