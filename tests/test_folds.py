import numpy as np
import pandas as pd
import pytest

from conftest import demo_paths, pawpularity_task, validated_config, write_task
from pawpipe.folds import make_folds
from pawpipe.task import sturges_bins


def table(n=500, seed=0):
    rng = np.random.default_rng(seed)
    y = np.clip(rng.gamma(4, 10, size=n).round(), 1, 100).astype(int)
    return pd.DataFrame({"Id": [f"id{i:04d}" for i in range(n)], "Pawpularity": y})


def test_every_row_is_validated_exactly_once_and_folds_are_balanced():
    df = table()
    folds = make_folds(df, 5, seed=1, task=pawpularity_task())
    assert folds["Id"].tolist() == df["Id"].tolist()
    assert sorted(folds["fold"].unique()) == [0, 1, 2, 3, 4]
    sizes = folds["fold"].value_counts()
    assert sizes.max() - sizes.min() <= 1


def test_stratified_on_sturges_bins():
    df = table(1000)
    folds = make_folds(df, 5, seed=1, task=pawpularity_task())
    bins = sturges_bins(df["Pawpularity"])
    assert bins.max() + 1 == int(np.floor(1 + np.log2(1000)))  # 10 bins for 1000 rows
    per_fold = pd.crosstab(bins, folds["fold"])
    # Every populated bin is spread evenly: no fold differs from another by more than one row.
    common = per_fold[per_fold.sum(axis=1) >= 5]
    assert ((common.max(axis=1) - common.min(axis=1)) <= 1).all()
    means = folds.groupby("fold")["Pawpularity"].mean()
    assert means.max() - means.min() < 2.0


def test_seeded_and_deterministic():
    df = table()
    a, b = make_folds(df, 5, seed=7, task=pawpularity_task()), make_folds(df, 5, seed=7, task=pawpularity_task())
    assert a.equals(b)
    assert not a.equals(make_folds(df, 5, seed=8, task=pawpularity_task()))


def test_rare_bins_do_not_break_small_data():
    df = table(12)
    folds = make_folds(df, 4, seed=0, task=pawpularity_task())
    assert folds["fold"].value_counts().min() == 3


@pytest.mark.parametrize("k", [1, 13])
def test_impossible_fold_count_is_refused(k):
    with pytest.raises(ValueError, match="n_splits"):
        make_folds(table(12), k, seed=0, task=pawpularity_task())


def test_planted_near_duplicates_are_found_and_share_a_fold(tmp_path):
    from pawpipe.cache import ImageSpec, build_cache
    from pawpipe.demo import make_demo
    from pawpipe.folds import FoldsJob, folds_stage

    make_demo(tmp_path / "d", n_train=120, n_test=2, seed=4, n_duplicates=10)
    train = pd.read_csv(tmp_path / "d" / "train.csv", dtype={"Id": str})
    spec = ImageSpec.from_config({**validated_config()["image"], "size": 64})
    ids = train["Id"].tolist()
    build_cache(ids, demo_paths(tmp_path / "d", "train", ids), "train", spec, tmp_path / "c.npy", tmp_path / "c.json")
    job = FoldsJob(
        data_dir=str(tmp_path / "d"),
        task=write_task(tmp_path / "task.json"),
        out_folds=str(tmp_path / "folds.csv"),
        out_duplicates=str(tmp_path / "dups.csv"),
        cache_npy=str(tmp_path / "c.npy"),
        cache_index=str(tmp_path / "c.json"),
    )
    folds = folds_stage(job, n_splits=5, seed=0, threshold=4)
    dups = pd.read_csv(tmp_path / "dups.csv", dtype={"Id": str})
    planted = set(train["Id"].iloc[-10:])  # make_demo appends the copies last
    assert planted <= set(dups["Id"]), "a planted duplicate was not found"
    assert dups["group"].nunique() >= 10 and len(dups) <= 24  # the 10 pairs, and few false positives
    by_id = folds.set_index("Id")
    for _, members in dups.groupby("group"):
        assert by_id.loc[members["Id"], "fold"].nunique() == 1
    # Without grouping, at least one pair would straddle two folds for this seed: grouping matters.
    plain = make_folds(train, 5, seed=0, task=pawpularity_task()).set_index("Id")
    assert any(plain.loc[m["Id"], "fold"].nunique() > 1 for _, m in dups.groupby("group"))
