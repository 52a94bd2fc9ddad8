"""The training images as seeded batches: the config's albumentations pipeline, a shuffle per epoch
that tells each sample its epoch, and a dataset of cached crops whose randomness depends only on
(seed, epoch, position), so a resumed or multi-worker run reads exactly what an uninterrupted one does.
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .cache import ImageCache


def build_augment(spec: list[dict[str, Any]], seed: int) -> A.Compose:
    """albumentations pipeline from config: a list of {name: <albumentations class>, **kwargs}."""
    transforms = []
    for i, item in enumerate(spec):
        item = dict(item)
        name = item.pop("name")
        cls = getattr(A, name, None)
        if cls is None:
            raise ValueError(f"train.augment[{i}]: albumentations has no transform {name!r}")
        transforms.append(cls(**item))
    return A.Compose(transforms, seed=seed)


class EpochSampler(Sampler[int]):
    """A seeded shuffle per epoch that tells each sample its epoch: it yields epoch * n + position,
    so samples can seed their augmentation in any worker process, persistent or not."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        yield from (self.epoch * self.n + int(i) for i in torch.randperm(self.n, generator=gen))


class CachedImages(Dataset):
    """Cached uint8 images (a random square crop, augmented), targets, and metadata rows (empty without
    a metadata head).

    Keys come from EpochSampler; each sample's crop and augmentation are seeded from (seed, epoch,
    position), so they do not depend on which worker process reads the sample.
    """

    def __init__(
        self, images: ImageCache, indices: np.ndarray, targets: np.ndarray, augment: A.Compose, seed: int, meta=None
    ):
        self.images, self.indices, self.targets, self.augment, self.seed = images, indices, targets, augment, seed
        self.meta = meta if meta is not None else np.zeros((len(images), 0), np.float32)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key: int):
        epoch, i = divmod(int(key), len(self.indices))
        sample_seed = (self.seed * 1_000_003 + epoch * 100_003 + i) % 2**32
        self.augment.set_random_seed(sample_seed)
        img = self.images.random_crop(self.indices[i], sample_seed)  # a writable copy
        img = self.augment(image=img)["image"]
        target = torch.tensor(self.targets[i])  # float32 (scaled values, 0/1), or an int64 class
        return torch.from_numpy(np.ascontiguousarray(img)), target, torch.from_numpy(self.meta[self.indices[i]])
