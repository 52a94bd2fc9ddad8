import json

import numpy as np
import pandas as pd
import pytest

from pawpipe.blend import best_weight, blend_fold, rmse


def heads(n=400, seed=0):
    rng = np.random.default_rng(seed)
    target = rng.uniform(1, 100, n)
    mlp = target + rng.normal(0, 10, n)
    svr = target + rng.normal(0, 5, n)
    return target, mlp, svr


def test_auto_weight_finds_the_optimum_of_independent_errors():
    target, mlp, svr = heads(20000)
    # Independent errors with variances 100 and 25: optimal weight on mlp is 25 / 125 = 0.2.
    assert best_weight(mlp, svr, target) == pytest.approx(0.2, abs=0.02)


@pytest.mark.parametrize("seed", range(5))
def test_auto_blend_is_never_worse_than_either_head_on_its_rows(seed):
    target, mlp, svr = heads(seed=seed)
    w = best_weight(mlp, svr, target)
    blended = rmse(w * mlp + (1 - w) * svr, target)
    assert blended <= min(rmse(mlp, target), rmse(svr, target)) + 1e-12


def write_fold(tmp_path, seed=0):
    target, mlp, svr = heads(50, seed)
    ids = [f"id{i}" for i in range(50)]
    base = pd.DataFrame({"Id": ids, "fold": 0, "Pawpularity": target})
    paths = {}
    for name, pred in (("mlp_oof", mlp), ("svr_oof", svr)):
        paths[name] = tmp_path / f"{name}.csv"
        base.assign(pred=pred).to_csv(paths[name], index=False)
    for name, pred in (("mlp_test", np.full(5, 30.0)), ("svr_test", np.full(5, 50.0))):
        paths[name] = tmp_path / f"{name}.csv"
        pd.DataFrame({"Id": [f"t{i}" for i in range(5)], "pred": pred}).to_csv(paths[name], index=False)
    return paths


def test_fixed_weight_is_applied_and_recorded(tmp_path):
    paths = write_fold(tmp_path)
    out = {k: str(tmp_path / f"out_{k}") for k in ("oof", "test", "json")}
    blend_fold(
        **{k: str(v) for k, v in paths.items()},
        fold=0,
        weight=0.25,
        out_oof=out["oof"],
        out_test=out["test"],
        out_json=out["json"],
    )
    test = pd.read_csv(out["test"])
    assert np.allclose(test["blend"], 0.25 * 30 + 0.75 * 50)
    summary = json.loads(open(out["json"]).read())
    assert summary["weight_mlp"] == 0.25 and summary["weight_mode"] == "fixed"


def test_mismatched_ids_are_refused(tmp_path):
    paths = write_fold(tmp_path)
    svr = pd.read_csv(paths["svr_oof"]).iloc[:-1]
    svr.to_csv(paths["svr_oof"], index=False)
    with pytest.raises(ValueError, match="different Ids"):
        blend_fold(
            **{k: str(v) for k, v in paths.items()},
            fold=0,
            weight="auto",
            out_oof=str(tmp_path / "a"),
            out_test=str(tmp_path / "b"),
            out_json=str(tmp_path / "c"),
        )
    assert not (tmp_path / "a").exists()
