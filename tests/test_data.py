"""Input validation: every bad input named with its file or line; odd image modes converted."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import demo_paths
from pawpipe.cache import ImageSpec, build_cache
from pawpipe.data import DataError, load_image
from pawpipe.demo import make_demo
from pawpipe.validate import validate_dataset as validate


def validate_dataset(data, workers=1):
    """The demo data checked as the demo config's task describes it: (train, test)."""
    from conftest import validated_config
    from pawpipe.task import Task

    _, train, test = validate(data, Task.from_config(validated_config()["task"]), 2, workers)
    return train, test


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo")
    make_demo(path, n_train=20, n_test=4, seed=3)
    return path


@pytest.fixture
def data(tmp_path, demo_source):
    shutil.copytree(demo_source, tmp_path / "d")
    return tmp_path / "d"


def edit(path, fn):
    df = pd.read_csv(path, dtype={"Id": str})
    df = fn(df)
    df.to_csv(path, index=False)
    return df


def first_image(data, split="train"):
    image_id = pd.read_csv(data / f"{split}.csv", dtype={"Id": str})["Id"].iloc[0]
    return data / split / f"{image_id}.jpg"


def truncate(p):
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def set_cell(col, row, value):
    def fn(df):
        df[col] = df[col].astype(object)
        df.loc[row, col] = value
        return df

    return fn


# Each case: how to break a valid dataset, and what the error must say (the file, line or Id).
CASES = {
    "missing column": (lambda d: edit(d / "train.csv", lambda df: df.drop(columns="Eyes")), ["train.csv", "'Eyes'"]),
    "missing target": (lambda d: edit(d / "train.csv", lambda df: df.drop(columns="Pawpularity")), ["'Pawpularity'"]),
    "duplicate Id": (
        lambda d: edit(d / "train.csv", lambda df: pd.concat([df, df.iloc[[3]]])),
        ["appears more than once", "lines 5, 22"],
    ),
    "unsafe Id": (
        lambda d: edit(d / "test.csv", set_cell("Id", 1, "../../etc/passwd")),
        ["test.csv line 3", "safe file name"],
    ),
    "NaN metadata": (lambda d: edit(d / "train.csv", set_cell("Blur", 4, np.nan)), ["train.csv line 6", "'Blur'"]),
    "text metadata": (
        lambda d: edit(d / "test.csv", set_cell("Face", 0, "yes")),
        ["test.csv line 2", "'Face' is 'yes'"],
    ),
    "target 0": (
        lambda d: edit(d / "train.csv", set_cell("Pawpularity", 2, 0)),
        ["train.csv line 4", "integer 1..100"],
    ),
    "target 101": (lambda d: edit(d / "train.csv", set_cell("Pawpularity", 2, 101)), ["line 4", "101"]),
    "target fraction": (lambda d: edit(d / "train.csv", set_cell("Pawpularity", 7, 33.5)), ["line 9", "33.5"]),
    "target text": (lambda d: edit(d / "train.csv", set_cell("Pawpularity", 7, "high")), ["line 9", "'high'"]),
    "empty test": (lambda d: edit(d / "test.csv", lambda df: df.iloc[:0]), ["test.csv", "no rows"]),
    "missing train.csv": (lambda d: (d / "train.csv").unlink(), ["train.csv: file not found"]),
    "missing image": (lambda d: first_image(d).unlink(), ["image missing"]),
    "zero-byte image": (lambda d: first_image(d, "test").write_bytes(b""), ["0 bytes"]),
    "truncated image": (lambda d: truncate(first_image(d)), ["cannot decode"]),
    "not an image": (lambda d: first_image(d).write_text("<html>rate limited</html>"), ["not a readable image"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fault_matrix_names_the_problem(data, case, record_property):
    breaks, needles = CASES[case]
    breaks(data)
    with pytest.raises(DataError) as err:
        validate_dataset(data)
    message = str(err.value)
    for needle in needles:
        assert needle in message, f"{case}: {needle!r} not in\n{message}"
    record_property("fault_case", "rejected")


def test_the_demo_data_is_valid(data):
    train, test = validate_dataset(data, workers=2)
    assert len(train) == 20 and len(test) == 4
    assert train["Pawpularity"].dtype.kind == "i"


def test_every_problem_is_reported_at_once(data):
    edit(data / "train.csv", set_cell("Pawpularity", 1, 0))
    truncate(first_image(data, "test"))
    first_image(data).unlink()
    with pytest.raises(DataError) as err:
        validate_dataset(data)
    assert len(err.value.problems) == 3
    assert str(err.value).startswith("3 problems in the input data:")


def save(img, fmt="JPEG", **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "LA", "I;16"])
def test_image_modes_become_rgb(tmp_path, mode, record_property):
    img = Image.new("RGB", (40, 30), (200, 60, 20)).convert(mode)
    fmt = "JPEG" if mode in ("L", "CMYK") else "PNG"
    (tmp_path / "x.jpg").write_bytes(save(img, fmt))  # a PNG with a .jpg name happens in scraped data
    out = load_image(tmp_path / "x.jpg", 16)
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    record_property("fault_case", "converted")


def test_transparent_pixels_become_white(tmp_path):
    img = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    (tmp_path / "x.jpg").write_bytes(save(img, "PNG"))
    assert (load_image(tmp_path / "x.jpg", 8) == 255).all()


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = (255, 0, 0)  # left half red, right half blue, as stored
    arr[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": left half ends up on top
    (tmp_path / "x.jpg").write_bytes(save(Image.fromarray(arr), exif=exif, quality=95))
    out = load_image(tmp_path / "x.jpg", 16).astype(int)
    assert out[2, 8, 0] > 200 and out[2, 8, 2] < 60  # top is red
    assert out[13, 8, 2] > 200 and out[13, 8, 0] < 60  # bottom is blue


def test_cache_writes_nothing_when_an_image_is_bad(data, tmp_path):
    ids = pd.read_csv(data / "train.csv", dtype={"Id": str})["Id"].tolist()
    truncate(data / "train" / f"{ids[5]}.jpg")
    out = tmp_path / "cache" / "train.npy"
    with pytest.raises(DataError, match=ids[5]):
        paths = demo_paths(data, "train", ids)
        build_cache(ids, paths, "train", ImageSpec(16, "crop", 1.34), out, tmp_path / "cache" / "train.json", workers=2)
    assert not out.exists() and list((tmp_path / "cache").iterdir()) == []


@pytest.mark.parametrize("resize, width", [("crop", 32), ("squash", 24)])
def test_cache_matches_direct_decoding(data, tmp_path, resize, width):
    ids = pd.read_csv(data / "test.csv", dtype={"Id": str})["Id"].tolist()
    out, spec = tmp_path / "test.npy", ImageSpec(24, resize, 1.34)
    build_cache(ids, demo_paths(data, "test", ids), "test", spec, out, tmp_path / "test.json", workers=2)
    cached, index = np.load(out), json.loads((tmp_path / "test.json").read_text())
    assert cached.shape == (4, 24, width, 3) and index["ids"] == ids and index["resize"] == resize
    for i, image_id in enumerate(ids):
        direct = spec.decode(data / "test" / f"{image_id}.jpg")
        assert index["transposed"][i] == (direct.shape[0] > direct.shape[1])
        stored = direct.transpose(1, 0, 2) if index["transposed"][i] else direct
        assert np.array_equal(cached[i, :, : index["valid"][i]], stored) and not cached[i, :, index["valid"][i] :].any()
