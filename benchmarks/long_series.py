"""Long sequences: an RNN reading T = 2,000 steps directly, against Conv1d layers that first
shorten the sequence (``conv_layers``), at the same recurrent size, in the same run.

Data: ``pyrnn.datasets.make_waveforms`` at a fixed length of ``--length`` steps (4 classes:
sine, square, triangle, sawtooth with random period, phase, amplitude, offset and noise).
Printed: test accuracy, fit time, epochs and the ratio of fit times.

    python benchmarks/long_series.py              # T = 2000, ~3 min on 2 cores
    python benchmarks/long_series.py --length 4000 --n 300
"""

import argparse
import sys
import time

import numpy as np


def run(length, n, epochs, threads, conv_layers):
    import pyrnn
    from pyrnn import RNNClassifier
    from pyrnn.datasets import make_waveforms
    from sklearn.model_selection import train_test_split

    pyrnn.set_num_threads(threads)
    X, y = make_waveforms(
        n_samples=n, min_length=length, max_length=length, noise=0.3, random_state=0
    )
    X = np.stack(X).astype(np.float32)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)
    rows = []
    for name, layers in (("RNN on all steps", None), ("Conv1d, then RNN", conv_layers)):
        est = RNNClassifier(
            cell="gru", hidden_size=32, conv_layers=layers, max_epochs=epochs, random_state=0
        )
        t0 = time.perf_counter()
        est.fit(Xtr, ytr)
        seconds = time.perf_counter() - t0
        rows.append((name, layers, est.score(Xte, yte), seconds, est.n_iter_))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--length", type=int, default=2000)
    ap.add_argument("--n", type=int, default=200, help="samples (half train, half test)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    conv_layers = [(16, 8, 4), (32, 5, 4)]  # (channels, kernel, stride): T / 16
    rows = run(args.length, args.n, args.epochs, args.threads, conv_layers)
    print(
        f"T = {args.length}, {args.n // 2} train / {args.n - args.n // 2} test sequences, "
        f"GRU(32), {args.threads} threads"
    )
    print("| model | conv_layers | accuracy | fit s | epochs |\n|---|---|---|---|---|")
    for name, layers, acc, seconds, epochs in rows:
        print(f"| {name} | {layers} | {acc:.3f} | {seconds:.1f} | {epochs} |")
    print(f"fit time ratio: {rows[0][3] / rows[1][3]:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
