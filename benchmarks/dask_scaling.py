"""Data-parallel training on Dask: 2 worker processes x 1 thread against 1 process x 1 thread.

Same model, same global batches, same number of steps; prints the time per step of each,
the speed-up, and how the distributed step splits into the slowest shard's compute and the
rest (scheduling, parameters out, gradients back, the sum and the update): the communication
share. It also checks that both computed the same loss curve (within 1e-5 relative) and
prints the machine's load average before and after, since a figure taken beside other jobs
measures them. Needs the dask extra. One run takes about a minute on 2 free cores:

    python benchmarks/dask_scaling.py [--hidden 128] [--batch 256] [--steps 8]
"""

import argparse
import os
import sys
import time

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

import pyrnn
from pyrnn import engine
from pyrnn.dask import (
    final_state_loss,
    global_batches,
    match_worker_threads,
    train_data_parallel,
)


def build(args):
    net = pyrnn.LSTM(args.features, args.hidden, random_state=0)
    head = pyrnn.heads.Linear(args.hidden, 10, random_state=1)
    return net, head, pyrnn.optim.Adam([net, head], lr=1e-3)


def single_process(args, X, y, batches):
    net, head, opt = build(args)
    engine.set_num_threads(1)
    seconds, losses = [], []
    for b in batches:
        start = time.perf_counter()
        opt.zero_grad()
        losses.append(final_state_loss(net, head, X[b], y[b], None, "softmax_cross_entropy"))
        opt.step()
        seconds.append(time.perf_counter() - start)
    return seconds, losses


def load_average():
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "n/a"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--features", type=int, default=32)
    p.add_argument("--steps-t", dest="T", type=int, default=40, help="sequence length")
    p.add_argument("--batch", type=int, default=256, help="global batch")
    p.add_argument("--steps", type=int, default=8, help="optimizer steps timed")
    args = p.parse_args()
    n = args.batch * args.steps
    # Generated block by block where it will live (no data shipped in the graph).
    X_dask = da.random.default_rng(0).standard_normal(
        (n, args.T, args.features),
        chunks=(args.batch // 2, args.T, args.features),
        dtype=np.float32,
    )
    X = X_dask.compute(scheduler="sync")
    y = np.random.default_rng(1).integers(0, 10, n)
    batches = global_batches(n, args.batch, 1, shuffle=False)
    step_flops = 3 * 2 * args.T * args.batch * 4 * args.hidden * (args.features + args.hidden)
    n_params = 4 * args.hidden * (args.features + args.hidden + 2) + 10 * (args.hidden + 1)
    print(
        f"LSTM I={args.features} H={args.hidden} T={args.T}, global batch {args.batch}: "
        f"{step_flops / 1e9:.1f} GFLOP and {4 * n_params / 1e6:.2f} MB of parameters per "
        f"step; {args.steps} steps"
    )
    print(f"load average (1 min) before: {load_average()} on {os.cpu_count()} CPUs")
    single, single_losses = single_process(args, X, y, batches)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0"
        ) as cluster,
        Client(cluster) as client,
    ):
        match_worker_threads(client)
        net, head, opt = build(args)
        train_data_parallel(
            client,
            net,
            head,
            opt,
            X_dask[: args.batch],
            y[: args.batch],
            batch_size=args.batch,
            shuffle=False,
        )  # warm-up: imports, data
        net, head, opt = build(args)
        result = train_data_parallel(
            client, net, head, opt, X_dask, y, batch_size=args.batch, shuffle=False
        )
    t1, t2 = np.median(single), np.median(result.step_seconds)
    print(f"1 process x 1 thread : {t1 * 1e3:8.1f} ms/step (median)")
    print(
        f"2 workers x 1 thread : {t2 * 1e3:8.1f} ms/step (median), slowest shard "
        f"{np.median(result.shard_seconds) * 1e3:.1f} ms"
    )
    print(f"speed-up {t1 / t2:.2f}x; communication share {result.communication_share:.1%}")
    print(f"load average (1 min) after: {load_average()}")
    if not np.allclose(result.loss_curve, single_losses, rtol=1e-5, atol=0):
        sys.exit("the two runs' loss curves differ by more than 1e-5 relative")
    print("loss curves equal within 1e-5 relative")


if __name__ == "__main__":
    main()
