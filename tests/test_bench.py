"""The benchmark command runs on CPU (a smoke test: it prints figures, nothing here asserts speed)."""

from __future__ import annotations

import json

import pytest

from pawpipe import bench

SECTIONS = ("(a) training step", "(b) embedding extraction", "(c) SVR", "(d) data loading", "(e) fine-tuning")
SECTIONS += ("(f) CPU inference",)


def test_benchmark_smoke_run_on_cpu(tmp_path, capsys):
    out = tmp_path / "bench.json"
    args = ["--steps", "2", "--warmup", "1", "--svr-rows", "300", "--svr-dim", "32", "--cache-rows", "64",
            "--json", str(out)]  # fmt: skip
    result = bench.main(args)
    printed = capsys.readouterr().out
    for section in SECTIONS:
        assert section in printed
    saved = json.loads(out.read_text())
    assert saved["command"].startswith("python -m pawpipe.bench --steps 2")
    assert [r["mode"] for r in saved["train"]["rows"]] == ["fp32 eager", "project"]
    assert saved["train"]["rows"][0]["ratio"] == pytest.approx(1.0)
    assert all(r["img_s"] > 0 for r in saved["train"]["rows"] + saved["embed"]["rows"])
    # On CPU both modes run the same fp32 arithmetic: the correctness checks must read zero.
    assert saved["train"]["loss_rel_diff"] == 0 and saved["embed"]["embedding_rel_err"] == 0
    assert saved["train"]["gflop_per_image"] > saved["embed"]["gflop_per_image"] > 0
    assert result["svr"]["rows"][0]["backend"] == "sklearn"
    modes = {r["mode"]: r for r in saved["finetune"]}
    assert modes["lora"]["trainable"] < 0.3 * modes["full"]["trainable"]
    assert all(r["epoch_s"] == pytest.approx(8921 / r["img_s"]) for r in modes.values())
    assert modes["frozen"]["trainable"] < modes["full"]["trainable"] == modes["full"]["total"]
    engines = {r["mode"]: r for r in saved["infer"]["rows"]}
    assert list(engines) == ["torch eager", "torch compile", "ort torchscript", "ort dynamo"]
    assert all(r["img_s"] > 0 and r["max_abs_diff"] < 1e-3 for r in engines.values())
