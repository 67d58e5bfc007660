"""Forecasting: predict a price's return 5 steps ahead from its last 40 returns.

The series is synthetic (cycles whose period and size change by regime, mean reversion,
noise). Windows are split in time order, so the test period comes after the training one.
Predicting "no change" (persistence) scores R^2 = 0; a linear model is the baseline to beat.
"""

from sklearn.linear_model import Ridge

from pyrnn import RNNRegressor
from pyrnn.datasets import make_forecasting_windows, make_price_series

prices = make_price_series(6000, random_state=0)
X, y = make_forecasting_windows(prices, window=40, horizon=5)  # X: (n, 40, 1), y: (n,)
split = int(0.8 * len(X))

reg = RNNRegressor(
    cell="lstm", hidden_size=64, max_epochs=15, learning_rate=0.005, random_state=0, verbose=1
)
reg.fit(X[:split], y[:split])

linear = Ridge().fit(X[:split, :, 0], y[:split])
print(
    f"test R^2: LSTM {reg.score(X[split:], y[split:]):.3f}, "
    f"linear {linear.score(X[split:, :, 0], y[split:]):.3f}"
)
print("last forecasts (%):", reg.predict(X[-3:]).round(2), "actual:", y[-3:].round(2))
