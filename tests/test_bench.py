"""The benchmark command runs on CPU (a smoke test: it prints figures, nothing here asserts speed)."""

from __future__ import annotations

import json

import pytest

from pawpipe.bench import run as bench
from pawpipe.heads.backend import cuml_status

pytestmark = pytest.mark.slow  # times real models, a minute or so

SECTIONS = ("(a) training step", "(b) embedding,", "(c) SVR", "(d) data loading", "(e) fine-tuning")
SECTIONS += ("(f) CPU inference", "(i) three heads", "(j) stacker")


def test_benchmark_smoke_run_on_cpu(tmp_path, capsys):
    out = tmp_path / "bench.json"
    args = ["--steps", "2", "--warmup", "1", "--svr-rows", "300", "--svr-dim", "32", "--cache-rows", "64",
            "--heads-rows", "300", "--heads-dim", "16", "--stack-rows", "400", "--json", str(out)]  # fmt: skip
    result = bench.main(args)
    printed = capsys.readouterr().out
    for section in SECTIONS:
        assert section in printed
    saved = json.loads(out.read_text())
    assert saved["command"].startswith("python -m pawpipe.bench --steps 2")
    assert [r["mode"] for r in saved["train"]["rows"]] == ["fp32 eager", "project", "project unfused"]
    assert saved["train"]["rows"][0]["ratio"] == pytest.approx(1.0)
    assert all(r["img_s"] > 0 for r in saved["train"]["rows"] + saved["embed"]["rows"])
    # On a CPU both modes run the same fp32 arithmetic, so the correctness checks read zero; on a GPU the
    # project's mode is bf16 autocast, within bf16's precision of fp32.
    cpu = saved["device_type"] == "cpu"
    tolerance = 0 if cpu else 5e-2
    assert saved["train"]["loss_rel_diff"] <= tolerance and saved["embed"]["embedding_rel_err"] <= tolerance
    # Section (b) times the pipeline's own embed function, on the device the config resolves to.
    assert saved["embed"]["rows"][1]["engine"].startswith(f"PyTorch ({'cpu' if cpu else 'cuda'}")
    assert saved["train"]["gflop_per_image"] > saved["embed"]["gflop_per_image"] > 0
    assert result["svr"]["rows"][0]["backend"] == "sklearn"
    modes = {r["mode"]: r for r in saved["finetune"]}
    assert modes["lora"]["trainable"] < 0.3 * modes["full"]["trainable"]
    assert all(r["epoch_s"] == pytest.approx(8921 / r["img_s"]) for r in modes.values())
    assert modes["frozen"]["trainable"] < modes["full"]["trainable"] == modes["full"]["total"]
    engines = {r["mode"]: r for r in saved["infer"]["rows"]}
    assert list(engines) == ["torch eager", "torch compile", "ort torchscript", "ort dynamo"]
    assert all(r["img_s"] > 0 and r["max_abs_diff"] < 1e-3 for r in engines.values())
    # (i): the three heads of the write-up on one matrix; where cuML cannot run, its row says why.
    heads = {r["head"]: r for r in saved["heads"]["rows"]}
    mlp = f"PyTorch MLP ({saved['device_type']})"
    assert list(heads) == ["scikit-learn SVR", "cuML SVR", mlp]
    assert heads["scikit-learn SVR"]["fit_vs_sklearn"] == 1.0
    ok, why = cuml_status()
    assert heads["cuML SVR"]["fit_s"] > 0 if ok else heads["cuML SVR"]["missing"] == why
    assert heads[mlp]["fit_s"] > 0 and 5 < heads[mlp]["held_out_rmse"] < 40
    # (j): the stacker on the CPU, and on CUDA where XGBoost was built with it and a GPU is here.
    stack = {r["device"]: r for r in saved["stack"]["rows"]}
    assert "cpu" in stack and stack["cpu"]["fit_s"] > 0 and stack["cpu"]["rounds"] >= 1


def test_the_gpu_suite_starts_in_smoke_mode_and_renders_its_targets(tmp_path, capsys):
    page = tmp_path / "BENCHMARKS.md"
    page.write_text("# Benchmarks\n<!-- gpu-suite -->\nOLD TABLE\n<!-- /gpu-suite -->\nrest\n")
    result = bench.main(["--suite", "gpu", "--smoke", "--json", str(tmp_path / "gpu.json"), "--render", str(page)])
    printed = capsys.readouterr().out
    for section in ("(a) training step", "(b) embedding", "(c) SVR", "(d) data loading", "(g) memory at batch 16",
                    "(i) three heads", "(j) stacker"):  # fmt: skip
        assert section in printed
    assert "(e) fine-tuning" not in printed and "(f) CPU inference" not in printed
    assert result["projection"]["total_min"] > 0 and "projected:" in printed
    text = page.read_text()
    assert "OLD TABLE" not in text and text.endswith("rest\n")
    assert "| training img/s (project step) |" in text and "| SVR path vs scikit-learn | - |" in text
    assert json.loads((tmp_path / "gpu.json").read_text())["suite"] == "gpu"
