"""SVR feature sets, tuning and target clipping on data with a known structure."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import svr_config
from pawpipe.data import METADATA
from pawpipe.svr import fit_fold
from pawpipe.tune import tune_svr


@pytest.fixture
def fold_data(tmp_path):
    """Embeddings that carry little of the score and metadata that carries most of it."""
    rng = np.random.default_rng(0)
    n, m = 300, 20
    ids = [f"{i:032x}" for i in range(n)]
    meta = rng.integers(0, 2, size=(n, len(METADATA)))
    score = np.clip(20 + 30 * meta[:, 0] + 20 * meta[:, 3] + rng.normal(0, 5, n), 1, 100).round()
    emb = rng.normal(size=(n, 16)).astype(np.float32)
    emb[:, 0] += (score - score.mean()) / score.std() * 0.3  # a weak trace of the signal
    folds = pd.DataFrame({"Id": ids, "Pawpularity": score.astype(int), "fold": np.arange(n) % 3})
    folds.to_csv(tmp_path / "folds.csv", index=False)
    pd.DataFrame(meta, columns=METADATA).assign(Id=ids, Pawpularity=score.astype(int)).to_csv(
        tmp_path / "train.csv", index=False
    )
    test_ids = [f"t{i}" for i in range(m)]
    pd.DataFrame(rng.integers(0, 2, size=(m, len(METADATA))), columns=METADATA).assign(Id=test_ids).to_csv(
        tmp_path / "test.csv", index=False
    )
    for k in range(3):
        np.savez(
            tmp_path / f"emb{k}.npz",
            train=emb,
            test=rng.normal(size=(m, 16)).astype(np.float32),
            train_ids=np.array(ids),
            test_ids=np.array(test_ids),
        )
    return tmp_path


FEATURES = {"embedding": True, "metadata": True, "logits": False, "experiments": []}


def fold_job(d, k=0, tuning=None, name="svr"):
    from pawpipe.features import FeatureInputs
    from pawpipe.svr import SVRJob

    inputs = FeatureInputs(
        embeddings=str(d / f"emb{k}.npz"), train_table=str(d / "train.csv"), test_table=str(d / "test.csv")
    )
    out = {key: str(d / f"{name}_{key}") for key in ("model.npz", "oof.csv", "test.csv", "summary.json")}
    job = SVRJob(
        k, str(d / "folds.csv"), inputs, out["model.npz"], out["oof.csv"], out["test.csv"], out["summary.json"], tuning
    )
    return job, out


def run_fold(d, features, tuning=None, **cfg):
    job, out = fold_job(d, tuning=tuning)
    result = fit_fold(job, svr_config(features={**FEATURES, **features}, **cfg))
    return result, pd.read_csv(out["oof.csv"]), pd.read_csv(out["test.csv"])


def test_a_feature_set_that_carries_the_signal_lowers_the_rmse(fold_data):
    alone, _, _ = run_fold(fold_data, {"embedding": True, "metadata": False, "experiments": []})
    both, oof, test = run_fold(fold_data, {"embedding": True, "metadata": True, "experiments": []})
    assert both["rmse"] < 0.6 * alone["rmse"]
    assert both["features"] == ["embedding", "metadata"]
    # Each set alone is reported beside the combination, for the CV report.
    assert {"pred", "svr[embedding]", "svr[metadata]"} <= set(oof.columns) and "svr[metadata]" in test.columns
    rmse = lambda c: np.sqrt(np.mean((oof[c] - oof["Pawpularity"]) ** 2))  # noqa: E731
    assert rmse("svr[metadata]") < rmse("svr[embedding]")
    assert rmse("svr[embedding]") == pytest.approx(alone["rmse"])


def test_clipping_the_target_caps_what_the_svr_learns(fold_data):
    _, oof, _ = run_fold(fold_data, {"embedding": True, "metadata": True, "experiments": []}, clip_target=40)
    _, free, _ = run_fold(fold_data, {"embedding": True, "metadata": True, "experiments": []})
    high = oof["Pawpularity"] > 55  # rows whose score lies above the clip
    assert free.loc[high, "pred"].mean() > 55 and oof.loc[high, "pred"].mean() < 45
    assert np.quantile(oof["pred"], 0.9) <= 41


def test_tuning_prefers_a_sensible_c_and_is_used_by_the_fold(fold_data):
    cfg = svr_config(features=FEATURES, grid={"C": [1e-3, 20.0], "epsilon": [1.0]}, threads=2)
    summary = tune_svr([fold_job(fold_data, k)[0].inputs for k in range(3)], str(fold_data / "folds.csv"), cfg,
                       str(fold_data / "tuning.json"))  # fmt: skip
    assert summary["best"]["C"] == 20.0 and summary["fits"] == 6
    assert summary["best"]["oof_rmse"] == min(r["oof_rmse"] for r in summary["grid"])
    result, _, _ = run_fold(fold_data, {}, tuning=str(fold_data / "tuning.json"), C=1e-3)
    assert result["C"] == 20.0
    assert json.loads((fold_data / "tuning.json").read_text())["best"]["C"] == 20.0


def test_scikit_learn_fits_spread_over_the_jobs_cores(fold_data):
    """svr.threads: 2 runs the combined fit and each feature set's fit in two worker processes,
    with the same predictions as one process."""
    one, oof1, _ = run_fold(fold_data, {}, threads=1)
    two, oof2, _ = run_fold(fold_data, {}, threads=2)
    assert one["workers"] == 1 and two["workers"] == 2
    pd.testing.assert_frame_equal(oof1, oof2)


def test_other_experiments_must_share_the_folds(fold_data):
    from pawpipe.features import FeatureInputs, load_feature_sets

    folds = pd.read_csv(fold_data / "folds.csv", dtype={"Id": str})
    shifted = folds.assign(fold=(folds["fold"] + 1) % 3)
    shifted.to_csv(fold_data / "other_folds.csv", index=False)
    use = {**FEATURES, "metadata": False, "experiments": ["b"]}
    with pytest.raises(ValueError, match="other folds"):
        inputs = FeatureInputs(
            str(fold_data / "emb0.npz"), others={"b": (str(fold_data / "emb1.npz"), str(fold_data / "other_folds.csv"))}
        )
        load_feature_sets(inputs, folds, use)
    inputs = FeatureInputs(
        str(fold_data / "emb0.npz"), others={"b": (str(fold_data / "emb1.npz"), str(fold_data / "folds.csv"))}
    )
    assert list(load_feature_sets(inputs, folds, use)) == ["embedding", "exp:b"]


def test_imagenet_logits_come_from_the_pretrained_classifier(tmp_path):
    import timm
    import torch
    from safetensors.torch import save_file

    from conftest import load_config
    from pawpipe.config import resolve_model_args
    from pawpipe.embed import EmbedSettings
    from pawpipe.logits import LogitsJob, imagenet_logits

    cfg = load_config()
    args = resolve_model_args(cfg["backbone"], cfg["head"], 64)
    source = timm.create_model(args["name"], pretrained=False, **args["kwargs"]).eval()
    save_file(source.state_dict(), tmp_path / "w.safetensors")
    rng = np.random.default_rng(0)
    for split, n in (("train", 5), ("test", 3)):
        np.save(tmp_path / f"{split}.npy", rng.integers(0, 256, size=(n, 64, 64, 3), dtype=np.uint8))
        (tmp_path / f"{split}.json").write_text(json.dumps({"ids": [f"{split}{i}" for i in range(n)]}))
    job = LogitsJob(*(str(tmp_path / f) for f in ("train.npy", "test.npy", "train.json", "test.json", "logits.npz")))
    settings = EmbedSettings("torch", "cpu", "off", 1, 4, False, False, False)
    imagenet_logits(job, {**args, "pretrained": True, "weights": str(tmp_path / "w.safetensors")}, settings)
    out = np.load(tmp_path / "logits.npz")
    assert out["train"].shape == (5, 1000) and out["test"].shape == (3, 1000)
    data_cfg = timm.data.resolve_model_data_config(source)
    mean, std = np.array(data_cfg["mean"]), np.array(data_cfg["std"])
    x = (np.load(tmp_path / "test.npy").astype(np.float32) / 255 - mean) / std
    with torch.no_grad():
        expected = source(torch.from_numpy(x.transpose(0, 3, 1, 2)).float()).numpy()
    assert np.allclose(out["test"], expected, atol=1e-4)
