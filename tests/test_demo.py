import hashlib

import numpy as np
import pandas as pd
from PIL import Image

from pawpipe.demo import make_demo


def digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_demo_is_deterministic_and_in_kaggle_layout(tmp_path):
    make_demo(tmp_path / "a", 30, 5, seed=1)
    make_demo(tmp_path / "b", 30, 5, seed=1)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    make_demo(tmp_path / "c", 30, 5, seed=2)
    assert digest(tmp_path / "a") != digest(tmp_path / "c")
    train = pd.read_csv(tmp_path / "a" / "train.csv", dtype={"Id": str})
    test = pd.read_csv(tmp_path / "a" / "test.csv", dtype={"Id": str})
    sample = pd.read_csv(tmp_path / "a" / "sample_submission.csv", dtype={"Id": str})
    assert list(train.columns) == [
        "Id",
        "Subject Focus",
        "Eyes",
        "Face",
        "Near",
        "Action",
        "Accessory",
        "Group",
        "Collage",
        "Human",
        "Occlusion",
        "Info",
        "Blur",
        "Pawpularity",
    ]
    assert list(test.columns) == list(train.columns[:-1])
    assert list(sample.columns) == ["Id", "Pawpularity"] and sample["Id"].equals(test["Id"])
    assert train["Pawpularity"].between(1, 100).all() and train["Id"].str.fullmatch("[0-9a-f]{32}").all()
    assert sorted(p.stem for p in (tmp_path / "a" / "train").glob("*.jpg")) == sorted(train["Id"])
    assert not list(tmp_path.glob(".*build*")), "build folder left behind"


def test_score_follows_visible_content(tmp_path):
    make_demo(tmp_path, 200, 1, seed=0)
    train = pd.read_csv(tmp_path / "train.csv", dtype={"Id": str})
    brightness = [np.asarray(Image.open(tmp_path / "train" / f"{i}.jpg").convert("L")).mean() for i in train["Id"]]
    r = np.corrcoef(brightness, train["Pawpularity"])[0, 1]
    assert r > 0.4, f"score barely depends on the image (r={r:.2f})"
    assert train["Pawpularity"].std() > 8  # and it is not deterministic either: noise on top


def test_a_failed_build_leaves_the_data_set_as_it_was(tmp_path):
    """A demo killed half-way (here: a writer that raises after its images) changes nothing of the data
    set already there and leaves no build folder behind; a finished one replaces its pieces."""
    from pawpipe.io import built_folder

    make_demo(tmp_path / "demo", 12, 3, seed=1)
    before = digest(tmp_path / "demo")
    try:
        with built_folder(tmp_path / "demo") as tmp:
            (tmp / "train").mkdir()
            (tmp / "train" / "half.jpg").write_bytes(b"partial")
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert digest(tmp_path / "demo") == before and not list(tmp_path.glob(".*build*"))
    with built_folder(tmp_path / "demo") as tmp:
        (tmp / "train").mkdir()
        (tmp / "train" / "new.jpg").write_bytes(b"whole")
    assert [p.name for p in (tmp_path / "demo" / "train").iterdir()] == ["new.jpg"]
    assert (tmp_path / "demo" / "train.csv").exists(), "a piece the build did not write is kept"
