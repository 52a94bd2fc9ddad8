"""Checking SLURM requests against what sinfo reports, before anything is submitted."""

from __future__ import annotations

import pytest

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
