import re

import numpy as np
import pandas as pd
import pytest

from conftest import demo_paths, pawpularity_task, validated_config, write_task
from pawpipe.data import DataError
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
    from pawpipe.folds import FoldSettings, FoldsJob, folds_stage

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
    folds = folds_stage(job, FoldSettings(n_splits=5, seed=0, duplicate_threshold=4))
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


def grouped_table(n=400, seed=0):
    """A table where patients have many images each (1 to 30): the group that must not be split."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 31, size=60)
    patient = np.repeat(np.arange(len(sizes)), sizes)[:n]
    y = np.clip(rng.gamma(4, 10, size=len(patient)).round(), 1, 100).astype(int)
    ids, site = [f"id{i:04d}" for i in range(len(patient))], rng.choice(["a", "b", "c"], len(patient))
    return pd.DataFrame({"Id": ids, "Pawpularity": y, "patient_id": [f"P{p:03d}" for p in patient], "site": site})


def stage(tmp_path, table, **settings):
    """The folds rule on `table` (written as the demo's train.csv, with an empty test.csv)."""
    from pawpipe.folds import FoldSettings, FoldsJob, folds_stage

    d = tmp_path / "d"
    d.mkdir(exist_ok=True)
    table.to_csv(d / "train.csv", index=False)
    pd.DataFrame({"Id": ["t0"]}).to_csv(d / "test.csv", index=False)
    task = pawpularity_task(features=[])
    fold_file = settings.pop("file", None)
    job = FoldsJob(str(d), write_task(tmp_path / "task.json", task), str(tmp_path / "folds.csv"),
                   str(tmp_path / "dups.csv"), fold_file=fold_file)  # fmt: skip
    return folds_stage(job, FoldSettings(**{"n_splits": 5, "seed": 0, "duplicate_threshold": 4, **settings}))


def test_a_group_column_never_splits_a_group(tmp_path):
    table = grouped_table()
    folds = stage(tmp_path, table, group="patient_id").merge(table[["Id", "patient_id"]], on="Id")
    assert folds.groupby("patient_id")["fold"].nunique().max() == 1  # every patient in one fold
    assert sorted(folds["fold"].unique()) == [0, 1, 2, 3, 4] and folds["fold"].value_counts().min() > 40
    plain = stage(tmp_path, table).merge(table[["Id", "patient_id"]], on="Id")
    assert plain.groupby("patient_id")["fold"].nunique().max() > 1  # without the column, patients do span folds


def test_groups_join_near_duplicates_and_the_group_column():
    from pawpipe.folds import joined_groups

    near = np.array([0, 0, 2, 3, 4, 5])  # rows 0 and 1 are near-duplicates
    column = np.array([7, 8, 8, 9, 9, 1])  # rows 1, 2 one patient; rows 3, 4 another
    assert joined_groups(near, column).tolist() == [0, 0, 0, 3, 3, 5]


def test_folds_can_be_stratified_on_a_column_of_choice(tmp_path):
    table = grouped_table()
    folds = stage(tmp_path, table, stratify="site").merge(table[["Id", "site"]], on="Id")
    shares = pd.crosstab(folds["fold"], folds["site"], normalize="index")
    assert (shares.max() - shares.min()).max() < 0.06  # each fold has the sites in the same proportions
    with pytest.raises(DataError, match=r"folds.stratify: train.csv has no column 'hospital'"):
        stage(tmp_path, table, stratify="hospital")


def test_a_fold_file_of_ones_own_is_used_as_is_and_checked(tmp_path):
    table = grouped_table()
    own = pd.DataFrame({"Id": table["Id"], "fold": pd.factorize(table["patient_id"])[0] % 5})
    own.to_csv(tmp_path / "own.csv", index=False)
    folds = stage(tmp_path, table, file=str(tmp_path / "own.csv"), group="patient_id")
    assert folds["fold"].tolist() == own["fold"].tolist()  # used as it is, in the table's order
    cases = [
        (own.iloc[5:], "5 training rows have no fold"),
        (own.assign(fold=own["fold"].where(own.index != 3, 7)), "fold 7 of id 'id0003' is not one of 0 .. 4"),
        (pd.concat([own, own.iloc[:1]]), "ids in more than one row"),
        (own.assign(fold=np.arange(len(own)) % 5), "groups span several folds"),
        (own.assign(fold=own["fold"] % 3), "folds [0, 1, 2], but folds.n_splits is 5"),
    ]
    for bad, message in cases:
        bad.to_csv(tmp_path / "bad.csv", index=False)
        with pytest.raises(DataError, match=re.escape(message)):
            stage(tmp_path, table, file=str(tmp_path / "bad.csv"), group="patient_id")
