"""What each job asks for, what a SLURM partition can run, and whether each request fits it.

The resource policy: one table (SIZING) says what sizes each rule's jobs (the config key of its cores,
the cluster.* block of its memory and time limit, and what decides whether it takes a GPU); the rules
read their threads and resources from it, and the advice for a request that does not fit names the
same keys, so the two cannot drift apart.

The checks: SLURM accepts a job that no node of its partition can ever hold (more cores or GPUs than
any node has) and leaves it pending with reason PartitionConfig; Snakemake then waits without a word.
When a run through profiles/slurm starts, `check_workflow` compares every job's request with the limits
`sinfo` reports and stops with one line per impossible request instead.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Sizing:
    """What sizes one rule's jobs: the config key of its cores (None: 1), the cluster.* block of its
    memory and time limit (None: the profile's default-resources), and what decides whether it takes a
    GPU: `device` (train.device), `embed` (the same, and embed.engine: torch), `svr` (cuML), `stack`
    (stack.device), or None."""

    cores: str | None
    limits: str | None
    gpu: str | None = None


SIZING = {
    "check_data": Sizing("image.cache_workers", "data"),
    "cache": Sizing("image.cache_workers", "data"),
    "train": Sizing("train.threads", "train", "device"),
    "export_onnx": Sizing("train.threads", "infer"),
    "embed": Sizing("train.threads", "infer", "embed"),
    "extract": Sizing("train.threads", "infer", "device"),
    "svr": Sizing("svr.threads", "svr", "svr"),
    "svr_search": Sizing("svr.threads", "svr", "svr"),
    "frozen_mlp": Sizing("train.threads", "svr", "device"),
    "rehearse_kaggle": Sizing(None, None, "device"),
    "stack": Sizing("stack.threads", "svr", "stack"),
}


def lookup(config: dict, dotted: str) -> Any:
    node = config
    for key in dotted.split("."):
        node = node[key]
    return node


def threads(config: dict, rule: str) -> int:
    """The cores a rule's job takes (Snakemake threads; sbatch --cpus-per-task)."""
    key = SIZING[rule].cores
    return int(lookup(config, key)) if key else 1


@functools.cache
def machine_has_gpu() -> bool:
    """Whether this machine shows a GPU (nvidia-smi runs once per workflow load, not per rule)."""
    from .gpus import visible_gpus

    return bool(visible_gpus())


def cuml_installed() -> bool:
    return importlib.util.find_spec("cuml") is not None


def device_gpus(device: str, has_gpu: bool) -> int:
    """1 where a job on train.device will take a GPU, 0 where it runs on the CPU (device cpu, or auto
    on a machine without GPUs), so that the default profile's gpu cap never serialises CPU-only jobs."""
    if device == "cpu":
        return 0
    if device.startswith("cuda"):
        return 1
    return 1 if has_gpu else 0


def gpus(config: dict, rule: str, has_gpu: bool, has_cuml: bool) -> int:
    """The `gpu` resource of a rule's job. The SVR takes one exactly where it fits with cuML
    (heads.backend.svr_backend); scikit-learn's asks for none."""
    policy, device = SIZING[rule].gpu, config["train"]["device"]
    if policy is None or (policy == "embed" and config["embed"]["engine"] != "torch"):
        return 0
    if policy == "stack":
        return device_gpus(config["stack"]["device"], has_gpu)
    if policy == "svr":
        from .heads.backend import svr_backend

        return int(svr_backend(config["svr"]["backend"], device_gpus(device, has_gpu) > 0, has_cuml) == "cuml")
    return device_gpus(device, has_gpu)


def resources(config: dict, rule: str, has_gpu: bool, has_cuml: bool) -> dict[str, Any]:
    """A rule's resources: its GPU (and the GPU type asked of a scheduler), memory (MB) and time limit
    (minutes) from the config's cluster block. Local runs count only `gpu`."""
    sizing, out = SIZING[rule], {}
    if sizing.gpu:
        n = gpus(config, rule, has_gpu, has_cuml)
        out.update(gpu=n, gpu_model=config["cluster"]["gpu_model"] if n else None)
    if sizing.limits:
        limits = config["cluster"][sizing.limits]
        out.update(mem_mb=limits["mem_mb"], runtime=limits["runtime"])
    return out


def svr_fallback_warning(config: dict, has_gpu: bool, has_cuml: bool) -> str | None:
    """Said on the console at the start: a GPU is visible but cuML is missing, so `auto` fits every SVR
    with scikit-learn on the CPU (minutes to hours on the competition data)."""
    if config["svr"]["backend"] == "auto" and has_gpu and not has_cuml:
        return (
            "WARNING: a GPU is visible but cuML is not installed: svr.backend auto fits the SVRs with "
            "scikit-learn on the CPU (svr.threads cores per job). Install RAPIDS for GPU SVRs: "
            "pip install -r requirements-gpu.txt (docs/cluster.md, 'GPU machines')."
        )
    return None


SINFO_FORMAT = "%N|%c|%m|%G|%l|%P"


@dataclass(frozen=True)
class Request:
    """One job's request, in the units sbatch receives: cores, MB, minutes, GPUs."""

    rule: str
    cpus: int
    mem_mb: int | None = None
    runtime: int | None = None
    gpus: int = 0
    gpu_model: str | None = None
    partition: str | None = None

    def describe(self) -> str:
        parts = [f"{self.cpus} CPU{'s' if self.cpus != 1 else ''}"]
        if self.mem_mb is not None:
            parts.append(f"{self.mem_mb} MB")
        if self.gpus:
            model = f" ({self.gpu_model})" if self.gpu_model else ""
            parts.append(f"{self.gpus} GPU{'s' if self.gpus != 1 else ''}{model}")
        if self.runtime is not None:
            parts.append(f"{self.runtime} min")
        return ", ".join(parts)


def job_request(rule: str, threads: int, resources) -> Request:
    """A Snakemake job's request as the SLURM plugin submits it (cpus_per_task, else its threads)."""
    return Request(
        rule=rule,
        cpus=resources.get("cpus_per_task") or threads,
        mem_mb=resources.get("mem_mb"),
        runtime=resources.get("runtime"),
        gpus=resources.get("gpu", 0),
        gpu_model=resources.get("gpu_model"),
        partition=resources.get("slurm_partition"),
    )


@dataclass(frozen=True)
class Node:
    name: str
    cpus: int
    mem_mb: int
    gpus: dict[str, int]  # GPU type ("" when the GRES names none) -> count
    time_limit: int | None  # the partition's limit in minutes; None when unlimited

    def gpu_count(self, model: str | None = None) -> int:
        return sum(n for m, n in self.gpus.items() if model is None or m == model)


def parse_gres(gres: str) -> dict[str, int]:
    """GPUs in an sinfo GRES column: 'gpu:a100:4(S:0-1),shard:8' -> {'a100': 4}; '(null)' -> {}."""
    gpus: dict[str, int] = {}
    for item in re.sub(r"\([^)]*\)", "", gres).split(","):
        fields = item.strip().split(":")
        if fields[0] != "gpu" or len(fields) < 2:
            continue
        model, count = ("", fields[1]) if len(fields) == 2 else (fields[1], fields[2])
        match = re.match(r"\d+", count)
        if match:
            gpus[model] = gpus.get(model, 0) + int(match.group())
    return gpus


def parse_time_limit(text: str) -> int | None:
    """An sinfo time limit ('infinite', '30', '4:00:00', '2-00:00:00') in minutes; None when unlimited."""
    text = text.strip()
    if text in {"infinite", "UNLIMITED", "n/a", ""}:
        return None
    days, _, clock = text.rpartition("-")
    fields = [int(f) for f in clock.split(":")]
    if len(fields) == 1:  # a bare number is minutes
        hours, minutes, seconds = 0, fields[0], 0
    elif len(fields) == 2:  # MM:SS
        hours, minutes, seconds = 0, *fields
    else:
        hours, minutes, seconds = fields[-3:]
    return (int(days or 0) * 24 + hours) * 60 + minutes + (1 if seconds else 0)


def parse_sinfo(text: str) -> dict[str, list[Node]]:
    """Nodes per partition from `sinfo -h -N -o '%N|%c|%m|%G|%l|%P'`; the default partition also as ''."""
    partitions: dict[str, list[Node]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, cpus, mem, gres, limit, partition = line.split("|")
        node = Node(name, int(cpus.rstrip("+")), int(mem.rstrip("+")), parse_gres(gres), parse_time_limit(limit))
        partitions.setdefault(partition.rstrip("*"), []).append(node)
        if partition.endswith("*"):
            partitions.setdefault("", []).append(node)
    return partitions


def read_partitions() -> dict[str, list[Node]]:
    """What `sinfo` reports about every node of every partition."""
    try:
        proc = subprocess.run(["sinfo", "-h", "-N", "-o", SINFO_FORMAT], capture_output=True, text=True, timeout=60)
    except FileNotFoundError as exc:
        raise RuntimeError("sinfo not found: run this from a machine that can submit SLURM jobs") from exc
    if proc.returncode != 0:
        raise RuntimeError(f"sinfo failed ({proc.returncode}): {proc.stderr.strip()}")
    return parse_sinfo(proc.stdout)


def check_request(request: Request, partitions: dict[str, list[Node]]) -> str | None:
    """Why no node of the request's partition can run it, naming the rule, the request and the limit."""
    name = request.partition or ""
    label = f"partition {request.partition!r}" if request.partition else "the default partition"
    nodes = partitions.get(name)
    if not nodes:
        known = ", ".join(sorted(p for p in partitions if p)) or "none"
        return f"rule {request.rule}: {label} does not exist (sinfo lists {known}); set slurm_partition in the profile"
    limit = nodes[0].time_limit
    if request.runtime is not None and limit is not None and request.runtime > limit:
        return (
            f"rule {request.rule} asks for {request.runtime} min but {label} allows at most {limit} min "
            f"(sinfo -o %l); lower its cluster.*.runtime in the config or choose another partition"
        )
    if any(_fits(request, node) for node in nodes):
        return None
    largest = max(nodes, key=lambda n: (n.gpu_count(request.gpu_model), n.cpus, n.mem_mb))
    gpus = largest.gpu_count(request.gpu_model)
    return (
        f"rule {request.rule} asks for {request.describe()}, but no node of {label} has that: the largest "
        f"({largest.name}) has {largest.cpus} CPUs, {largest.mem_mb} MB"
        f"{f', {gpus} GPUs' if request.gpus else ''} (sinfo -N -o '%N %c %m %G'); {_advice(request)}"
    )


def _fits(request: Request, node: Node) -> bool:
    return (
        request.cpus <= node.cpus
        and (request.mem_mb is None or request.mem_mb <= node.mem_mb)
        and request.gpus <= node.gpu_count(request.gpu_model)
    )


def _advice(request: Request) -> str:
    if request.gpus:
        return "choose a partition with GPU nodes (slurm_partition), or set train.device: cpu to train on CPUs"
    sizing = SIZING.get(request.rule, Sizing(None, None))
    memory = f"cluster.{sizing.limits}.mem_mb" if sizing.limits else None
    keys = " or ".join([k for k in (sizing.cores, memory) if k]) or "default-resources"
    where = "the profile" if keys == "default-resources" else "the config"
    return f"lower {keys} in {where}, or choose another partition (slurm_partition)"


def check_requests(requests: Iterable[Request], partitions: dict[str, list[Node]]) -> list[str]:
    """One message per distinct request that cannot run; empty when every request fits."""
    problems = []
    for request in dict.fromkeys(requests):
        problem = check_request(request, partitions)
        if problem and problem not in problems:
            problems.append(problem)
    return problems


MAX_STATUS_INTERVAL_S = 180  # the plugin's longest wait between two status checks


def status_problem(status_command: str | None, config_text: str) -> str | None:
    """Why the plugin's status command would not see jobs end, from `scontrol show config` output."""
    settings = dict(re.findall(r"^(\w+)\s*=\s*(.*?)\s*$", config_text, re.MULTILINE))
    if status_command == "sacct" and settings.get("AccountingStorageType") == "accounting_storage/none":
        return (
            "this cluster keeps no job accounting (AccountingStorageType=accounting_storage/none), so sacct "
            "cannot report job states and the run would wait for ever; use --slurm-status-command squeue"
        )
    age = re.match(r"\d+", settings.get("MinJobAge", ""))
    if status_command == "squeue" and age and int(age.group()) < MAX_STATUS_INTERVAL_S:
        return (
            f"squeue forgets a finished job after MinJobAge={age.group()} s, sooner than the "
            f"{MAX_STATUS_INTERVAL_S} s between two status checks; use --slurm-status-command sacct "
            f"(needs accounting) or ask for MinJobAge >= {MAX_STATUS_INTERVAL_S}"
        )
    return None


def read_config() -> str:
    proc = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"scontrol show config failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def check_workflow(workflow) -> None:
    """On a SLURM run (the workflow's onstart), refuse requests no node can hold and a status command
    that cannot work, before anything is submitted."""
    plugin = workflow.executor_plugin
    if plugin is None or plugin.name != "slurm":
        return
    from snakemake.exceptions import WorkflowError

    problem = status_problem(getattr(workflow.executor_settings, "status_command", None), read_config())
    requests = [
        job_request(job.name, job.threads, job.resources) for job in workflow.dag.needrun_jobs() if not job.is_local
    ]
    problems = ([problem] if problem else []) + check_requests(requests, read_partitions())
    if problems:
        raise WorkflowError("cannot submit to SLURM:\n  " + "\n  ".join(problems))
