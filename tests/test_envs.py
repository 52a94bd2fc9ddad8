"""Each conda env lists what its rules import, at the versions requirements.txt pins."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO

# Import name -> distribution name, where they differ.
DIST = {
    "PIL": "pillow",
    "sklearn": "scikit-learn",
    "yaml": "pyyaml",
    "cv2": "opencv-python-headless",
    "huggingface_hub": "huggingface-hub",
    "iterstrat": "iterative-stratification",
}
GPU_ONLY = {"cuml", "cupy", "cudf"}  # imported only on the cuML path, never needed on CPU
ENVS = {"TORCH_ENV": ["torch"], "get_svr_env()": ["torch", "rapids"]}


def requirements() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0]
        if "==" in line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def env_packages(name: str) -> dict[str, str | None]:
    spec = yaml.safe_load((REPO / "envs" / f"{name}.yaml").read_text())
    found = {}
    for dep in spec["dependencies"]:
        for item in dep["pip"] if isinstance(dep, dict) else [dep]:
            m = re.match(r"^([A-Za-z0-9_.-]+)\s*(?:==?\s*([^,<>\s]+))?", item)
            found[m.group(1).lower()] = m.group(2)
    return found


def imports_of(path: Path, seen: set[Path] | None = None) -> set[str]:
    """Top-level third-party modules a script needs, following imports into the pawpipe package."""
    seen = seen if seen is not None else set()
    if path in seen:
        return set()
    seen.add(path)
    found: set[str] = set()
    pkg = REPO / "src" / "pawpipe"
    for node in ast.walk(ast.parse(path.read_text())):
        modules = []
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import inside pawpipe: from the file's own package, `level` up
                package = path.relative_to(REPO / "src").with_suffix("").parts[:-1]
                base = package[: len(package) - (node.level - 1)]
                modules = [".".join([*base, node.module] if node.module else base)]
            else:
                modules = [node.module]
        for mod in modules:
            top = mod.split(".")[0]
            if top == "pawpipe":
                sub = mod.split(".")[1:]
                target = pkg.joinpath(*sub)
                target = target / "__init__.py" if target.is_dir() else target.with_suffix(".py")
                found |= imports_of(target, seen)
                found |= imports_of(pkg / "__init__.py", seen)
            elif top not in sys.stdlib_module_names:
                found.add(top)
    return found


def rules() -> list[tuple[str, str, Path]]:
    """(rule, conda expression, script) for every rule in workflow/rules."""
    out = []
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"\n\s*rule ", smk.read_text())[1:]:
            name = block.split(":")[0]
            conda = re.search(r"conda:\n\s+(.+)\n", block)
            script = re.search(r'script:\n\s+"(.+)"', block)
            assert conda, f"rule {name} has no conda env"
            out.append((name, conda.group(1).strip(), (smk.parent / script.group(1)).resolve()))
    return out


@pytest.mark.parametrize("rule, conda, script", rules(), ids=[r[0] for r in rules()])
def test_env_lists_what_the_rule_imports(rule, conda, script):
    needed = imports_of(script)
    assert needed, f"{rule}: found no imports in {script}"
    for env in ENVS[conda]:
        listed = env_packages(env)
        missing = {DIST.get(m, m) for m in needed if env == "rapids" or m not in GPU_ONLY} - set(listed)
        assert not missing, f"rule {rule}: envs/{env}.yaml lacks {sorted(missing)}"


def test_env_pins_equal_requirements():
    pins = requirements()
    for env in ("torch", "rapids"):
        for name, version in env_packages(env).items():
            if version and name in pins:
                assert version == pins[name], f"envs/{env}.yaml pins {name}=={version}, requirements.txt {pins[name]}"
    torch_env = env_packages("torch")
    assert torch_env["torch"] == pins["torch"] and torch_env["timm"] == pins["timm"]
    assert "cuml" in env_packages("rapids") and "cudf" in env_packages("rapids")


def test_the_gpu_install_pins_the_rapids_release_of_the_conda_env_and_stays_off_the_cpu_install():
    gpu = {}
    for line in (REPO / "requirements-gpu.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            gpu[re.sub(r"-cu\d+$", "", name.strip())] = ".".join(version.split(".")[:2])
    rapids = env_packages("rapids")
    assert gpu == {"cuml": rapids["cuml"], "cudf": rapids["cudf"]}
    assert not {"cuml", "cudf"} & {re.sub(r"-cu\d+$", "", n) for n in requirements()}
