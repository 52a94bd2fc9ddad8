"""The image cache on a real photograph: crop mode keeps each image's aspect ratio and orientation,
random crops stay inside the image, squash mode is the layout from before crop mode bit for bit."""

from __future__ import annotations

import os

import matplotlib
import numpy as np
import pytest
from PIL import Image, ImageOps

from conftest import demo_paths, validated_config
from pawpipe.cache import ImageSpec, build_cache, open_cache
from pawpipe.kaggle.predict import load_test_images

SIZE = 48  # long side kept up to round(48 x 1.34) = 64 px
PHOTO = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")  # a real photo, 512x600


def crop_spec() -> ImageSpec:
    return ImageSpec.from_config({**validated_config()["image"], "size": SIZE})


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """The photo as a portrait, as a landscape, as a wide landscape (2:1), and as a landscape that EXIF
    says to turn upright; expected (valid long side, transposed) at SIZE."""
    root = tmp_path_factory.mktemp("photos")
    (root / "train").mkdir()
    with Image.open(PHOTO) as img:
        portrait = img.convert("RGB")
    landscape = portrait.transpose(Image.Transpose.ROTATE_90)  # 600x512
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": shown upright, as the portrait
    shots = {
        "portrait": (portrait, {}, (56, True)),  # 600 / 512 x 48 = 56.25
        "landscape": (landscape, {}, (56, False)),
        "wide": (portrait.crop((0, 100, 512, 356)).resize((600, 300)), {}, (64, False)),  # 96 kept to 64
        "exif": (landscape, {"exif": exif}, (56, True)),
    }
    for name, (img, extra, _) in shots.items():
        img.save(root / "train" / f"{name}.jpg", quality=95, **extra)
    return root, {name: want for name, (_, _, want) in shots.items()}


def pil_centre_crop(path, size: int) -> np.ndarray:
    """PIL's own: turn upright, resize the short side to `size`, cut the middle square."""
    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img).convert("RGB")
    scale = size / min(img.size)
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BICUBIC)
    left, top = (img.width - size) // 2, (img.height - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)


def squashed_as_before(path, size: int) -> np.ndarray:
    """The cache's decoder before crop mode existed, verbatim for RGB JPEGs."""
    with Image.open(path) as img:
        img.draft("RGB", (size, size))
        img = ImageOps.exif_transpose(img).convert("RGB")
        return np.asarray(img.resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)


def cache(root, ids, spec, name="c"):
    build_cache(ids, demo_paths(root, "train", ids), "train", spec, root / f"{name}.npy", root / f"{name}.json", 2)
    return open_cache(root / f"{name}.npy", root / f"{name}.json")


def test_crop_mode_keeps_each_photos_aspect_and_orientation(photos):
    root, expected = photos
    ids = list(expected)
    images = cache(root, ids, crop_spec())
    assert images.array.shape == (4, SIZE, 64, 3) and images.shape == (4, SIZE, SIZE, 3)
    assert [(int(v), bool(t)) for v, t in zip(images.valid, images.transposed, strict=True)] == list(expected.values())
    assert (images.array[0, :, 56:] == 0).all()  # the portrait's padding
    centres = images[np.arange(4)]
    for i, name in enumerate(ids):
        assert np.array_equal(centres[i], images[i])
        reference = pil_centre_crop(root / "train" / f"{name}.jpg", SIZE).astype(int)
        diff = np.abs(centres[i].astype(int) - reference).mean()
        assert diff < 4, f"{name}: mean |cache - PIL| = {diff:.2f}"  # ~2.7: libjpeg's scaled decoding (draft)
        turned = np.abs(centres[i].astype(int) - reference.transpose(1, 0, 2)).mean()
        assert turned > 4 * diff + 10, f"{name}: the crop would pass turned on its side too ({turned:.1f})"
    # EXIF-rotated pixels come out as the upright photo does.
    assert np.abs(centres[3].astype(int) - centres[0].astype(int)).mean() < 3
    # The whole frame, as near-duplicate hashing reads it: the image's own shape, no padding.
    assert [images.whole(i).shape[:2] for i in range(4)] == [(56, SIZE), (SIZE, 56), (SIZE, 64), (56, SIZE)]
    assert np.array_equal(images.whole(0)[4:52], centres[0])


def test_random_crops_are_seeded_and_never_reach_the_padding(photos):
    root, expected = photos
    images = cache(root, list(expected), crop_spec())
    for i in range(len(images)):
        room = int(images.valid[i]) - SIZE
        windows = [images._square(images.array[i], i, o) for o in range(images.array.shape[2] - SIZE + 1)]
        offsets = set()
        for seed in range(200):
            crop = images.random_crop(i, seed)
            assert crop.shape == (SIZE, SIZE, 3) and crop.flags.writeable and crop.flags.c_contiguous
            assert np.array_equal(crop, images.random_crop(i, seed))
            (found,) = [o for o, w in enumerate(windows) if np.array_equal(crop, w)]
            offsets.add(found)
        assert offsets == set(range(room + 1)), f"image {i}: offsets {sorted(offsets)}, room {room}"


def test_squash_mode_is_the_cache_from_before_crop_mode(photos):
    root, expected = photos
    ids = list(expected)
    images = cache(root, ids, ImageSpec(SIZE, "squash", 1.34), "squash")
    raw = np.load(root / "squash.npy")
    before = np.stack([squashed_as_before(root / "train" / f"{i}.jpg", SIZE) for i in ids])
    assert raw.shape == (4, SIZE, SIZE, 3) and np.array_equal(raw, before)
    assert np.array_equal(images[np.array([1, 3])], raw[[1, 3]]) and np.array_equal(images[2], raw[2])
    assert np.array_equal(images.random_crop(3, seed=7), raw[3])


def test_the_notebook_decodes_and_crops_test_images_as_the_cache_does(photos, tmp_path):
    root, expected = photos
    ids = list(expected)
    (tmp_path / "test").symlink_to(root / "train")
    for spec in (crop_spec(), ImageSpec(SIZE, "squash", 1.34)):
        cached = cache(root, ids, spec, spec.resize)
        decoded = load_test_images(demo_paths(tmp_path, "test", ids), spec, workers=2)
        assert np.array_equal(decoded[np.arange(len(ids))], cached[np.arange(len(ids))]), spec.resize


def test_a_cache_that_does_not_match_its_index_is_refused(photos, tmp_path):
    root, expected = photos
    cache(root, list(expected), crop_spec(), "mismatch")
    np.save(tmp_path / "other.npy", np.zeros((4, SIZE, SIZE, 3), np.uint8))
    with pytest.raises(ValueError, match=r"other\.npy.*mismatch\.json.*rerun the cache rule"):
        open_cache(tmp_path / "other.npy", root / "mismatch.json")
