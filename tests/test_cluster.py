"""Checking SLURM requests against what sinfo reports, before anything is submitted."""

from __future__ import annotations

import re

import pytest

from conftest import REPO
from pawpipe.cluster import Request, check_requests, parse_gres, parse_sinfo, parse_time_limit, status_problem

# sinfo -h -N -o '%N|%c|%m|%G|%l|%P' on a cluster with a CPU partition (default) and a GPU one.
SINFO = """\
cpu01|32|128000|(null)|1-00:00:00|cpu*
cpu02|32|128000|(null)|1-00:00:00|cpu*
gpu01|16|256000|gpu:a100:4(S:0-1)|4:00:00|gpu
gpu02|16|256000|gpu:v100:2,shard:8|4:00:00|gpu
"""


@pytest.mark.parametrize("gres, gpus", [
    ("(null)", {}),
    ("gpu:4", {"": 4}),
    ("gpu:a100:4(S:0-1)", {"a100": 4}),
    ("gpu:v100:2,shard:8", {"v100": 2}),
    ("gpu:a100:2,gpu:h100:1", {"a100": 2, "h100": 1}),
])  # fmt: skip
def test_gres_column_gives_gpu_counts_per_type(gres, gpus):
    assert parse_gres(gres) == gpus


@pytest.mark.parametrize("text, minutes", [
    ("infinite", None), ("30", 30), ("30:00", 30), ("4:00:00", 240), ("1-00:00:00", 1440), ("1:00:30", 61),
])  # fmt: skip
def test_time_limits_in_minutes(text, minutes):
    assert parse_time_limit(text) == minutes


def test_sinfo_lists_nodes_per_partition_and_the_default():
    partitions = parse_sinfo(SINFO)
    assert {n.name for n in partitions["cpu"]} == {"cpu01", "cpu02"}
    assert partitions[""] == partitions["cpu"]  # the default partition (marked *)
    assert partitions["gpu"][0].gpu_count() == 4 and partitions["gpu"][0].time_limit == 240


def test_requests_that_fit_pass():
    partitions = parse_sinfo(SINFO)
    fits = [
        Request("train", cpus=8, mem_mb=64000, runtime=240, gpus=1, partition="gpu"),
        Request("train", cpus=16, mem_mb=64000, runtime=240, gpus=1, gpu_model="v100", partition="gpu"),
        Request("cache", cpus=32, mem_mb=16000, runtime=60),
    ]
    assert check_requests(fits, partitions) == []


@pytest.mark.parametrize("request_, expected", [
    (Request("train", cpus=33, mem_mb=3000), ["rule train asks for 33 CPUs, 3000 MB", "largest (cpu01) has 32 CPUs"]),
    (Request("train", cpus=64, mem_mb=3000), ["64 CPUs", "lower train.threads or cluster.train.mem_mb"]),
    (Request("embed", cpus=4, mem_mb=300000, partition="gpu"), ["rule embed", "300000 MB", "256000 MB"]),
    (Request("train", cpus=8, gpus=1), ["1 GPU", "the default partition", "0 GPUs", "GPU nodes"]),
    (Request("train", cpus=8, gpus=1, gpu_model="h100", partition="gpu"), ["1 GPU (h100)", "0 GPUs"]),
    (Request("train", cpus=8, gpus=8, partition="gpu"), ["8 GPUs", "gpu01) has 16 CPUs, 256000 MB, 4 GPUs"]),
    (Request("train", cpus=8, runtime=600, partition="gpu"), ["600 min", "at most 240 min"]),
    (Request("svr", cpus=1, partition="bigmem"), ["partition 'bigmem' does not exist", "cpu, gpu"]),
])  # fmt: skip
def test_impossible_requests_name_the_rule_the_request_and_the_limit(request_, expected):
    problems = check_requests([request_], parse_sinfo(SINFO))
    assert len(problems) == 1
    for part in expected:
        assert part in problems[0]


def test_each_distinct_problem_is_reported_once():
    folds = [Request("train", cpus=64) for _ in range(10)] + [Request("embed", cpus=64)]
    problems = check_requests(folds, parse_sinfo(SINFO))
    assert [p.split(" asks")[0] for p in problems] == ["rule train", "rule embed"]


def test_status_commands_that_cannot_see_jobs_end_are_refused_with_the_fix():
    off = "AccountingStorageType   = accounting_storage/none\nMinJobAge               = 300 sec\n"
    on = "AccountingStorageType   = accounting_storage/slurmdbd\nMinJobAge               = 60 sec\n"
    assert "--slurm-status-command squeue" in status_problem("sacct", off)
    assert status_problem("squeue", off) is None
    assert status_problem("sacct", on) is None
    assert "MinJobAge=60 s" in status_problem("squeue", on) and "sacct" in status_problem("squeue", on)


def test_the_advice_for_an_svr_job_names_the_key_that_sets_its_cores():
    """svr jobs take svr.threads cores (svr.smk): a request too big for every node must say so."""
    (problem,) = check_requests([Request("svr", cpus=64, mem_mb=2000)], parse_sinfo(SINFO))
    assert "lower svr.threads or cluster.svr.mem_mb" in problem


# The resource policy (pawpipe.cluster.SIZING): what every rule's job asks for, from the config alone.
def test_jobs_ask_for_a_gpu_exactly_where_they_will_use_one():
    from pawpipe.cluster import gpus
    from test_config import validated_config

    demo = validated_config()
    assert {
        r: gpus(demo, r, has_gpu=False, has_cuml=False) for r in ("train", "embed", "extract", "svr")
    } == dict.fromkeys(("train", "embed", "extract", "svr"), 0)
    assert gpus(demo, "train", has_gpu=True, has_cuml=False) == 1  # device auto on a GPU machine
    assert gpus(demo, "svr", has_gpu=True, has_cuml=False) == 0  # scikit-learn: the CPU
    assert gpus(demo, "svr", has_gpu=True, has_cuml=True) == 1
    cuda = {**demo, "train": {**demo["train"], "device": "cuda"}}  # a cluster node: decided by the config
    assert gpus(cuda, "train", has_gpu=False, has_cuml=False) == 1
    onnx = {**cuda, "embed": {**cuda["embed"], "engine": "onnx"}}
    assert gpus(onnx, "embed", has_gpu=True, has_cuml=False) == 0 and gpus(onnx, "train", False, False) == 1
    cpu = {**demo, "train": {**demo["train"], "device": "cpu"}, "svr": {**demo["svr"], "backend": "cuml"}}
    assert gpus(cpu, "train", has_gpu=True, has_cuml=True) == 0 and gpus(cpu, "svr", True, True) == 1
    assert gpus(demo, "cache", has_gpu=True, has_cuml=True) == 0


def test_cores_memory_and_time_come_from_the_keys_the_table_names():
    from pawpipe.cluster import SIZING, resources, threads
    from test_config import validated_config

    preset = validated_config(REPO / "config" / "petfinder.yaml")
    assert threads(preset, "svr") == preset["svr"]["threads"] == 16
    assert threads(preset, "train") == preset["train"]["threads"] and threads(preset, "cache") == 16
    assert resources(preset, "train", False, False) == {"gpu": 1, "gpu_model": None, "mem_mb": 64000, "runtime": 240}
    assert resources(preset, "svr_search", False, False) == {
        "gpu": 0,
        "gpu_model": None,
        "mem_mb": 16000,
        "runtime": 30,
    }
    for rule, sizing in SIZING.items():
        if sizing.cores:
            assert threads(preset, rule) >= 1, rule


def rule_blocks() -> dict[str, str]:
    """Each rule of the workflow's stage files, by name, with the text of its body."""
    blocks = {}
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        parts = re.split(r"^\s*rule (\w+):\n", path.read_text(), flags=re.M)
        blocks.update(zip(parts[1::2], parts[2::2], strict=True))
    return blocks


def test_every_rule_sizes_its_jobs_through_the_one_table():
    """A rule with threads or resources reads both from SIZING under its own name, so the cores, memory,
    GPU and the advice for a request that does not fit cannot drift apart."""
    from pawpipe.cluster import SIZING

    sized = {}
    for rule, body in rule_blocks().items():
        body = body.split("\nrule ")[0]
        if "threads:" in body or "resources:" in body:
            names = set(re.findall(r"get_(?:threads|resources)\(\"(\w+)\"[,)]", body))
            assert names == {rule}, f"rule {rule} sizes itself as {names}"
            assert not re.search(r"threads:\s*config\[|mem_mb=|gpu=", body), f"rule {rule}: sized outside SIZING"
            sized[rule] = body
    assert set(sized) == set(SIZING), set(sized) ^ set(SIZING)
