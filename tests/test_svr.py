import numpy as np
import pytest

from conftest import svr_config
from pawpipe.svr import SVRHead, choose_backend, cuml_status


@pytest.mark.parametrize("requested, cuml_ok, expected", [
    ("auto", True, "cuml"),
    ("auto", False, "sklearn"),
    ("sklearn", True, "sklearn"),
    ("sklearn", False, "sklearn"),
    ("cuml", True, "cuml"),
])  # fmt: skip
def test_backend_choice(requested, cuml_ok, expected):
    assert choose_backend(requested, cuml_ok) == expected


def test_explicit_cuml_without_cuml_fails_with_the_reason():
    with pytest.raises(RuntimeError, match="no CUDA device.*svr.backend: auto"):
        choose_backend("cuml", False, "no CUDA device")
    with pytest.raises(ValueError, match="gpu"):
        choose_backend("gpu", True)


def test_cuml_status_reports_why_not_here():
    ok, why = cuml_status()
    assert ok == (why == "ok") and why  # the reason gets logged when auto falls back to scikit-learn


def signal_problem(n=300, d=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32) * rng.uniform(0.1, 10, size=d)  # unscaled features
    y = np.clip(40 + 12 * x[:, 0] / x[:, 0].std() + rng.normal(0, 4, n), 1, 100)
    return x, y


def test_sklearn_head_learns_signal_on_unscaled_features():
    x, y = signal_problem()
    head = SVRHead("sklearn", svr_config(C=20, epsilon=1.0)).fit(x[:200], y[:200])
    pred = head.predict(x[200:])
    rmse = np.sqrt(np.mean((pred - y[200:]) ** 2))
    baseline = np.sqrt(np.mean((y[:200].mean() - y[200:]) ** 2))
    assert pred.dtype == np.float64 and pred.shape == (100,)
    assert rmse < 0.6 * baseline


@pytest.mark.gpu
def test_cuml_matches_sklearn():
    ok, why = cuml_status()
    if not ok:
        pytest.skip(why)
    x, y = signal_problem(2000, 64)
    cfg = svr_config(C=20, epsilon=1.0)
    a = SVRHead("cuml", cfg).fit(x[:1500], y[:1500]).predict(x[1500:])
    b = SVRHead("sklearn", cfg).fit(x[:1500], y[:1500]).predict(x[1500:])
    assert np.sqrt(np.mean((a - b) ** 2)) < 0.05
