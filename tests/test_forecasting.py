"""RNNForecaster: windows and strategies on hand-computed cases, exogenous inputs, intervals,
agreement with statsmodels' AutoReg for a linear regressor, the default RNN regressor."""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from pyrnn.forecasting import RNNForecaster, make_windows, window_inputs


def flatten(X):
    return X.reshape(len(X), -1)


def linear():
    """A regressor over 3-D windows: ordinary least squares on the flattened window."""
    return make_pipeline(FunctionTransformer(flatten), LinearRegression())


def ar1_series(n=30):
    y = np.zeros(n)
    for t in range(1, n):
        y[t] = 0.5 * y[t - 1] + 1.0
    return y


def test_make_windows_hand_computed():
    y = np.arange(5.0)
    X = 10 * np.arange(5.0)[:, None]
    inputs, targets = make_windows(y, None, 2, 2, "direct")
    np.testing.assert_array_equal(inputs[..., 0], [[0, 1], [1, 2]])
    np.testing.assert_array_equal(targets, [[2, 3], [3, 4]])
    inputs, targets = make_windows(y, X, 2, 2, "direct")  # step s carries X[s+1], X[s+2]
    np.testing.assert_array_equal(inputs[0], [[0, 10, 20], [1, 20, 30]])
    inputs, targets = make_windows(y, X, 2, 2, "recursive")  # one-step targets, X[s+1]
    np.testing.assert_array_equal(inputs[:, :, 1], [[10, 20], [20, 30], [30, 40]])
    np.testing.assert_array_equal(targets, [[2], [3], [4]])


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_ar1_forecast_by_hand(strategy):
    y = ar1_series()
    f = RNNForecaster(horizon=3, window=1, strategy=strategy, regressor=linear()).fit(y)
    v = y[-1]
    expected = [0.5 * v + 1, 0.25 * v + 1.5, 0.125 * v + 1.75]
    np.testing.assert_allclose(f.predict(), expected, rtol=1e-10)
    # from another history: the last value 4 -> 3, 2.5, 2.25
    np.testing.assert_allclose(f.predict(y_history=[0.0, 4.0]), [3, 2.5, 2.25], rtol=1e-10)
    lo, hi = f.predict_interval(coverage=0.8)  # exact fit: zero residuals, zero width
    np.testing.assert_allclose(lo, expected, atol=1e-8)
    np.testing.assert_allclose(hi, expected, atol=1e-8)


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_exogenous_known_in_the_future(strategy):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(40)
    y = 2.0 * x
    f = RNNForecaster(horizon=2, window=1, strategy=strategy, regressor=linear())
    f.fit(y, x[:, None])
    future = np.array([[0.3], [-1.2]])
    np.testing.assert_allclose(f.predict(future), [0.6, -2.4], atol=1e-10)
    with pytest.raises(ValueError, match=r"X_future of shape \(2, 1\)"):
        f.predict()


def test_recursive_equals_statsmodels_autoreg():
    sm = pytest.importorskip("statsmodels.api")
    from statsmodels.tsa.ar_model import AutoReg

    y = sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].values[:250]
    lags, h = 9, 12
    ar = AutoReg(y, lags=lags, trend="c").fit()
    expected = ar.predict(start=len(y), end=len(y) + h - 1)
    f = RNNForecaster(horizon=h, window=lags, strategy="recursive", regressor=linear()).fit(y)
    np.testing.assert_allclose(f.predict(), expected, rtol=1e-8)


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_intervals_cover_a_noisy_ar1(strategy):
    rng = np.random.default_rng(1)
    n = 3000
    y = np.zeros(n + 5)
    for t in range(1, n + 5):
        y[t] = 0.7 * y[t - 1] + rng.standard_normal()
    f = RNNForecaster(
        horizon=5, window=2, strategy=strategy, regressor=linear(), n_paths=2000, random_state=0
    ).fit(y[:n])
    lo, hi = f.predict_interval(coverage=0.9)
    point = f.predict()
    assert np.all(lo < point) and np.all(point < hi)
    # the 90% half-width of the k-step AR(1) error: 1.645 * sqrt(sum 0.49**j, j < k)
    sd = np.sqrt(np.cumsum(0.49 ** np.arange(5)))
    np.testing.assert_allclose((hi - lo) / 2, 1.645 * sd, rtol=0.12)


def test_default_rnn_regressor():
    y = np.sin(np.arange(120) / 4.0)
    from pyrnn import RNNRegressor

    f = RNNForecaster(
        horizon=4, window=12, regressor=RNNRegressor(hidden_size=8, max_epochs=3, random_state=0)
    )
    f.fit(y)
    assert f.predict().shape == (4,)
    assert f.residuals_.shape == (120 - 12 - 4 + 1, 4)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(horizon=0), "horizon must be an int >= 1"),
        (dict(strategy="multi"), "strategy must be"),
        (dict(window=200), "need at least"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RNNForecaster(regressor=linear(), **kwargs).fit(np.arange(50.0))


def test_bad_series():
    with pytest.raises(ValueError, match="one series"):
        RNNForecaster(regressor=linear()).fit(np.zeros((40, 2)))
    with pytest.raises(ValueError, match="NaN"):
        RNNForecaster(regressor=linear()).fit(np.r_[np.arange(40.0), np.nan])
    f = RNNForecaster(window=3, regressor=linear()).fit(np.arange(40.0))
    with pytest.raises(ValueError, match="without exogenous"):
        f.predict(np.zeros((1, 1)))
    with pytest.raises(ValueError, match="coverage"):
        f.predict_interval(coverage=1.5)


def noisy_ar1(n, seed):
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    for t in range(1, n):
        y[t] = 0.7 * y[t - 1] + rng.standard_normal()
    return y


def test_quantile_intervals_cover_held_out_data():
    """interval='quantile': 90% nominal intervals of a noisy AR(1) hold 80..97% of a long
    held-out stretch, at every horizon; quantiles never cross."""
    from pyrnn import RNNRegressor

    y = noisy_ar1(3000, 2)
    train, test = y[:1500], y[1500:]
    reg = RNNRegressor(hidden_size=8, max_epochs=15, batch_size=64, random_state=0)
    f = RNNForecaster(horizon=2, window=3, regressor=reg, interval="quantile", random_state=0)
    f.fit(train)
    assert f.regressor_.quantiles_.tolist() == [0.05, 0.95]
    inputs, targets = make_windows(test, None, 3, 2, "direct")
    q = f.regressor_.predict_quantiles(inputs)  # (m, horizon, 2)
    assert q.shape == (len(inputs), 2, 2) and np.all(q[..., 0] <= q[..., 1])
    covered = np.mean((targets >= q[..., 0]) & (targets <= q[..., 1]), axis=0)
    assert np.all((0.80 <= covered) & (covered <= 0.97)), covered
    lo, hi = f.predict_interval(coverage=0.9)  # from the end of the training series
    end = window_inputs(train, None, np.array([len(train) - 1]), 3, 2, "direct")
    np.testing.assert_allclose(np.stack([lo, hi], 1), f.regressor_.predict_quantiles(end)[0])
    assert np.all(lo < f.predict()) and np.all(f.predict() < hi)
    assert lo.shape == hi.shape == (2,)
    with pytest.raises(ValueError, match="needs the levels 0.1 and 0.9"):
        f.predict_interval(coverage=0.8)


def test_quantile_interval_bad_settings():
    y = noisy_ar1(60, 3)
    with pytest.raises(ValueError, match="interval='quantile' needs strategy='direct'"):
        RNNForecaster(strategy="recursive", interval="quantile").fit(y)
    with pytest.raises(ValueError, match="a regressor with a 'quantiles' parameter"):
        RNNForecaster(window=2, regressor=linear(), interval="quantile").fit(y)
    with pytest.raises(ValueError, match="interval must be"):
        RNNForecaster(interval="conformal").fit(y)


def test_regressor_quantile_outputs():
    """RNNRegressor(quantiles=...): one extra output per target and level, sorted; the mean
    outputs alone make predict; 2-D targets give (n, n_outputs, n_quantiles)."""
    from pyrnn import RNNRegressor

    rng = np.random.default_rng(4)
    X = rng.standard_normal((64, 5, 2)).astype(np.float32)
    Y = np.stack([X[:, -1, 0], X[:, 0, 1]], 1) + 0.3 * rng.standard_normal((64, 2))
    reg = RNNRegressor(hidden_size=4, max_epochs=3, quantiles=[0.9, 0.1, 0.5], random_state=0)
    reg.fit(X, Y)
    assert reg.quantiles_.tolist() == [0.1, 0.5, 0.9]
    assert reg.head_.out_features == 2 * (1 + 3)
    q = reg.predict_quantiles(X)
    assert q.shape == (64, 2, 3) and np.all(np.diff(q, axis=2) >= 0)
    assert reg.predict(X).shape == (64, 2)
    assert reg.score(X, Y) == pytest.approx(
        RNNRegressor(hidden_size=4, max_epochs=3, quantiles=[0.9, 0.1, 0.5], random_state=0)
        .fit(X, Y)
        .score(X, Y)
    )
    one = RNNRegressor(hidden_size=4, max_epochs=1, quantiles=(0.2,), random_state=0)
    assert one.fit(X, Y[:, 0]).predict_quantiles(X).shape == (64, 1)
    with pytest.raises(ValueError, match="predict_quantiles needs a model fitted with"):
        RNNRegressor(hidden_size=4, max_epochs=1).fit(X, Y).predict_quantiles(X)


@pytest.mark.parametrize("levels", [(0.5, 1.0), (0.0,), (0.3, 0.3), "0.5", [[0.1, 0.2]]])
def test_regressor_bad_quantiles(levels):
    from pyrnn import RNNRegressor

    X = np.zeros((8, 3, 1), np.float32)
    with pytest.raises(ValueError, match="'quantiles' parameter must be a sequence of distinct"):
        RNNRegressor(quantiles=levels).fit(X, np.zeros(8))


def test_calibration_gives_the_residuals_of_held_out_windows():
    # A linear model does not overfit: held-out residuals give the same widths as in-sample
    # ones, the k-step AR(1) error's 90% half-width.
    y = noisy_ar1(3000, seed=1)
    f = RNNForecaster(horizon=5, window=2, regressor=linear(), calibration=0.4, random_state=0).fit(
        y
    )
    n_windows = 3000 - 2 - 5 + 1
    assert f.residuals_.shape == (round(0.4 * n_windows), 5)
    lo, hi = f.predict_interval(coverage=0.9)
    sd = np.sqrt(np.cumsum(0.49 ** np.arange(5)))
    np.testing.assert_allclose((hi - lo) / 2, 1.645 * sd, rtol=0.15)
    # the final model is fitted on every window: the same as without calibration
    plain = RNNForecaster(horizon=5, window=2, regressor=linear()).fit(y)
    np.testing.assert_allclose(f.predict(), plain.predict())


def test_calibration_mends_the_coverage_of_an_overfitting_model():
    # One nearest neighbour reproduces every training window: in-sample residuals are all 0
    # and the intervals empty; residuals of held-out windows cover new data about as asked.
    from sklearn.neighbors import KNeighborsRegressor

    knn = make_pipeline(FunctionTransformer(flatten), KNeighborsRegressor(n_neighbors=1))
    y = noisy_ar1(2600, seed=3)
    train, test = y[:2000], y[2000:]
    inside = RNNForecaster(window=3, regressor=knn).fit(train)
    assert not np.any(inside.residuals_)
    held = RNNForecaster(window=3, regressor=knn, calibration=0.3, random_state=0).fit(train)
    covered = []
    for t in range(3, len(test)):
        lo, hi = held.predict_interval(coverage=0.9, y_history=test[:t])
        covered.append(lo[0] <= test[t] <= hi[0])
    assert 0.82 <= np.mean(covered) <= 0.97


@pytest.mark.parametrize("value", [0, 0.6, -0.1, True, "0.2", np.nan])
def test_bad_calibration(value):
    with pytest.raises(ValueError, match="calibration must be None or a fraction"):
        RNNForecaster(regressor=linear(), calibration=value).fit(np.arange(50.0))


def test_calibration_needs_bootstrap_and_enough_windows():
    with pytest.raises(ValueError, match="calibration applies to interval='bootstrap'"):
        RNNForecaster(interval="quantile", calibration=0.2).fit(np.arange(60.0))
    with pytest.raises(ValueError, match="no window to fit|too few training windows"):
        RNNForecaster(window=3, horizon=2, regressor=linear(), calibration=0.5).fit(np.arange(6.0))
