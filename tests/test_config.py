"""The config: what versus how, the shipped overlays, the models they name (no workflow run)."""

from __future__ import annotations

import pytest
import yaml

from conftest import REPO, validated_config

# A changed value for every runtime (how) setting; the test fails if the schema gains one not listed.
CHANGED_HOW = {
    "image.cache_workers": 1,
    "train.num_workers": 1,
    "train.device": "cpu",
    "train.channels_last": False,
    "train.grad_checkpointing": [0],
    "train.compile": True,
    "train.eval_batch_size": 7,
    "train.threads": 2,
    "train.keep_state": True,
    "embed.batch_size": 5,
    "svr.backend": "sklearn",
    "svr.threads": 2,
    "svr.cache_size": 256,
    "stack.device": "cpu",
    "stack.threads": 2,
}


def test_every_runtime_key_is_covered_by_the_what_how_test():
    from pawpipe.config import load_schema, runtime_paths

    assert {".".join(p) for p in runtime_paths(load_schema())} == set(CHANGED_HOW)


OVERLAYS = [REPO / "config" / "petfinder.yaml", *sorted((REPO / "config" / "variants").glob("*.yaml"))]


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.stem)
def test_every_shipped_overlay_gives_a_valid_config_and_model(overlay):
    from pawpipe.config import resolve_model_args

    config = validated_config(overlay)  # merged key by key like --configfile; raises on any bad key
    args = resolve_model_args(config["backbone"], config["head"], config["image"]["size"])  # raises on a clash
    named = (yaml.safe_load(overlay.read_text()).get("backbone") or {}).get("name")
    assert args["name"] == (named or "swin_micro_patch4_window4_64") and args["image_size"] == config["image"]["size"]


def backbone_shapes(config):
    from pawpipe.config import resolve_model_args
    from pawpipe.model import create_model

    args = resolve_model_args({**config["backbone"], "pretrained": False}, config["head"], config["image"]["size"])
    return {k: v.shape for k, v in create_model(args).backbone.state_dict().items()}


def timm_shapes(name):
    import timm

    return {k: v.shape for k, v in timm.create_model(name, pretrained=False, num_classes=0).state_dict().items()}


def test_the_competition_preset_builds_timms_own_swin_large():
    config = validated_config(REPO / "config" / "petfinder.yaml")
    assert backbone_shapes(config) == timm_shapes(config["backbone"]["name"])


def test_an_overlay_that_names_a_backbone_gets_that_models_own_shape(tmp_path):
    """The demo's micro Swin is a registered model, not kwargs that shrink another: an overlay that
    sets only backbone.name and image.size builds that model as timm defines it."""
    (tmp_path / "other.yaml").write_text("backbone:\n  name: swin_base_patch4_window12_384\nimage:\n  size: 384\n")
    config = validated_config(tmp_path / "other.yaml")
    assert config["backbone"]["kwargs"] == {}
    assert backbone_shapes(config) == timm_shapes("swin_base_patch4_window12_384")
    demo = validated_config()
    assert demo["backbone"]["name"] == "swin_micro_patch4_window4_64"
    assert backbone_shapes(demo) == timm_shapes("swin_micro_patch4_window4_64")


def test_config_values_are_typed_as_the_schema_says():
    """`--config 'train={epochs: 1}'` arrives from Snakemake as {'train': {'epochs': '1'}} (YAML's base
    loader): each value is typed as the same text in an overlay file would be, but where the schema wants
    the string (an `off` enum, an experiment named 123)."""
    from pawpipe.config import load_schema
    from pawpipe.configfile import typed_overrides

    config = validated_config()
    overrides = {"train": {"epochs": "1", "amp": "off", "channels_last": "true", "grad_checkpointing": ["0", "1"]},
                 "svr": {"gamma": "0.5", "grid": {"C": ["4", "20.5"], "epsilon": ["1"]}}, "exp": "123",
                 "backbone": {"kwargs": {"drop_path_rate": "0.1"}}}  # fmt: skip
    typed_overrides(config, overrides, load_schema())
    assert (
        config["train"]["epochs"] == 1 and config["train"]["amp"] == "off" and config["train"]["channels_last"] is True
    )
    assert (
        config["train"]["grad_checkpointing"] == [0, 1] and config["train"]["lr"] == validated_config()["train"]["lr"]
    )
    assert config["svr"]["gamma"] == 0.5 and config["svr"]["grid"] == {"C": [4, 20.5], "epsilon": [1]}
    assert config["exp"] == "123" and config["backbone"]["kwargs"] == {"drop_path_rate": 0.1}


def test_a_config_value_that_fits_no_type_is_refused_with_the_overlay_advice():
    from pawpipe.config import load_schema
    from pawpipe.configfile import typed_overrides

    with pytest.raises(ValueError, match=r"--config: train\.epochs='five' does not fit.*--configfile"):
        typed_overrides(validated_config(), {"train": {"epochs": "five"}}, load_schema())


def test_one_key_order_for_described_blocks_and_the_users_order_for_free_maps():
    """Blocks the schema describes come out in the base config's order whatever order they were given
    in; a sweep's grid (a free map whose order names the points) keeps the order it was written in."""
    from pathlib import Path

    from pawpipe.config import SCHEMA, canonical
    from pawpipe.configfile import base_order
    from pawpipe.sweep import expand

    schema = yaml.safe_load(Path(SCHEMA).read_text())
    template = base_order(REPO / "config" / "config.yaml")
    cfg = validated_config()
    shuffled = {k: cfg[k] for k in reversed(list(cfg))}
    shuffled["train"] = {k: cfg["train"][k] for k in reversed(list(cfg["train"]))}
    shuffled["sweep"] = {**cfg["sweep"], "grid": {"train.lr": [1e-3, 2e-3], "image.resize": ["crop", "squash"]}}
    ordered = canonical(shuffled, template, schema)
    assert list(ordered)[: len(template)] == list(template) and list(ordered["train"]) == list(template["train"])
    assert list(ordered["sweep"]["grid"]) == ["train.lr", "image.resize"]
    names = list(expand(ordered))
    assert "demo_lr-0.002_resize-squash" in names, names
