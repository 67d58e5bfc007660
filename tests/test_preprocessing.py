"""SequenceScaler: per-channel statistics over all steps, every input kind, Pipeline, checks."""

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from pyrnn.preprocessing import SequenceScaler


@parametrize_with_checks([SequenceScaler(), SequenceScaler(with_mean=False)])
def test_sklearn_checks(estimator, check):
    check(estimator)


def test_3d_array_per_channel_over_all_steps():
    rng = np.random.default_rng(0)
    X = rng.normal([1.0, -5.0, 100.0], [0.5, 2.0, 30.0], size=(20, 15, 3))
    sc = SequenceScaler().fit(X)
    np.testing.assert_allclose(sc.mean_, X.reshape(-1, 3).mean(0))
    np.testing.assert_allclose(sc.scale_, X.reshape(-1, 3).std(0))
    Z = sc.transform(X)
    assert Z.shape == X.shape and Z.dtype == X.dtype
    np.testing.assert_allclose(Z.reshape(-1, 3).mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(Z.reshape(-1, 3).std(0), 1, atol=1e-12)
    np.testing.assert_allclose(sc.inverse_transform(Z), X)
    assert sc.n_features_in_ == 3 and sc.n_samples_seen_ == 300


def test_nct_layout_equals_ntc_transposed():
    X = np.random.default_rng(1).normal(3, 2, size=(6, 4, 50)).astype(np.float32)
    a = SequenceScaler(layout="NCT").fit_transform(X)
    b = SequenceScaler().fit_transform(X.transpose(0, 2, 1)).transpose(0, 2, 1)
    assert a.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_variable_length_list_uses_only_real_steps():
    rng = np.random.default_rng(2)
    seqs = [rng.normal(5, 3, size=(L, 2)) for L in (3, 10, 7)]
    sc = SequenceScaler().fit(seqs)
    steps = np.concatenate(seqs)
    np.testing.assert_allclose(sc.mean_, steps.mean(0))
    out = sc.transform(seqs)
    assert isinstance(out, list) and [o.shape for o in out] == [s.shape for s in seqs]
    np.testing.assert_allclose(np.concatenate(out).std(0), 1)
    uni = [s[:, 0] for s in seqs]  # 1-D sequences come back 1-D
    assert [o.shape for o in SequenceScaler().fit_transform(uni)] == [(3,), (10,), (7,)]


def test_2d_is_univariate_and_constant_channel_is_kept():
    X = np.arange(12.0).reshape(3, 4)
    sc = SequenceScaler().fit(X)
    assert sc.n_channels_ == 1 and sc.n_features_in_ == 4
    np.testing.assert_allclose(sc.mean_, [5.5])
    const = np.ones((2, 5, 2))
    np.testing.assert_array_equal(SequenceScaler().fit_transform(const), np.zeros_like(const))


def test_in_pipeline_with_an_estimator():
    from pyrnn import RNNRegressor

    rng = np.random.default_rng(3)
    X = rng.normal(50, 20, size=(16, 6, 2))
    y = X[:, -1, 0]
    pipe = make_pipeline(
        SequenceScaler(), RNNRegressor(hidden_size=4, max_epochs=2, random_state=0)
    )
    pipe.fit(X, y)
    assert pipe.predict(X).shape == (16,)
    assert pipe[0].mean_.shape == (2,)


def test_bad_input():
    sc = SequenceScaler().fit(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="expecting 4 channels"):
        sc.transform(np.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match="fitted on array input, got tabular"):
        sc.transform(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="layout must be"):
        SequenceScaler(layout="TNC").fit(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="empty sequence"):
        SequenceScaler().fit([np.zeros((2, 1)), np.zeros((0, 1))])
