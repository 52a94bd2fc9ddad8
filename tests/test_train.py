"""Training: resume after a crash reproduces an uninterrupted run exactly; model building."""

from __future__ import annotations

import functools
import logging

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import cached_images, load_config, train_fold_0
from conftest import train_fold_0 as run
from pawpipe import train as train_mod
from pawpipe.config import resolve_model_args
from pawpipe.model import PawModel, create_model

TIMING = ["train_img_s", "seconds", "compile_s"]


def test_resume_after_a_crash_mid_epoch_equals_an_uninterrupted_run(prepared_train, tmp_path, monkeypatch):
    """On a CPU, where the arithmetic is deterministic: resumed equals uninterrupted bit for bit."""
    run = functools.partial(train_fold_0, device="cpu")
    run(prepared_train, tmp_path / "a")

    calls = {"n": 0}
    original = train_mod.CachedImages.__getitem__

    def crash_in_epoch_3(self, i):  # 24 training rows per epoch: die 5 rows into the third epoch
        calls["n"] += 1
        if calls["n"] > 2 * 24 + 5:
            raise KeyboardInterrupt("simulated kill")
        return original(self, i)

    monkeypatch.setattr(train_mod.CachedImages, "__getitem__", crash_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        run(prepared_train, tmp_path / "b")
    assert not (tmp_path / "b" / "best.pt").exists(), "a killed job must leave no output"
    assert len(pd.read_csv(tmp_path / "b" / "state" / "metrics.csv")) == 2
    monkeypatch.setattr(train_mod.CachedImages, "__getitem__", original)
    run(prepared_train, tmp_path / "b")

    a = pd.read_csv(tmp_path / "a" / "metrics.csv").drop(columns=TIMING)
    b = pd.read_csv(tmp_path / "b" / "metrics.csv").drop(columns=TIMING)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    wa = torch.load(tmp_path / "a" / "best.pt", weights_only=True)["model"]
    wb = torch.load(tmp_path / "b" / "best.pt", weights_only=True)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_changed_config_does_not_resume(prepared_train, tmp_path):
    run(prepared_train, tmp_path, epochs=1)
    history = run(prepared_train, tmp_path, epochs=2)["history"]
    assert [r["epoch"] for r in history] == [1, 2]  # trained from scratch, not continued


def test_micro_swin_is_small_and_builds_from_config():
    cfg = load_config()
    model = create_model(resolve_model_args(cfg["backbone"], cfg["head"], cfg["image"]["size"]))
    n = sum(p.numel() for p in model.parameters())
    assert 100_000 < n < 1_000_000
    logits, emb = model(torch.randn(3, 3, 64, 64))
    assert logits.shape == (3,) and emb.shape == (3, model.backbone.num_features)


def test_missing_pretrained_weights_file_says_how_to_fix(tmp_path):
    cfg = load_config()
    backbone = {**cfg["backbone"], "pretrained": True, "weights": str(tmp_path / "swin.safetensors")}
    with pytest.raises(FileNotFoundError, match="backbone.weights.*swin.safetensors"):
        create_model(resolve_model_args(backbone, cfg["head"], 64))


def test_unknown_augmentation_is_named():
    with pytest.raises(ValueError, match=r"train.augment\[1\].*'HorizontalFlipp'"):
        train_mod.build_augment([{"name": "HorizontalFlip", "p": 0.5}, {"name": "HorizontalFlipp"}], seed=0)


def test_gpu_out_of_memory_names_the_keys_that_reduce_memory(prepared_train, tmp_path, monkeypatch):
    # No GPU here: raise the error CUDA would raise, from inside the real training step.
    def forward(self, x, meta=None):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(PawModel, "forward", forward)
    with pytest.raises(
        RuntimeError,
        match=r"train: the GPU ran out of memory .*train.batch_size.*"
        r"train.accumulate.*train.grad_checkpointing",
    ):
        run(prepared_train, tmp_path, epochs=1)
    assert not (tmp_path / "best.pt").exists()


def test_killed_before_publishing_publishes_without_retraining(prepared_train, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="pawpipe")
    calls = {"n": 0}
    original = train_mod.publish

    def die_once(src, dst):
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt("killed between the last epoch and publishing")
        return original(src, dst)

    monkeypatch.setattr(train_mod, "publish", die_once)
    with pytest.raises(KeyboardInterrupt):
        run(prepared_train, tmp_path, epochs=2)
    assert not (tmp_path / "best.pt").exists()
    result = run(prepared_train, tmp_path, epochs=2)
    assert [r["epoch"] for r in result["history"]] == [1, 2]
    assert "already trained" in caplog.text and "training from scratch" not in caplog.text
    assert not (tmp_path / "state").exists(), "the resume state is removed once the fold is published"
    # A deliberate rerun of the finished fold (snakemake -R) trains again.
    rerun = run(prepared_train, tmp_path, epochs=2)
    assert [r["epoch"] for r in rerun["history"]] == [1, 2] and rerun["history"][0]["best"] is True


def test_keep_state_keeps_the_resume_state_and_a_rerun_still_trains_afresh(prepared_train, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pawpipe")
    run(prepared_train, tmp_path, epochs=1, keep_state=True)
    assert (tmp_path / "state" / "last.pt").is_file() and (tmp_path / "state" / "done").is_file()
    state = torch.load(tmp_path / "state" / "last.pt", weights_only=True)  # no pickled code needed
    assert state["epoch"] == 0 and "optimizer" in state
    rerun = run(prepared_train, tmp_path, epochs=1, keep_state=True)
    assert "from another config or a finished run" in caplog.text and rerun["history"][0]["best"] is True


def test_a_runtime_setting_changed_mid_run_still_resumes(prepared_train, tmp_path, monkeypatch, caplog):
    """Workers, validation batch and threads say how a fold trains, not what: a killed fold resumes
    after they change, and ends exactly where an uninterrupted run with the old settings ends (on a CPU,
    whose arithmetic is deterministic)."""
    caplog.set_level(logging.INFO, logger="pawpipe")
    run = functools.partial(train_fold_0, device="cpu")
    run(prepared_train, tmp_path / "a", epochs=2)
    original = train_mod.CachedImages.__getitem__
    calls = {"n": 0}

    def crash_in_epoch_2(self, i):
        calls["n"] += 1
        if calls["n"] > 24 + 3:
            raise KeyboardInterrupt("simulated kill")
        return original(self, i)

    monkeypatch.setattr(train_mod.CachedImages, "__getitem__", crash_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run(prepared_train, tmp_path / "b", epochs=2)
    monkeypatch.setattr(train_mod.CachedImages, "__getitem__", original)
    run(prepared_train, tmp_path / "b", epochs=2, num_workers=2, eval_batch_size=5, threads=2)
    assert "resuming fold 0" in caplog.text and "from scratch" not in caplog.text
    a = pd.read_csv(tmp_path / "a" / "metrics.csv").drop(columns=TIMING)
    b = pd.read_csv(tmp_path / "b" / "metrics.csv").drop(columns=TIMING)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-5)


def micro_args(**overrides):
    cfg = load_config()
    return {**resolve_model_args(cfg["backbone"], cfg["head"], 64), **overrides}


def test_pretrained_weights_load_from_a_local_file_through_timm(tmp_path):
    import timm
    from safetensors.torch import save_file

    args = micro_args()
    source = timm.create_model(args["name"], pretrained=False, **args["kwargs"])  # with its 1000-class head
    save_file(source.state_dict(), tmp_path / "swin.safetensors")
    model = create_model({**args, "pretrained": True, "weights": str(tmp_path / "swin.safetensors")})
    loaded = model.backbone.state_dict()
    expected = {k: v for k, v in source.state_dict().items() if not k.startswith("head.fc")}
    assert set(loaded) == set(expected)  # the classifier was dropped by timm, num_classes=0
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)


def test_weights_that_do_not_fit_the_configured_shape_say_so(tmp_path):
    import timm
    from safetensors.torch import save_file

    args = micro_args()
    source = timm.create_model(args["name"], pretrained=False, **args["kwargs"])
    save_file(source.state_dict(), tmp_path / "swin.safetensors")
    wider = {**args["kwargs"], "embed_dim": 48}
    with pytest.raises(RuntimeError, match=r"do not fit the model that backbone.kwargs .*embed_dim"):
        create_model({**args, "kwargs": wider, "pretrained": True, "weights": str(tmp_path / "swin.safetensors")})


def test_unreachable_hub_fails_at_once_saying_how_to_provide_the_file(monkeypatch):
    import time

    from pawpipe import model as model_mod

    monkeypatch.setattr(model_mod, "_weights_cached", lambda name: False)
    monkeypatch.setattr(model_mod, "hub_reachable", lambda timeout=3.0: False)
    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match=r"cannot be reached.*backbone.weights: /path/to/file"):
        model_mod.check_pretrained(micro_args(pretrained=True))
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize("which", [True, [0], [0, 1]])
def test_partial_gradient_checkpointing_gives_the_same_gradients(which):
    from pawpipe.train import set_grad_checkpointing

    args = micro_args()
    torch.manual_seed(0)
    a, b = create_model(args), create_model(args)
    b.load_state_dict(a.state_dict())
    set_grad_checkpointing(b, which)
    flags = [s.grad_checkpointing for s in b.backbone.layers]
    assert flags == ([True] * 3 if which is True else [i in which for i in range(3)])
    x = torch.randn(2, 3, 64, 64)
    for m in (a, b):
        m.train()
        torch.manual_seed(1)
        m(x)[0].sum().backward()
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(pa.grad, pb.grad, atol=1e-5)


def test_checkpointing_a_missing_stage_is_named():
    from pawpipe.train import set_grad_checkpointing

    with pytest.raises(ValueError, match="stage 7 does not exist"):
        set_grad_checkpointing(create_model(micro_args()), [7])


def test_flip_tta_makes_both_heads_mirror_invariant():
    from pawpipe.runtime import Inference, Normalizer, predict

    model = create_model(micro_args()).eval()
    norm = Normalizer([0.5] * 3, [0.25] * 3, torch.device("cpu"))
    images = np.random.default_rng(0).integers(0, 256, size=(6, 64, 64, 3), dtype=np.uint8)
    mirrored = np.ascontiguousarray(images[:, :, ::-1])
    idx = np.arange(6)
    tta, plain = Inference(4, True, None, False), Inference(4, False, None, False)
    p, e = predict(model, images, idx, norm, tta)
    pm, em = predict(model, mirrored, idx, norm, tta)
    assert np.allclose(p, pm, atol=1e-5) and np.allclose(e, em, atol=1e-5)
    p0, _ = predict(model, images, idx, norm, plain)
    pm0, _ = predict(model, mirrored, idx, norm, plain)
    assert not np.allclose(p0, pm0, atol=1e-5)  # without TTA the two views differ


def trained_and_initial(prepared_train, out, finetune):
    """best.pt's weights after 2 epochs, and the same model's weights before training."""
    from pawpipe.model import load_checkpoint
    from pawpipe.runtime import seed_everything

    run(prepared_train, out, epochs=2, finetune=finetune)
    model, ckpt = load_checkpoint(out / "best.pt")
    cfg = prepared_train[1]
    seed_everything(cfg["seed"])  # train_fold seeds like this before building the model
    initial = create_model(ckpt["model_args"]).backbone.state_dict()
    return model, ckpt, initial


@pytest.mark.parametrize("mode", ["lora", "frozen"])
def test_lora_and_frozen_train_far_fewer_weights_and_rebuild_from_the_checkpoint(prepared_train, tmp_path, mode):
    from pawpipe.model import count_parameters, load_checkpoint

    finetune = (
        {"mode": "lora", "lora": {"r": 2, "alpha": 4}} if mode == "lora" else {"mode": "frozen", "freeze_stages": 1}
    )
    model, ckpt, initial = trained_and_initial(prepared_train, tmp_path, finetune)
    assert ckpt["model_args"]["finetune"]["mode"] == mode
    args = ckpt["model_args"]
    total, trainable = count_parameters(create_model(args))
    _, full = count_parameters(create_model({**args, "finetune": {"mode": "full"}}))
    trained = model.backbone.state_dict()
    if mode == "lora":
        assert trainable < 0.3 * full and any("lora_A" in k for k in trained)
        fixed = [k for k in trained if "lora_" not in k]
    else:
        assert trainable < full
        fixed = [k for k in trained if k.startswith(("patch_embed.", "layers.0."))]
    assert fixed and all(torch.equal(trained[k], initial[k]) for k in fixed), "a frozen weight moved"
    moved = [k for k in trained if k not in fixed and not torch.equal(trained[k], initial[k])]
    assert moved, "nothing in the backbone trained"
    # Embeddings come from the adapted backbone rebuilt from the checkpoint alone.
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    again, _ = load_checkpoint(tmp_path / "best.pt")
    assert torch.equal(model(x)[1], again.eval()(x)[1])


def test_a_metadata_head_trains_and_reads_the_metadata(prepared_train, tmp_path):
    from pawpipe.demo import METADATA
    from pawpipe.model import load_checkpoint
    from pawpipe.runtime import Inference, Normalizer, predict

    root = prepared_train[0]
    run(prepared_train, tmp_path, epochs=2, head={"metadata": True})
    model, ckpt = load_checkpoint(tmp_path / "best.pt")
    assert ckpt["model_args"]["head_metadata"] and model.meta_dim == len(METADATA)
    assert model.head[0].in_features == model.backbone.num_features + len(METADATA)
    images = cached_images(root)[:6]
    norm = Normalizer(ckpt["model_args"]["mean"], ckpt["model_args"]["std"], torch.device("cpu"))
    zeros, ones = np.zeros((6, 12), np.float32), np.ones((6, 12), np.float32)
    inf = Inference(4, False, None, False)
    p0, e0 = predict(model, images, np.arange(6), norm, inf, meta=zeros)
    p1, e1 = predict(model, images, np.arange(6), norm, inf, meta=ones)
    assert not np.allclose(p0, p1) and np.array_equal(e0, e1)  # the head reads it; embeddings do not
    with pytest.raises(ValueError, match="head.metadata"):
        predict(model, images, np.arange(6), norm, inf)


@pytest.mark.slow
def test_every_gpu_switch_runs_on_the_cpu(prepared_train, tmp_path):
    """bf16 autocast, channels_last, torch.compile (Inductor's CPU backend) and per-stage gradient
    checkpointing, all on, in a short training and an embed: dtype, shape and compile bugs fail here
    rather than on the first GPU. Predictions stay within 1.0 Pawpularity point of fp32."""
    from pawpipe.embed import EmbedSettings, fold_predictor
    from pawpipe.model import load_checkpoint

    root = prepared_train[0]
    switches = dict(amp="bf16", channels_last=True, compile=True, grad_checkpointing=[0])
    ref = run(prepared_train, tmp_path / "fp32", epochs=1)
    fast = run(prepared_train, tmp_path / "all", epochs=1, **switches)
    assert abs(fast["best_score"] - ref["best_score"]) < 1.0
    model, ckpt = load_checkpoint(tmp_path / "all" / "best.pt")  # the compiled run's checkpoint reloads as is
    assert ckpt["train"]["compile"] and not any(k.startswith("_orig_mod") for k in ckpt["model"])
    images, rows = cached_images(root), np.arange(20)
    eager = EmbedSettings("torch", "cpu", "off", 1, 8, True, False, False)
    compiled = EmbedSettings("torch", "cpu", "bf16", 1, 8, True, True, True)
    p32, e32 = fold_predictor(eager, tmp_path / "all" / "best.pt")[0](images, rows)
    pbf, ebf = fold_predictor(compiled, tmp_path / "all" / "best.pt")[0](images, rows)
    assert pbf.shape == p32.shape == (20,) and ebf.shape == e32.shape
    assert np.abs(pbf - p32).max() < 1.0  # bf16 keeps 8 bits of mantissa: well under a point on 1..100
    assert np.abs(ebf - e32).max() < 0.1 * np.abs(e32).max()


@pytest.mark.parametrize("grades", [5, 10])  # 10: standardised and back, some grades are not whole
def test_a_regression_scored_on_grades_validates_against_whole_grades(prepared_train, tmp_path, grades):
    """The demo's scores as whole grades 0..grades-1 scored by quadratic kappa, on the MSE loss (targets
    standardised): each epoch's validation reads the grades themselves, not the targets standardised and
    back (float noise that scikit-learn's kappa refuses as continuous)."""
    import shutil

    from conftest import pawpularity_task, write_task

    root, cfg = prepared_train
    copy = tmp_path / "prepared"
    shutil.copytree(root, copy, symlinks=True)
    folds = pd.read_csv(copy / "folds.csv", dtype={"Id": str})
    folds["Pawpularity"] = (folds["Pawpularity"] - 1) * grades // 100
    folds.to_csv(copy / "folds.csv", index=False)
    task = pawpularity_task(metric="qwk", integer=True, bounds=[0, grades - 1], loss="mse")
    write_task(copy / "task.json", task)
    out = tmp_path / "fold0"
    run((copy, cfg), out, epochs=1)
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["val_qwk"].between(-1, 1).all()
