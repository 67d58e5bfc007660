"""Multi-step forecasts: pyrnn's RNNForecaster against statsmodels' AutoReg and ARIMA.

On series statsmodels ships (yearly sunspots; monthly El Nino sea surface temperatures),
each model is fitted once on the first 80% of the series and then forecasts ``horizon``
steps ahead from every origin in the last 20% (rolling origin, the models' parameters fixed,
the history growing). Printed: RMSE by method, averaged over all origins and steps, the
coverage of the 90% intervals (RNNForecaster: residual bootstrap, and quantile outputs
trained with the pinball loss; ARIMA: its Gaussian intervals), and the fit time.

    python -m pip install ".[bench]"
    python benchmarks/forecast.py                 # ~2 min on 2 cores
"""

import argparse
import sys
import time

import numpy as np


def sunspots():
    import statsmodels.api as sm

    return sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].values.astype(float), 11


def elnino():
    import statsmodels.api as sm

    d = sm.datasets.elnino.load_pandas().data
    return d.drop(columns="YEAR").values.reshape(-1).astype(float), 12


SERIES = {"sunspots": sunspots, "elnino": elnino}


def origins_of(n, split, horizon):
    return range(split, n - horizon + 1)


def evaluate(name, horizon, threads):
    import pyrnn
    from statsmodels.tsa.ar_model import AutoReg
    from statsmodels.tsa.arima.model import ARIMA
    from pyrnn.forecasting import RNNForecaster

    pyrnn.set_num_threads(threads)
    y, season = SERIES[name]()
    split = int(0.8 * len(y))
    mean, std = y[:split].mean(), y[:split].std()
    z = (y - mean) / std
    lags = 2 * season
    rows = []

    def score(forecast_fn, interval_fn=None):
        errs, covered = [], []
        for t in origins_of(len(z), split, horizon):
            truth = z[t : t + horizon]
            errs.append(forecast_fn(z[:t]) - truth)
            if interval_fn is not None:
                lo, hi = interval_fn(z[:t])
                covered.append((lo <= truth) & (truth <= hi))
        rmse = float(np.sqrt(np.mean(np.square(errs)))) * std
        cover = float(np.mean(covered)) if covered else float("nan")
        return rmse, cover

    for strategy, interval, calibration in (
        ("direct", "bootstrap", None),
        ("direct", "bootstrap", 0.3),
        ("recursive", "bootstrap", None),
        ("recursive", "bootstrap", 0.3),
        ("direct", "quantile", None),
    ):
        f = RNNForecaster(
            horizon=horizon,
            window=lags,
            strategy=strategy,
            interval=interval,
            calibration=calibration,
            random_state=0,
        )
        t0 = time.perf_counter()
        f.fit(z[:split])
        fit_s = time.perf_counter() - t0
        rmse, cover = score(
            lambda h, f=f: f.predict(y_history=h),
            lambda h, f=f: f.predict_interval(y_history=h, coverage=0.9),
        )
        held = f", calibration={calibration}" if calibration else ""
        rows.append((f"RNNForecaster ({strategy}, {interval} intervals{held})", rmse, cover, fit_s))

    t0 = time.perf_counter()
    ar = AutoReg(z[:split], lags=lags, trend="c").fit()
    fit_s = time.perf_counter() - t0

    def ar_forecast(h):
        r = ar.apply(h)
        return r.predict(start=len(h), end=len(h) + horizon - 1)

    rows.append((f"AutoReg({lags})", *score(ar_forecast), fit_s))

    t0 = time.perf_counter()
    order = (2, 0, 1) if name == "sunspots" else (1, 0, 1)
    seasonal = (0, 0, 0, 0) if name == "sunspots" else (1, 0, 1, season)
    arima = ARIMA(z[:split], order=order, seasonal_order=seasonal).fit()
    fit_s = time.perf_counter() - t0

    def arima_forecast(h):
        return arima.apply(h).forecast(horizon)

    def arima_interval(h):
        ci = arima.apply(h).get_forecast(horizon).conf_int(alpha=0.1)
        return ci[:, 0], ci[:, 1]

    rows.append((f"ARIMA{order}x{seasonal}", *score(arima_forecast, arima_interval), fit_s))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", default=",".join(SERIES))
    ap.add_argument("--horizon", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    print("| series | method | RMSE | 90% interval coverage | fit s |\n|---|---|---|---|---|")
    for name in args.series.split(","):
        for method, rmse, cover, fit_s in evaluate(name, args.horizon, args.threads):
            cov = "-" if np.isnan(cover) else f"{cover:.2f}"
            print(
                f"| {name} (h={args.horizon}) | {method} | {rmse:.3f} | {cov} | {fit_s:.1f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
