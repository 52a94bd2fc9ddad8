import json

import numpy as np
import pandas as pd
import pytest

from conftest import pawpularity_task, write_task
from pawpipe.blend import BlendJob, blend_fold, fit_weights
from pawpipe.metrics import rmse


def best_weight(mlp, svr, target):
    return fit_weights([mlp, svr], target, pawpularity_task())[0]


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


def job(paths, tmp_path, fold=0):
    out = {k: str(tmp_path / f"out_{k}") for k in ("oof", "test", "json")}
    oof, test = ({h: str(paths[f"{h}_{what}"]) for h in ("mlp", "svr")} for what in ("oof", "test"))
    return BlendJob(fold, oof, test, *out.values(), task=write_task(tmp_path / "task.json"))


def test_fixed_weight_is_applied_and_recorded(tmp_path):
    j = job(write_fold(tmp_path), tmp_path)
    blend_fold(j, 0.25, seed=0)
    test = pd.read_csv(j.out_test)
    assert np.allclose(test["blend"], 0.25 * 30 + 0.75 * 50)
    summary = json.loads(open(j.out_json).read())
    assert summary["weights"] == {"mlp": 0.25, "svr": 0.75} and summary["weight_mode"] == "fixed"
    assert summary["scores"]["blend"] == summary["scores"]["blend_in_sample"]  # nothing was fitted


def test_the_reported_blend_is_never_scored_on_the_rows_that_chose_its_weight(tmp_path):
    """Two heads of pure noise around the target: any weight fitted on a fold's OOF rows flatters
    those rows. The cross-fitted figure must not: it is worse than the in-sample one, each OOF row's
    weight is refitted without it, and the test rows get the weight fitted on all OOF rows."""
    rng = np.random.default_rng(0)
    n, ids = 60, [f"id{i}" for i in range(60)]
    target = rng.uniform(1, 100, n)
    base = pd.DataFrame({"Id": ids, "fold": 0, "Pawpularity": target})
    paths = {}
    for name in ("mlp", "svr"):
        paths[f"{name}_oof"] = tmp_path / f"{name}_oof.csv"
        base.assign(pred=target + rng.normal(0, 15, n)).to_csv(paths[f"{name}_oof"], index=False)
        paths[f"{name}_test"] = tmp_path / f"{name}_test.csv"
        pd.DataFrame({"Id": ["t0"], "pred": [30.0 if name == "mlp" else 50.0]}).to_csv(
            paths[f"{name}_test"], index=False
        )
    j = job(paths, tmp_path)
    summary = blend_fold(j, "auto", seed=0)
    r = summary["scores"]
    assert r["blend"] > r["blend_in_sample"]  # the in-sample figure is the optimistic one
    oof = pd.read_csv(j.out_oof)
    # What is scored is what would be submitted: the blend within the target's bounds (1..100).
    assert rmse(oof["Pawpularity"], oof["blend"].clip(1, 100)) == pytest.approx(r["blend"])
    assert len(summary["cross_fit_weights"]) > 1  # inner parts chose their own weights
    w = summary["weights"]["mlp"]
    assert pd.read_csv(j.out_test)["blend"].iloc[0] == pytest.approx(w * 30 + (1 - w) * 50)


def test_mismatched_ids_are_refused(tmp_path):
    paths = write_fold(tmp_path)
    svr = pd.read_csv(paths["svr_oof"]).iloc[:-1]
    svr.to_csv(paths["svr_oof"], index=False)
    j = job(paths, tmp_path)
    with pytest.raises(ValueError, match="different ids"):
        blend_fold(j, "auto", seed=0)
    assert not (tmp_path / "out_oof").exists()
