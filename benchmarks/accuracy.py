"""Default-settings accuracy and fit time: pyrnn's estimators against a plain PyTorch loop.

What a new user gets: each data set (shipped inside an installable package, no download) is
fitted by a pyrnn estimator at its DEFAULT settings (only ``random_state`` set) and by a
plain PyTorch model of the same size and settings, in the same run, on the same threads:
same cell, hidden size, layers, direction, PyTorch's default initialization (which pyrnn's
is), optimizer, batch size, gradient clipping, pyrnn's learning-rate rules (linear warm-up,
then ReduceLROnPlateau on the training loss) and its best-epoch restore, for as many epochs
as pyrnn ran. Each data set runs for several seeds (``random_state`` of pyrnn, the manual
seed of PyTorch); the table shows the means, and the scores of each seed. Test accuracy, or
R^2 for forecasting; fit time in seconds. Saved as JSON in benchmarks/results/.

    python -m pip install ".[bench]"      # aeon, statsmodels, torch
    python benchmarks/accuracy.py          # all data sets, 1 thread
    python benchmarks/accuracy.py --datasets GunPoint,sunspots --seeds 0

Data sets: aeon's bundled UCR/UEA archives (GunPoint, ItalyPowerDemand, ArrowHead,
BasicMotions: their own train/test splits), scikit-learn's digits read as 8 steps of 8
pixels, and statsmodels' sunspots and CO2 series as one-step-ahead forecasting from windows
(the first 80% of the series to train, the rest to test).
"""

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- data sets


def _aeon(name):
    def load():
        from aeon.datasets import load_classification

        Xtr, ytr = load_classification(name, split="train")
        Xte, yte = load_classification(name, split="test")
        # aeon writes (n, channels, T); the estimators read (n, T, channels)
        return (
            np.ascontiguousarray(Xtr.transpose(0, 2, 1), np.float32),
            ytr,
            np.ascontiguousarray(Xte.transpose(0, 2, 1), np.float32),
            yte,
        )

    return load


def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 8, 8).astype(np.float32)  # 8 rows = 8 steps of 8 pixels
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    return Xtr, ytr, Xte, yte


def windows(series, width):
    """(X (n, width, 1), y (n,)) of a 1-D series: each window and the value after it."""
    s = np.asarray(series, np.float64)
    idx = np.arange(width)[None, :] + np.arange(len(s) - width)[:, None]
    return s[idx][:, :, None].astype(np.float32), s[width:].astype(np.float32)


def _forecast(series, width):
    s = np.asarray(series, np.float64)
    split = int(0.8 * len(s))
    mean, std = s[:split].mean(), s[:split].std()  # scaled by the training part only
    X, y = windows((s - mean) / std, width)
    n_train = split - width
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _sunspots():
    import statsmodels.api as sm

    return _forecast(sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].values, 20)


def _co2():
    import statsmodels.api as sm

    co2 = sm.datasets.co2.load_pandas().data["co2"]
    monthly = co2.resample("MS").mean().interpolate().values
    return _forecast(np.diff(monthly), 24)  # month-to-month changes (the level trends)


# name: (task, loader, seeds run by default). The UCR/UEA sets have 36..67 training series
# and 40..175 test series, where one seed's score moves by several points: 3 seeds each. The
# larger sets move little from seed to seed and cost the most time: 1 seed.
DATASETS = {
    "GunPoint": ("classify", _aeon("GunPoint"), 3),
    "ItalyPowerDemand": ("classify", _aeon("ItalyPowerDemand"), 3),
    "ArrowHead": ("classify", _aeon("ArrowHead"), 3),
    "BasicMotions": ("classify", _aeon("BasicMotions"), 3),
    "digits": ("classify", _digits, 1),
    "sunspots": ("regress", _sunspots, 1),
    "co2": ("regress", _co2, 1),
}


# ---------------------------------------------------------------- pyrnn at defaults


def fit_pyrnn(kind, Xtr, ytr, Xte, yte, seed=0):
    from pyrnn import RNNClassifier, RNNRegressor

    est = (RNNClassifier if kind == "classify" else RNNRegressor)(random_state=seed)
    t0 = time.perf_counter()
    est.fit(Xtr, ytr)
    seconds = time.perf_counter() - t0
    return est, est.score(Xte, yte), seconds


# ---------------------------------------------------------------- plain PyTorch


class TorchSchedule:
    """pyrnn's training rules in the PyTorch loop: ``warmup_epochs`` of linear warm-up, then
    ``ReduceLROnPlateau`` (factor 0.5, patience ``n_iter_no_change // 2``) on the epoch's
    training loss when ``lr_schedule="plateau"`` (a constant lr otherwise), and the
    parameters of the epoch with the lowest training loss restored at the end."""

    def __init__(self, torch, opt, est):
        self.opt, self.base, self.warmup = opt, est.learning_rate, est.warmup_epochs
        self.epoch, self.best, self.best_state = 0, float("inf"), None
        self.plateau = None
        if est.lr_schedule == "plateau":
            self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt, factor=0.5, patience=max(1, est.n_iter_no_change // 2)
            )
        elif est.lr_schedule != "constant":
            raise ValueError(
                f"the benchmark reproduces 'plateau' and 'constant', not {est.lr_schedule!r}"
            )
        self._set_lr(self.base / self.warmup if self.warmup else self.base)

    def _set_lr(self, lr):
        for group in self.opt.param_groups:
            group["lr"] = lr

    def end_epoch(self, loss, modules):
        self.epoch += 1
        if loss < self.best:
            self.best = loss
            self.best_state = [{k: v.clone() for k, v in m.state_dict().items()} for m in modules]
        if self.epoch < self.warmup:
            self._set_lr(self.base * (self.epoch + 1) / self.warmup)
        elif self.epoch == self.warmup:
            self._set_lr(self.base)
        elif self.plateau is not None:
            self.plateau.step(loss)

    def restore_best(self, modules):
        for m, state in zip(modules, self.best_state or ()):
            m.load_state_dict(state)


def fit_torch(kind, est, Xtr, ytr, Xte, yte, seed=0):
    """The same model and settings as the fitted pyrnn estimator ``est``, in a plain loop."""
    import torch
    from sklearn.metrics import r2_score

    torch.manual_seed(seed)
    cells = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}
    D = 2 if est.bidirectional else 1
    if kind == "classify":
        classes, y_idx = np.unique(ytr, return_inverse=True)
        n_out, target = len(classes), torch.tensor(y_idx)
        loss_fn = torch.nn.CrossEntropyLoss()
    else:
        mean, std = ytr.mean(), ytr.std() or 1.0  # standardized, as RNNRegressor does
        n_out, target = 1, torch.tensor((ytr - mean) / std, dtype=torch.float32)[:, None]
        loss_fn = torch.nn.MSELoss()
    rnn = cells[est.cell](
        Xtr.shape[2],
        est.hidden_size,
        num_layers=est.num_layers,
        bidirectional=est.bidirectional,
        batch_first=True,
    )
    head = torch.nn.Linear(D * est.hidden_size, n_out)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = {
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "rmsprop": torch.optim.RMSprop,
        "adagrad": torch.optim.Adagrad,
    }[est.optimizer](params, lr=est.learning_rate)

    def outputs(x):
        _, state = rnn(x)
        h = state[0] if isinstance(state, tuple) else state
        return head(torch.cat(list(h[-D:]), dim=1))

    X = torch.tensor(Xtr)
    gen = torch.Generator().manual_seed(seed)
    schedule = TorchSchedule(torch, opt, est)
    t0 = time.perf_counter()
    for _ in range(est.n_iter_):
        total = 0.0
        for idx in torch.randperm(len(X), generator=gen).split(est.batch_size):
            opt.zero_grad()
            loss = loss_fn(outputs(X[idx]), target[idx])
            loss.backward()
            if est.clip_norm:
                torch.nn.utils.clip_grad_norm_(params, est.clip_norm)
            opt.step()
            total += float(loss.detach()) * len(idx)
        schedule.end_epoch(total / len(X), (rnn, head))
    schedule.restore_best((rnn, head))
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        out = outputs(torch.tensor(Xte)).numpy()
    if kind == "classify":
        score = float(np.mean(classes[out.argmax(1)] == yte))
    else:
        score = float(r2_score(yte, out[:, 0] * std + mean))
    return score, seconds


# ---------------------------------------------------------------- report


def warm_up():
    """One tiny untimed fit per library: one-time costs of a process (scikit-learn's first
    input check discovers dataframe plugins through the installed packages' entry points,
    seconds on a loaded machine; PyTorch's first autograd call) stay out of the timings."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 5, 2)).astype(np.float32)
    y = np.arange(8) % 2
    est, _, _ = fit_pyrnn("classify", X, y, X, y)
    est.set_params(max_epochs=1)
    fit_torch("classify", est.fit(X, y), X, y, X, y)


def run(names, threads, seeds):
    import torch
    import pyrnn

    pyrnn.set_num_threads(threads)
    torch.set_num_threads(threads)
    warm_up()
    rows = []
    for name in names:
        kind, load, n_seeds = DATASETS[name]
        Xtr, ytr, Xte, yte = load()
        runs = []
        for seed in range(n_seeds) if seeds is None else seeds:
            est, score, seconds = fit_pyrnn(kind, Xtr, ytr, Xte, yte, seed)
            t_score, t_seconds = fit_torch(kind, est, Xtr, ytr, Xte, yte, seed)
            runs.append(
                dict(
                    seed=seed,
                    epochs=est.n_iter_,
                    pyrnn_score=score,
                    pyrnn_seconds=seconds,
                    torch_score=t_score,
                    torch_seconds=t_seconds,
                )
            )
        rows.append(
            dict(
                dataset=name,
                task=kind,
                n_train=len(Xtr),
                n_test=len(Xte),
                T=Xtr.shape[1],
                channels=Xtr.shape[2],
                runs=runs,
                **{k: float(np.mean([r[k] for r in runs])) for k in runs[0] if k != "seed"},
            )
        )
        print(format_row(rows[-1]), flush=True)
    return rows


HEADER = (
    "| data set | task | n train/test | T x C | seeds | epochs | pyrnn score | torch score "
    "| pyrnn fit s | torch fit s | speed-up | scores per seed (pyrnn / torch) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def format_row(r):
    """One table row: means over the seeds (epochs, scores, fit seconds), then each seed."""
    metric = "acc" if r["task"] == "classify" else "R2"
    runs = r.get("runs") or [dict(seed=0, **r)]
    per_seed = ", ".join(f"{x['pyrnn_score']:.3f} / {x['torch_score']:.3f}" for x in runs)
    return (
        f"| {r['dataset']} | {r['task']} ({metric}) | {r['n_train']}/{r['n_test']} "
        f"| {r['T']} x {r['channels']} | {len(runs)} | {r['epochs']:.0f} | {r['pyrnn_score']:.3f} "
        f"| {r['torch_score']:.3f} | {r['pyrnn_seconds']:.1f} | {r['torch_seconds']:.1f} "
        f"| {r['torch_seconds'] / r['pyrnn_seconds']:.1f}x | {per_seed} |"
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--datasets",
        default=",".join(DATASETS),
        help="comma-separated, from: " + ", ".join(DATASETS),
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--seeds",
        help="comma-separated random_state values for every data set (default: 0,1,2 for "
        "the UCR/UEA sets, 0 for the others); each runs once per seed (both libraries) and "
        "the table shows the means",
    )
    ap.add_argument("--json", help="print the table of a saved result file and exit")
    args = ap.parse_args(argv)
    if args.json:
        with open(args.json) as f:
            rows = json.load(f)["rows"]
        print(HEADER)
        print("\n".join(format_row(r) for r in rows))
        return 0
    names = [n for n in args.datasets.split(",") if n]
    seeds = None if args.seeds is None else [int(v) for v in args.seeds.split(",") if v]
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        ap.error(f"unknown data sets {unknown}; choose from {list(DATASETS)}")
    import pyrnn

    print(f"pyrnn from {os.path.dirname(pyrnn.__file__)}", file=sys.stderr)
    print(HEADER)
    rows = run(names, args.threads, seeds)
    out_dir = os.path.join(HERE, "results")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, time.strftime("%Y%m%d-%H%M%S") + "-accuracy.json")
    with open(path, "w") as f:
        json.dump(
            dict(
                rows=rows,
                threads=args.threads,
                seeds=seeds,
                pyrnn_file=pyrnn.__file__,  # which pyrnn was timed (a worktree or installed)
                python=sys.version,
                machine=platform.machine(),
                processor=platform.processor(),
            ),
            f,
            indent=1,
        )
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
