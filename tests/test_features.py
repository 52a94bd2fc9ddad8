"""SVR feature sets, tuning and target clipping on data with a known structure."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import pawpularity_task, svr_config, write_task
from pawpipe.demo import METADATA
from pawpipe.heads.search import tune_svr
from pawpipe.heads.stage import fit_fold


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


FEATURES = {"embedding": True, "metadata": True, "experiments": []}


def fold_job(d, k=0, tuning=None, name="svr"):
    from pawpipe.features import FeatureInputs
    from pawpipe.heads.stage import SVRJob

    task = write_task(d / "task.json")
    inputs = FeatureInputs(
        embeddings=str(d / f"emb{k}.npz"), train_table=str(d / "train.csv"), test_table=str(d / "test.csv"), task=task
    )
    out = {key: str(d / f"{name}_{key}") for key in ("model.npz", "oof.csv", "test.csv", "summary.json")}
    job = SVRJob(
        k, str(d / "folds.csv"), inputs, out["model.npz"], out["oof.csv"], out["test.csv"], out["summary.json"], task,
        tuning,
    )  # fmt: skip
    return job, out


def run_fold(d, features, tuning=None, **cfg):
    job, out = fold_job(d, tuning=tuning)
    result = fit_fold(job, svr_config(features={**FEATURES, **features}, **cfg))
    return result, pd.read_csv(out["oof.csv"]), pd.read_csv(out["test.csv"])


def test_a_feature_set_that_carries_the_signal_lowers_the_rmse(fold_data):
    alone, _, _ = run_fold(fold_data, {"embedding": True, "metadata": False, "experiments": []})
    both, oof, test = run_fold(fold_data, {"embedding": True, "metadata": True, "experiments": []})
    assert both["score"] < 0.6 * alone["score"]
    assert both["features"] == ["embedding", "metadata"]
    # Each set alone is reported beside the combination, for the CV report.
    assert {"pred", "svr[embedding]", "svr[metadata]"} <= set(oof.columns) and "svr[metadata]" in test.columns
    rmse = lambda c: np.sqrt(np.mean((oof[c] - oof["Pawpularity"]) ** 2))  # noqa: E731
    assert rmse("svr[metadata]") < rmse("svr[embedding]")
    assert rmse("svr[embedding]") == pytest.approx(alone["score"])


def test_clipping_the_target_caps_what_the_svr_learns(fold_data):
    _, oof, _ = run_fold(fold_data, {"embedding": True, "metadata": True, "experiments": []}, clip_target=40)
    _, free, _ = run_fold(fold_data, {"embedding": True, "metadata": True, "experiments": []})
    high = oof["Pawpularity"] > 55  # rows whose score lies above the clip
    assert free.loc[high, "pred"].mean() > 55 and oof.loc[high, "pred"].mean() < 45
    assert np.quantile(oof["pred"], 0.9) <= 41


def test_tuning_prefers_a_sensible_c_and_is_used_by_the_fold(fold_data):
    cfg = svr_config(features=FEATURES, grid={"C": [1e-3, 20.0], "epsilon": [1.0]}, threads=2)
    summary = tune_svr([fold_job(fold_data, k)[0].inputs for k in range(3)], str(fold_data / "folds.csv"), cfg,
                       str(fold_data / "tuning.json"), pawpularity_task())  # fmt: skip
    assert summary["best"]["C"] == 20.0 and summary["fits"] == 6
    assert summary["best"]["oof_score"] == min(r["oof_score"] for r in summary["grid"])
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


def test_an_extractor_computes_what_timms_own_preprocessing_and_model_give(tmp_path):
    """Real JPEG files of mixed shapes; weights from a local file; the table has every train and test
    Id once, and each row equals timm's own eval transform (resize, centre crop, normalise) and model."""
    import timm
    import torch
    from PIL import Image
    from safetensors.torch import save_file

    from pawpipe.embed import EmbedSettings
    from pawpipe.extract import ExtractJob, create_extractor, extract

    rng = np.random.default_rng(0)
    for split, n in (("train", 5), ("test", 3)):
        (tmp_path / split).mkdir()
        ids = [f"{split}{i}" for i in range(n)]
        for i, image_id in enumerate(ids):
            w, h = (120, 90) if i % 2 else (90, 120)
            Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(
                tmp_path / split / f"{image_id}.jpg"
            )
        pd.DataFrame({"Id": ids}).to_csv(tmp_path / f"{split}.csv", index=False)
    spec = {
        "name": "vit",
        "model": "test_vit.r160_in1k",
        "pretrained": True,
        "kwargs": {},
        "take": ["embedding", "logits"],
    }
    source = create_extractor({**spec, "pretrained": False}, seed=7)
    save_file(source.state_dict(), tmp_path / "w.safetensors")
    task = write_task(tmp_path / "task.json")
    job = ExtractJob(str(tmp_path), str(tmp_path / "train.csv"), str(tmp_path / "test.csv"),
                     str(tmp_path / "vit.parquet"), str(tmp_path / "vit.json"), task)  # fmt: skip
    info = extract(
        job,
        {**spec, "weights": str(tmp_path / "w.safetensors")},
        0,
        EmbedSettings("torch", "cpu", "off", 1, 2, False, False, False),
    )
    table = pd.read_parquet(tmp_path / "vit.parquet")
    assert table["Id"].tolist() == [f"train{i}" for i in range(5)] + [f"test{i}" for i in range(3)]
    assert info["dims"] == {"embedding": 64, "logits": 1000} and info["data_config"]["input_size"] == [3, 160, 160]
    transform = timm.data.create_transform(**timm.data.resolve_model_data_config(source), is_training=False)
    with Image.open(tmp_path / "test" / "test1.jpg") as img:
        x = transform(img.convert("RGB"))[None]
    with torch.no_grad():
        feats = source.forward_features(x)
        expected = {"embedding": source.forward_head(feats, pre_logits=True), "logits": source.forward_head(feats)}
    row = table[table["Id"] == "test1"]
    for take, values in expected.items():
        cols = [c for c in table.columns if c.startswith(f"{take}_")]
        assert np.allclose(row[cols].to_numpy()[0], values.numpy()[0], atol=1e-4), take


def extractor_table(path, ids, values, take="embedding"):
    from pawpipe.extract import feature_frame

    is_test = np.array([i.startswith("t") for i in ids])  # the fixture's test Ids are t0, t1, ...
    frame = pd.concat([feature_frame(list(np.array(ids)[~is_test]), "train", {take: values[~is_test]}),
                       feature_frame(list(np.array(ids)[is_test]), "test", {take: values[is_test]})])  # fmt: skip
    frame.sample(frac=1, random_state=0).to_parquet(path, index=False)  # rows in any order: joined on Id


def test_extractor_sets_are_joined_on_id_and_name_a_missing_row(fold_data):
    from pawpipe.features import FeatureInputs, load_feature_sets

    folds = pd.read_csv(fold_data / "folds.csv", dtype={"Id": str})
    test_ids = np.load(fold_data / "emb0.npz")["test_ids"].tolist()
    ids = folds["Id"].tolist() + test_ids
    values = np.arange(len(ids) * 3, dtype=np.float32).reshape(-1, 3)
    extractor_table(fold_data / "x.parquet", ids, values)
    use = {**FEATURES, "metadata": False}
    inputs = FeatureInputs(str(fold_data / "emb0.npz"), extractors={"x": (str(fold_data / "x.parquet"), ["embedding"])})
    sets = load_feature_sets(inputs, folds, use)
    assert list(sets) == ["embedding", "x.embedding"]
    train, test = sets["x.embedding"]
    assert np.array_equal(train, values[: len(folds)]) and np.array_equal(test, values[len(folds) :])
    extractor_table(fold_data / "x.parquet", ids[1:], values[1:])
    with pytest.raises(ValueError, match=f"x.parquet .train.: no row for Id '{ids[0]}'"):
        load_feature_sets(inputs, folds, use)


@pytest.fixture
def selection_data(fold_data):
    """Metadata carries most of the score, the embedding a trace; two extractors carry pure noise."""
    folds = pd.read_csv(fold_data / "folds.csv", dtype={"Id": str})
    ids = folds["Id"].tolist() + np.load(fold_data / "emb0.npz")["test_ids"].tolist()
    rng = np.random.default_rng(1)
    for name in ("noise1", "noise2"):
        extractor_table(fold_data / f"{name}.parquet", ids, rng.normal(size=(len(ids), 8)).astype(np.float32))
    return fold_data


def selection_inputs(d, names=("noise1", "noise2")):
    from pawpipe.features import FeatureInputs

    extractors = {n: (str(d / f"{n}.parquet"), ["embedding"]) for n in names}
    return [
        FeatureInputs(
            str(d / f"emb{k}.npz"),
            str(d / "train.csv"),
            str(d / "test.csv"),
            write_task(d / "task.json"),
            extractors=extractors,
        )  # fmt: skip
        for k in range(3)
    ]


def test_forward_selection_adds_what_helps_and_each_fold_fits_its_own_choice(selection_data):
    from pawpipe.heads.search import select_features
    from pawpipe.heads.stage import SVRJob

    d = selection_data
    cfg = svr_config(features=FEATURES, select={"enabled": True, "min_gain": 0.05}, threads=2)
    s = select_features(selection_inputs(d), str(d / "folds.csv"), cfg, str(d / "selection.json"), pawpularity_task())
    assert s["candidates"] == ["embedding", "metadata", "noise1.embedding", "noise2.embedding"]
    assert s["all_rows"]["order"][0] == "metadata" and s["alone"]["metadata"] < s["alone"]["embedding"]
    steps = s["all_rows"]["steps"]
    assert set(steps[0]["scores"]) == set(s["candidates"]) and steps[-1]["added"] is False
    assert all(st["gain"] is None or (st["gain"] > 0.05) == st["added"] for st in steps)
    assert not any("noise" in n for v in s["folds"].values() for n in v["sets"])
    assert s["fits"] < 3 * 4 * 4 * 3  # combinations are shared across the four selections
    # Fold 1's SVR fits what was chosen without fold 1's rows, and reproduces the selection's predictions.
    job, out = fold_job(d, 1, name="sel")
    job = SVRJob(**{**job.__dict__, "inputs": selection_inputs(d)[1], "selection": str(d / "selection.json")})
    result = fit_fold(job, cfg)
    assert result["features"] == s["folds"]["1"]["sets"]
    assert "svr[metadata]" not in pd.read_csv(out["oof.csv"]).columns


def test_a_selection_among_noise_flatters_itself_and_the_cv_does_not(selection_data, tmp_path):
    """With only noise to choose from and no minimum gain, the choice on all rows looks better on
    those rows than the per-fold choices do on rows that did not choose them."""
    from pawpipe.heads.search import select_features

    d = selection_data
    rng = np.random.default_rng(2)
    folds = pd.read_csv(d / "folds.csv", dtype={"Id": str})
    ids = folds["Id"].tolist() + np.load(d / "emb0.npz")["test_ids"].tolist()
    names = [f"n{i}" for i in range(5)]
    for name in names:
        extractor_table(d / f"{name}.parquet", ids, rng.normal(size=(len(ids), 4)).astype(np.float32))
    features = {"embedding": False, "metadata": False, "experiments": []}
    cfg = svr_config(features=features, select={"enabled": True, "min_gain": 0.0}, threads=2)
    s = select_features(
        selection_inputs(d, names), str(d / "folds.csv"), cfg, str(tmp_path / "s.json"), pawpularity_task()
    )
    assert s["cv_score"] > s["cv_score_in_sample"]


@pytest.mark.gpu
def test_on_the_gpu_feature_tables_are_cudf_and_the_selection_agrees(selection_data, tmp_path):
    """With cuML, the sets are read and joined by cuDF into CuPy matrices (no host copy), and the
    selection chooses what the scikit-learn run chooses."""
    from pawpipe.heads.backend import cuml_status

    ok, why = cuml_status()
    if not ok:
        pytest.skip(why)
    import cupy as cp

    from pawpipe.features import load_feature_sets
    from pawpipe.frames import gpu_lib
    from pawpipe.heads.search import select_features

    folds = pd.read_csv(selection_data / "folds.csv", dtype={"Id": str})
    inputs = selection_inputs(selection_data)
    sets = load_feature_sets(inputs[0], folds, FEATURES, gpu_lib())
    assert all(isinstance(a, cp.ndarray) and isinstance(b, cp.ndarray) for a, b in sets.values())
    host = load_feature_sets(inputs[0], folds, FEATURES)
    assert all(np.array_equal(cp.asnumpy(sets[n][0]), host[n][0]) for n in host)
    picks = {}
    for backend in ("cuml", "sklearn"):
        cfg = svr_config(features=FEATURES, select={"enabled": True, "min_gain": 0.05}, backend=backend)
        s = select_features(
            inputs, str(selection_data / "folds.csv"), cfg, str(tmp_path / f"{backend}.json"), pawpularity_task()
        )
        picks[backend] = (s["arrays"], s["all_rows"]["sets"], {k: v["sets"] for k, v in s["folds"].items()})
    assert picks["cuml"][0] == "gpu" and picks["cuml"][1:] == picks["sklearn"][1:]


def test_an_extractor_without_its_weights_file_fails_naming_its_entry(tmp_path):
    from pawpipe.extract import create_extractor

    spec = {"name": "vit", "model": "test_vit.r160_in1k", "pretrained": True, "take": ["embedding"]}
    with pytest.raises(FileNotFoundError, match=r"extractors\[vit\]\.weights: .*missing\.safetensors not found"):
        create_extractor({**spec, "weights": str(tmp_path / "missing.safetensors")}, seed=0)


def test_extractor_names_are_unique_and_a_selection_takes_no_grid():
    from conftest import load_config
    from pawpipe.config import feature_problems

    cfg = load_config()
    assert feature_problems(cfg) == []
    twice = [{"name": "x", "model": "test_vit.r160_in1k"}] * 2
    grid = {"C": [1.0], "epsilon": [1.0]}
    cfg = {**cfg, "extractors": twice, "svr": {**cfg["svr"], "select": {"enabled": True, "min_gain": 0}, "grid": grid}}
    problems = feature_problems(cfg)
    assert len(problems) == 2 and "'x' is used 2 times" in problems[0] and "svr.grid" in problems[1]
