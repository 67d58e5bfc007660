"""How far a ratio target is from the machine's limit: each library's RNN against its own GEMMs.

For each cell of a configuration (``rnnbench.CONFIGS``, inference, 1 thread), in one process:

* ``torch``: ``torch.nn.LSTM/GRU/RNN`` as the benchmarks time it, and the same products done
  with ``torch.matmul`` alone (the input projection of all T*B rows, then T recurrent products
  of B rows), i.e. what PyTorch's time would be with free activations;
* ``pyrnn``: the network as a user runs it, and its own GEMM (``engine.gemm``) on the same
  products.

A target "pyrnn >= r x PyTorch" needs pyrnn's whole layer in torch's time / r; the last column
says what that is in GFLOP/s next to what pyrnn's GEMM reaches on the same products. When the
needed rate is above the GEMM's, the target asks for a faster GEMM than this machine gives
pyrnn, whatever the rest of the layer costs. (Meaningful for medium and large: at B = 1 each
``engine.gemm`` call is mostly the Python call itself.)

Usage::

    python benchmarks/gemm_floor.py [--configs medium,large] [--ratio 1.5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import rnnbench


def _best(fn, rounds):
    fn()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _products(matmul, arrays, T):
    """The layer's products: the input projection of all rows, then T recurrent ones."""
    x, w_ih, h, w_hh = arrays

    def run():
        matmul(x, w_ih)
        for _ in range(T):
            matmul(h, w_hh)

    return run


def floor_rows(config: str, ratio: float, rounds: int = 7):
    """One row per cell: times (s) and the GFLOP/s a ``ratio`` target needs."""
    import torch

    from pyrnn import engine

    cfg = rnnbench.CONFIGS[config]
    T, B, I, H = cfg.T, cfg.B, cfg.I, cfg.H
    rng = np.random.default_rng(0)
    rows = []
    for cell in rnnbench.CELLS:
        G = rnnbench.num_gates(cell)
        t_torch_gemm = t_pyrnn_gemm = flops = 0.0
        for layer in range(cfg.layers):  # every layer-direction's products
            I = cfg.layer_input(layer)
            x = rng.random((T * B, I), dtype=np.float32)
            w_ih = rng.random((I, G * H), dtype=np.float32)
            h = rng.random((B, H), dtype=np.float32)
            w_hh = rng.random((H, G * H), dtype=np.float32)
            t = tuple(map(torch.from_numpy, (x, w_ih, h, w_hh)))
            torch_gemms = _products(torch.matmul, t, T)
            pyrnn_gemms = _products(engine.gemm, (x, w_ih, h, w_hh), T)
            t_torch_gemm += cfg.directions * _best(torch_gemms, rounds)
            t_pyrnn_gemm += cfg.directions * _best(pyrnn_gemms, rounds)
            flops += cfg.directions * 2.0 * T * B * (I + H) * G * H
        xx, params = rnnbench.make_problem(cfg, cell)
        torch_layer = rnnbench.make_case("torch", cfg, cell, "infer", xx, params)
        pyrnn_layer = rnnbench.make_case("pyrnn", cfg, cell, "infer", xx, params)
        t_torch, t_pyrnn = _best(torch_layer, rounds), _best(pyrnn_layer, rounds)
        rows.append(
            dict(
                cell=cell,
                torch=t_torch,
                torch_gemm=t_torch_gemm,
                pyrnn=t_pyrnn,
                pyrnn_gemm_gflops=flops / t_pyrnn_gemm / 1e9,
                needed_gflops=flops / (t_torch / ratio) / 1e9,
            )
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="medium", help="comma-separated CONFIGS names")
    parser.add_argument("--ratio", type=float, default=1.5, help="the target torch/pyrnn ratio")
    args = parser.parse_args(argv)
    rnnbench.set_threads(1)
    print(
        f"{'config':14s} {'cell':8s} {'torch ms':>9s} {'its GEMMs':>9s} {'share':>6s} "
        f"{'pyrnn ms':>9s} {'torch/pyrnn':>11s} {'need GF/s':>9s} {'pyrnn GEMM GF/s':>15s}"
    )
    for config in args.configs.split(","):
        for r in floor_rows(config, args.ratio):
            print(
                f"{config:14s} {r['cell']:8s} {r['torch'] * 1e3:9.2f} {r['torch_gemm'] * 1e3:9.2f} "
                f"{r['torch_gemm'] / r['torch']:6.0%} {r['pyrnn'] * 1e3:9.2f} "
                f"{r['torch'] / r['pyrnn']:11.2f} {r['needed_gflops']:9.1f} "
                f"{r['pyrnn_gemm_gflops']:15.1f}"
            )
    print(
        f"need GF/s: the rate pyrnn's whole layer must reach for torch/pyrnn >= {args.ratio}; "
        "when it is above 'pyrnn GEMM GF/s' (its own GEMM on the same products), the target "
        "needs a faster GEMM, not a cheaper rest of the layer."
    )


if __name__ == "__main__":
    main()
