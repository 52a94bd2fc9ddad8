import numpy as np
import pytest

from conftest import svr_config
from pawpipe.svr import SVRHead, choose_backend, cuml_status
from pawpipe.svr_model import PortableSVR, SVRFileError


@pytest.mark.parametrize("requested, cuml_ok, expected", [
    ("auto", True, "cuml"),
    ("auto", False, "sklearn"),
    ("sklearn", True, "sklearn"),
    ("sklearn", False, "sklearn"),
    ("cuml", True, "cuml"),
])  # fmt: skip
def test_backend_choice(requested, cuml_ok, expected):
    assert choose_backend(requested, cuml_ok) == expected


@pytest.mark.parametrize("requested", ["auto", "cuml", "sklearn"])
@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1"])
@pytest.mark.parametrize("has_gpu", [True, False])
def test_a_job_fits_with_cuml_exactly_where_its_rule_took_a_gpu(requested, device, has_gpu):
    """The GPU slot and the backend come from one rule (cluster.svr_backend): with cuML installed, a job
    that asked for no GPU (train.device: cpu, or no GPU visible) fits with scikit-learn, never on GPU 0
    outside the cap; one that holds a slot fits with cuML."""
    from pawpipe.cluster import gpus

    config = {"train": {"device": device}, "embed": {"engine": "torch"}, "svr": {"backend": requested}}
    slot = gpus(config, "svr", has_gpu=has_gpu, has_cuml=True)
    assert (choose_backend(requested, True, gpu=slot > 0) == "cuml") == (slot == 1)
    if device == "cpu" and requested == "auto":
        assert slot == 0


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


def test_the_standardisation_is_scikit_learns():
    """pawpipe.frames.standardise runs on numpy or CuPy; on numpy it must equal StandardScaler,
    a constant column included (its scale stays 1)."""
    from sklearn.preprocessing import StandardScaler

    from pawpipe.frames import host_lib, standardise

    x, _ = signal_problem()
    x[:, 2] = 3.0
    mean, scale, (fit, other) = standardise(host_lib(), x[:200], x[200:])
    ref = StandardScaler().fit(x[:200])
    assert np.allclose(mean, ref.mean_) and np.allclose(scale, ref.scale_) and scale[2] == 1.0
    assert np.allclose(other, ref.transform(x[200:]).astype(np.float32), atol=1e-6)


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


@pytest.mark.parametrize("kernel", ["rbf", "linear", "poly", "sigmoid"])
def test_portable_svr_predicts_like_scikit_learn(tmp_path, kernel):
    x, y = signal_problem()
    head = SVRHead("sklearn", svr_config(C=20, epsilon=1.0, kernel=kernel)).fit(x[:200], y[:200])
    expected = head.model.predict(head.scaler.transform(x[200:]).astype(np.float32))
    head.feature_sets = ["embedding", "metadata"]
    head.save(str(tmp_path / "svr.npz"))
    loaded = SVRHead.load(str(tmp_path / "svr.npz"))
    assert np.abs(loaded.predict(x[200:]) - expected).max() < 1e-4
    assert np.abs(head.predict(x[200:]) - expected).max() < 1e-4  # the pipeline predicts through the same arrays
    assert loaded.feature_sets == ["embedding", "metadata"] and loaded.backend == "sklearn"
    with np.load(tmp_path / "svr.npz", allow_pickle=False) as npz:  # plain arrays only: nothing to unpickle
        assert all(npz[k].dtype != object for k in npz.files)


def test_portable_svr_refuses_pickles_and_foreign_files(tmp_path):
    (tmp_path / "svr.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(SVRFileError, match=r"svr\.pkl: a pickled SVR.*Rerun the svr stage"):
        PortableSVR.load(tmp_path / "svr.pkl")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(SVRFileError, match=r"other\.npz: not a pawpipe SVR file"):
        PortableSVR.load(tmp_path / "other.npz")


def test_portable_svr_from_cuml_attributes_predicts_without_cuml(tmp_path):
    """What cuML's SVR exposes after a fit (support_vectors_, dual_coef_ as (1, n), intercept_ as an array,
    gamma as 'scale' without _gamma) makes a file that predicts like the estimator it came from."""
    x, y = signal_problem()
    fitted = SVRHead("sklearn", svr_config(C=20, epsilon=1.0)).fit(x[:200], y[:200])

    class CumlLike:  # the attribute shapes of cuml.svm.SVR, filled from an equal scikit-learn fit
        kernel, gamma, degree, coef0 = "rbf", "scale", 3, 0.0
        support_vectors_ = fitted.model.support_vectors_
        dual_coef_ = fitted.model.dual_coef_.reshape(1, -1)
        intercept_ = np.asarray([fitted.model.intercept_[0]])

    portable = PortableSVR.from_fitted(fitted.scaler, CumlLike(), {"backend": "cuml"})
    assert portable.gamma == pytest.approx(fitted.model._gamma, rel=1e-6)
    portable.save(tmp_path / "svr.npz")
    expected = fitted.model.predict(fitted.scaler.transform(x[200:]).astype(np.float32))
    assert np.abs(PortableSVR.load(tmp_path / "svr.npz").predict(x[200:]) - expected).max() < 1e-4


@pytest.mark.gpu
def test_portable_svr_matches_cuml_on_the_gpu(tmp_path):
    ok, why = cuml_status()
    if not ok:
        pytest.skip(why)
    import cupy as cp
    import torch

    x, y = signal_problem(2000, 64)
    head = SVRHead("cuml", svr_config(C=20, epsilon=1.0)).fit(x[:1500], y[:1500])
    expected = cp.asnumpy(head.model.predict(head.scaler.transform(cp.asarray(x[1500:])).astype(cp.float32)))
    head.save(str(tmp_path / "svr.npz"))
    portable = PortableSVR.load(tmp_path / "svr.npz")
    on_torch = portable.predict(x[1500:], xp=torch, asarray=lambda a: torch.as_tensor(a, device="cuda"))
    assert np.abs(portable.predict(x[1500:]) - expected).max() < 1e-3  # cuML computes in float32
    assert np.abs(on_torch - portable.predict(x[1500:])).max() < 1e-6


def test_a_cuml_fitted_file_predicts_on_a_machine_without_cupy(tmp_path, monkeypatch):
    """svr.npz records the backend that fitted it; loading it must not then need that backend's arrays."""
    import sys

    x, y = signal_problem()
    head = SVRHead("sklearn", svr_config(C=20, epsilon=1.0)).fit(x[:200], y[:200])
    head.backend = "cuml"  # as written by a GPU run
    head._portable.meta["backend"] = "cuml"
    head.save(str(tmp_path / "svr.npz"))
    monkeypatch.setitem(sys.modules, "cupy", None)  # this machine has no CuPy: `import cupy` fails
    loaded = SVRHead.load(str(tmp_path / "svr.npz"))
    assert loaded.backend == "cuml"
    assert (
        np.abs(loaded.predict(x[200:]) - head.model.predict(head.scaler.transform(x[200:]).astype(np.float32))).max()
        < 1e-4
    )


def test_the_estimator_takes_every_setting_of_the_config():
    from pawpipe.svr import make_svr

    model = make_svr("sklearn", svr_config(C=3.0, epsilon=0.5, kernel="poly", gamma=0.25, cache_size=64))
    assert (model.C, model.epsilon, model.kernel, model.gamma, model.cache_size) == (3.0, 0.5, "poly", 0.25, 64)


def classes_problem(n=300, k=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = np.digitize(x[:, 0] + 0.4 * rng.normal(size=n), [-0.5, 0.5]) if k == 3 else (x[:, 0] > 0.8).astype(int)
    return x, y


@pytest.mark.parametrize("k", [2, 3])
def test_calibrated_svcs_predict_probabilities_through_plain_arrays(tmp_path, k):
    """The classification head: one SVC per class (one for binary), each unit reproducing scikit-learn's
    decision function, probabilities from a softmax fitted on held-out values; saved without pickle."""
    from sklearn.svm import SVC

    from pawpipe.metrics import log_loss
    from pawpipe.svc import SVCHead
    from pawpipe.svr_model import PortableSVC, load_portable

    x, y = classes_problem(k=k)
    head = SVCHead("sklearn", svr_config(C=20), k).fit(x[:200], y[:200])
    probs = head.predict(x[200:])
    assert probs.shape == ((100,) if k == 2 else (100, 3))
    if k == 3:
        assert np.allclose(probs.sum(1), 1) and (probs.argmax(1) == y[200:]).mean() > 0.5  # chance: 0.33
    else:
        assert ((probs > 0.5) == y[200:]).mean() > 0.85
    prior = np.bincount(y[:200]) / 200
    assert log_loss(probs, y[200:]) < log_loss(np.tile(prior, (100, 1)) if k == 3 else np.full(100, prior[1]), y[200:])
    # The last unit is the positive class (binary) or the last class against the rest, as scikit-learn fits it.
    xs = (x[:200] - x[:200].mean(0)) / x[:200].std(0)
    reference = SVC(C=20, gamma="scale").fit(xs, (y[:200] == k - 1).astype(float))
    unit = head.portable().units[-1]
    expected = reference.decision_function(((x[200:] - x[:200].mean(0)) / x[:200].std(0)).astype(np.float32))
    assert np.abs(unit.predict(x[200:]) - expected).max() < 1e-4
    head.feature_sets = ["embedding"]
    head.save(str(tmp_path / "svc.npz"))
    loaded = load_portable(tmp_path / "svc.npz")
    assert isinstance(loaded, PortableSVC) and loaded.feature_sets == ["embedding"]
    assert np.abs(loaded.predict(x[200:]) - probs).max() < 1e-12
    with np.load(tmp_path / "svc.npz", allow_pickle=False) as npz:
        assert all(npz[key].dtype != object for key in npz.files)
