"""The pretrained network's own classifier outputs (e.g. ImageNet-1k logits) for every image.

The contest's winner found these a better SVR input than pooled embeddings. They come from the
pretrained weights, not a fine-tuned fold, so one job per experiment serves every fold.
"""

from __future__ import annotations

import numpy as np
import timm
import torch
from tqdm import tqdm

from .cache import open_cache
from .io import read_json, write_npz
from .logs import log
from .model import create_classifier
from .runtime import Normalizer, amp_dtype, autocast, explain_oom, resolve_device, set_threads


@torch.no_grad()
def classifier_outputs(model, images: np.ndarray, batch: int, norm: Normalizer, amp, hflip: bool) -> np.ndarray:
    out = []
    for start in tqdm(range(0, len(images), batch), desc="logits", unit="batch", disable=None, leave=False):
        x = norm(torch.from_numpy(np.array(images[start : start + batch])))  # a copy: memmaps are read-only
        views = [x, x.flip(3)] if hflip else [x]
        total = 0
        for view in views:
            with autocast(norm.device, amp):
                total = total + model(view).float()
        out.append((total / len(views)).cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def imagenet_logits(
    *,
    model_args: dict,
    train_npy: str,
    test_npy: str,
    train_index: str,
    test_index: str,
    batch_size: int,
    device: str,
    amp: str,
    threads: int,
    hflip: bool,
    out_npz: str,
) -> dict:
    set_threads(threads)
    dev = resolve_device(device)
    if not model_args.get("pretrained"):
        log.warning("backbone.pretrained is false: these 'logits' come from a randomly initialised classifier")
    model = create_classifier(model_args).to(dev).eval()
    cfg = timm.data.resolve_model_data_config(model)
    norm = Normalizer(cfg["mean"], cfg["std"], dev)
    dtype = amp_dtype(amp, dev)
    with explain_oom("embed"):
        train = classifier_outputs(model, open_cache(train_npy), batch_size, norm, dtype, hflip)
        test = classifier_outputs(model, open_cache(test_npy), batch_size, norm, dtype, hflip)
    write_npz(
        out_npz,
        train=train,
        test=test,
        train_ids=np.asarray(read_json(train_index)["ids"], str),
        test_ids=np.asarray(read_json(test_index)["ids"], str),
    )
    log.info("classifier outputs: %s train, %s test", train.shape, test.shape)
    return {"classes": int(train.shape[1])}
