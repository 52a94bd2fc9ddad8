"""The kernel head (pawpipe.heads.kernel): its backend, the SVR and the calibrated SVCs of every task
type, the portable arrays they predict from (pawpipe.heads.portable), and cuML against scikit-learn
(marked gpu: on a CUDA machine with RAPIDS)."""

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from conftest import svr_config
from pawpipe.heads.backend import choose_backend, cuml_status, make_estimator
from pawpipe.heads.kernel import KernelHead, KernelSpec
from pawpipe.heads.portable import Kernel, KernelFileError, PortableKernel, Unit, load_kernel_head

SVR = KernelSpec("svr", "value", "identity")


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
    """The GPU slot and the backend come from one rule (heads.backend.svr_backend): with cuML installed, a job
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


def sklearn_svr(x, y, **cfg):
    """scikit-learn's SVR on StandardScaler's features: the reference the SVR head is checked against."""
    from sklearn.svm import SVR as Reference

    scaler = StandardScaler().fit(x)
    settings = {"C": 20, "epsilon": 1.0, **cfg}
    return scaler, Reference(**settings).fit(scaler.transform(x).astype(np.float32), y.astype(np.float32))


def test_the_svr_head_learns_signal_on_unscaled_features():
    x, y = signal_problem()
    pred = KernelHead("sklearn", svr_config(C=20, epsilon=1.0), SVR).fit(x[:200], y[:200]).predict(x[200:])
    rmse = np.sqrt(np.mean((pred - y[200:]) ** 2))
    baseline = np.sqrt(np.mean((y[:200].mean() - y[200:]) ** 2))
    assert pred.dtype == np.float64 and pred.shape == (100,)
    assert rmse < 0.6 * baseline


def test_the_standardisation_is_scikit_learns():
    """pawpipe.frames.standardise runs on numpy or CuPy; on numpy it must equal StandardScaler,
    a constant column included (its scale stays 1)."""
    from pawpipe.frames import host_lib, standardise

    x, _ = signal_problem()
    x[:, 2] = 3.0
    mean, scale, (fit, other) = standardise(host_lib(), x[:200], x[200:])
    ref = StandardScaler().fit(x[:200])
    assert np.allclose(mean, ref.mean_) and np.allclose(scale, ref.scale_) and scale[2] == 1.0
    assert np.allclose(other, ref.transform(x[200:]).astype(np.float32), atol=1e-6)


@pytest.mark.parametrize("kernel", ["rbf", "linear", "poly", "sigmoid"])
def test_the_portable_svr_predicts_like_scikit_learn(tmp_path, kernel):
    x, y = signal_problem()
    scaler, reference = sklearn_svr(x[:200], y[:200], kernel=kernel)
    expected = reference.predict(scaler.transform(x[200:]).astype(np.float32))
    head = KernelHead("sklearn", svr_config(C=20, epsilon=1.0, kernel=kernel), SVR).fit(x[:200], y[:200])
    head.feature_sets = ["embedding", "metadata"]
    head.save(str(tmp_path / "svr.npz"))
    loaded = load_kernel_head(tmp_path / "svr.npz")
    assert np.abs(loaded.predict(x[200:]) - expected).max() < 1e-4
    assert np.abs(head.predict(x[200:]) - expected).max() < 1e-4  # the pipeline predicts through the same arrays
    assert loaded.feature_sets == ["embedding", "metadata"] and loaded.meta["backend"] == "sklearn"
    with np.load(tmp_path / "svr.npz", allow_pickle=False) as npz:  # plain arrays only: nothing to unpickle
        assert all(npz[k].dtype != object for k in npz.files)


def test_the_portable_head_refuses_pickles_foreign_and_older_files(tmp_path):
    (tmp_path / "svr.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(KernelFileError, match=r"svr\.pkl: a pickled SVR.*Rerun the svr stage"):
        load_kernel_head(tmp_path / "svr.pkl")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(KernelFileError, match=r"other\.npz: not a pawpipe kernel head file"):
        load_kernel_head(tmp_path / "other.npz")
    np.savez(tmp_path / "old.npz", header=np.array('{"format": "pawpipe-svr/1"}'), mean=np.zeros(2))
    with pytest.raises(KernelFileError, match=r"old\.npz: format 'pawpipe-svr/1' \(written by an earlier.*svr stage"):
        load_kernel_head(tmp_path / "old.npz")


def test_a_head_from_cuml_attributes_predicts_without_cuml(tmp_path):
    """What cuML's SVR exposes after a fit (support_vectors_, dual_coef_ as (1, n), intercept_ as an array,
    gamma as 'scale' without _gamma) makes a file that predicts like the estimator it came from."""
    x, y = signal_problem()
    scaler, fitted = sklearn_svr(x[:200], y[:200])

    class CumlLike:  # the attribute shapes of cuml.svm.SVR, filled from an equal scikit-learn fit
        kernel, gamma, degree, coef0 = "rbf", "scale", 3, 0.0
        support_vectors_ = fitted.support_vectors_
        dual_coef_ = fitted.dual_coef_.reshape(1, -1)
        intercept_ = np.asarray([fitted.intercept_[0]])

    kernel = Kernel.from_fitted(CumlLike(), x.shape[1], scaler.var_)
    assert kernel.gamma == pytest.approx(fitted._gamma, rel=1e-6)
    PortableKernel(scaler.mean_, scaler.scale_, kernel, [Unit.from_fitted(CumlLike())]).save(tmp_path / "svr.npz")
    expected = fitted.predict(scaler.transform(x[200:]).astype(np.float32))
    assert np.abs(load_kernel_head(tmp_path / "svr.npz").predict(x[200:]) - expected).max() < 1e-4


def test_a_cuml_fitted_file_predicts_on_a_machine_without_cupy(tmp_path, monkeypatch):
    """svr.npz records the backend that fitted it; loading it must not then need that backend's arrays."""
    import sys

    x, y = signal_problem()
    head = KernelHead("sklearn", svr_config(C=20, epsilon=1.0), SVR).fit(x[:200], y[:200])
    head.portable.meta["backend"] = "cuml"  # as written by a GPU run
    head.save(str(tmp_path / "svr.npz"))
    expected = head.predict(x[200:])
    monkeypatch.setitem(sys.modules, "cupy", None)  # this machine has no CuPy: `import cupy` fails
    loaded = load_kernel_head(tmp_path / "svr.npz")
    assert loaded.meta["backend"] == "cuml" and np.abs(loaded.predict(x[200:]) - expected).max() == 0


def test_the_estimators_take_every_setting_of_the_config():
    cfg = svr_config(C=3.0, epsilon=0.5, kernel="poly", gamma=0.25, cache_size=64)
    model = make_estimator("svr", "sklearn", cfg)
    assert (model.C, model.epsilon, model.kernel, model.gamma, model.cache_size) == (3.0, 0.5, "poly", 0.25, 64)
    svc = make_estimator("svc", "sklearn", cfg)
    assert (svc.C, svc.kernel, svc.gamma, svc.cache_size) == (3.0, "poly", 0.25, 64)


def test_a_multitarget_head_fits_an_svr_per_standardised_target():
    """Targets of very different scales: each is standardised, so one epsilon (in standard deviations)
    fits both, and predictions come back on each target's own scale."""
    x, y1 = signal_problem(400)
    y = np.stack([y1, 1000 + 300 * x[:, 1] / x[:, 1].std()], axis=1)
    head = KernelHead("sklearn", svr_config(C=20, epsilon=0.1), KernelSpec("svr", "columns", "affine", 2))
    pred = head.fit(x[:300], y[:300]).predict(x[300:])
    assert pred.shape == (100, 2) and len(head.portable.units) == 2
    for k in range(2):
        rmse, spread = np.sqrt(np.mean((pred[:, k] - y[300:, k]) ** 2)), y[300:, k].std()
        assert rmse < 0.6 * spread, k


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

    x, y = classes_problem(k=k)
    head = KernelHead("sklearn", svr_config(C=20), KernelSpec("svc", "classes", "softmax", k)).fit(x[:200], y[:200])
    probs = head.predict(x[200:])
    assert probs.shape == ((100,) if k == 2 else (100, 3))
    if k == 3:
        assert np.allclose(probs.sum(1), 1) and (probs.argmax(1) == y[200:]).mean() > 0.5  # chance: 0.33
    else:
        assert ((probs > 0.5) == y[200:]).mean() > 0.85
    prior = np.bincount(y[:200]) / 200
    assert log_loss(y[200:], probs) < log_loss(y[200:], np.tile(prior, (100, 1)) if k == 3 else np.full(100, prior[1]))
    # The last unit is the positive class (binary) or the last class against the rest, as scikit-learn fits it.
    scaler = StandardScaler().fit(x[:200])
    reference = SVC(C=20, gamma="scale").fit(scaler.transform(x[:200]), (y[:200] == k - 1).astype(float))
    expected = reference.decision_function(scaler.transform(x[200:]).astype(np.float32))
    assert np.abs(head.portable.values(x[200:])[:, -1] - expected).max() < 1e-4
    head.feature_sets = ["embedding"]
    head.save(str(tmp_path / "svc.npz"))
    loaded = load_kernel_head(tmp_path / "svc.npz")
    assert loaded.output == "softmax" and loaded.feature_sets == ["embedding"]
    assert np.abs(loaded.predict(x[200:]) - probs).max() < 1e-12
    with np.load(tmp_path / "svc.npz", allow_pickle=False) as npz:
        assert all(npz[key].dtype != object for key in npz.files)


def test_a_multilabel_head_calibrates_a_classifier_per_label():
    """Two labels, one carried by feature 0 and one by feature 1: a calibrated sigmoid per label, each
    far better than its label's frequency."""
    from pawpipe.metrics import log_loss

    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 6)).astype(np.float32)
    y = np.stack([(x[:, 0] > 0.3), (x[:, 1] + 0.3 * rng.normal(size=400) < -0.2)], axis=1).astype(int)
    head = KernelHead("sklearn", svr_config(C=5), KernelSpec("svc", "labels", "sigmoid", 2)).fit(x[:300], y[:300])
    probs = head.predict(x[300:])
    assert probs.shape == (100, 2) and ((probs >= 0) & (probs <= 1)).all()
    for j in range(2):
        prior = np.full(100, y[:300, j].mean())
        assert log_loss(y[300:, j], probs[:, j]) < 0.7 * log_loss(y[300:, j], prior), j


def test_a_soft_label_head_predicts_distributions_calibrated_on_the_shares():
    from pawpipe.metrics import kl_divergence

    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 6)).astype(np.float32)
    logits = np.stack([2 * x[:, 0], -2 * x[:, 0], np.zeros(400)], axis=1)
    shares = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    head = KernelHead("sklearn", svr_config(C=5), KernelSpec("svc", "argmax", "softmax", 3)).fit(x[:300], shares[:300])
    probs = head.predict(x[300:])
    assert probs.shape == (100, 3) and np.allclose(probs.sum(1), 1)
    assert kl_divergence(shares[300:], probs) < 0.5 * kl_divergence(
        shares[300:], np.tile(shares[:300].mean(0), (100, 1))
    )


@pytest.mark.gpu
def test_cuml_svr_matches_sklearn():
    ok, why = cuml_status()
    if not ok:
        pytest.skip(why)
    x, y = signal_problem(2000, 64)
    cfg = svr_config(C=20, epsilon=1.0)
    a = KernelHead("cuml", cfg, SVR).fit(x[:1500], y[:1500]).predict(x[1500:])
    b = KernelHead("sklearn", cfg, SVR).fit(x[:1500], y[:1500]).predict(x[1500:])
    assert np.sqrt(np.mean((a - b) ** 2)) < 0.05


@pytest.mark.gpu
def test_the_portable_head_matches_cuml_on_the_gpu(tmp_path):
    """On a CUDA GPU: the saved arrays predict what cuML's estimator predicts, with numpy on the host and
    with torch on the device (the notebook's path) alike."""
    ok, why = cuml_status()
    if not ok:
        pytest.skip(why)
    import cupy as cp

    x, y = signal_problem(2000, 64)
    head = KernelHead("cuml", svr_config(C=20, epsilon=1.0), SVR).fit(x[:1500], y[:1500])
    model = make_estimator("svr", "cuml", svr_config(C=20, epsilon=1.0))
    scaler = StandardScaler().fit(x[:1500])
    model.fit(cp.asarray(scaler.transform(x[:1500]), dtype=cp.float32), cp.asarray(y[:1500], dtype=cp.float32))
    expected = cp.asnumpy(model.predict(cp.asarray(scaler.transform(x[1500:]), dtype=cp.float32)))
    head.save(str(tmp_path / "svr.npz"))
    portable = load_kernel_head(tmp_path / "svr.npz")
    assert np.abs(portable.predict(x[1500:]) - expected).max() < 1e-2  # cuML computes in float32
    assert np.abs(portable.predict(x[1500:], device="cuda") - portable.predict(x[1500:])).max() < 1e-6


@pytest.mark.gpu
@pytest.mark.parametrize("k", [2, 4])
def test_the_cuml_svc_head_agrees_with_scikit_learns(k):
    """The classification head fitted by cuML (float32) and by scikit-learn (libsvm, float64) on the same
    data: probabilities within 0.05, and the same label wherever scikit-learn's top two classes are more
    than 0.05 apart (near-ties may fall either way)."""
    ok, why = cuml_status()
    if not ok:
        pytest.skip(why)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1200, 16)).astype(np.float32)
    y = np.digitize(x[:, 0] + 0.5 * rng.normal(size=1200), np.linspace(-1, 1, k - 1)) if k > 2 else (x[:, 0] > 0.5)
    spec, cfg = KernelSpec("svc", "classes", "softmax", k), svr_config(C=5)
    a = KernelHead("cuml", cfg, spec).fit(x[:1000], y[:1000].astype(int)).predict(x[1000:])
    b = KernelHead("sklearn", cfg, spec).fit(x[:1000], y[:1000].astype(int)).predict(x[1000:])
    assert np.abs(a - b).max() < 0.05
    pa, pb = (np.stack([1 - a, a], 1), np.stack([1 - b, b], 1)) if k == 2 else (a, b)
    top2 = np.sort(pb, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 0.05
    assert (pa.argmax(1) == pb.argmax(1))[clear].all()
