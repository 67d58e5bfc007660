"""Streaming latency: ``net.step(x_t, state)`` at B = 1 vs ``torch.nn.LSTM/GRU`` with T = 1.

I = 64, H = 128, one layer, 1 thread. One timed call runs ``STEPS`` consecutive steps of a
sequence, feeding the state back (pyrnn's packed weights stay cached across the calls; torch
runs under ``torch.no_grad()``); report.py divides by ``STEPS`` for the time per step and prints
torch / pyrnn against the 3x target.
"""

from __future__ import annotations

import numpy as np
import pytest

I, H, STEPS = 64, 128, 100
CELLS = {"lstm": "LSTM", "gru": "GRU"}


def _pyrnn_stream(cell, xs):
    import pyrnn

    net = getattr(pyrnn, CELLS[cell])(I, H, random_state=0)

    def run():
        state = None
        for x_t in xs:
            out, state = net.step(x_t, state)
        return out

    return run


def _torch_stream(cell, xs):
    torch = pytest.importorskip("torch")
    m = getattr(torch.nn, CELLS[cell])(I, H)
    xt = [torch.from_numpy(x_t[None]) for x_t in xs]

    def run():
        state = None
        with torch.no_grad():
            for x_t in xt:
                out, state = m(x_t, state)
        return out[0].numpy()

    return run


@pytest.mark.parametrize("impl", ["pyrnn", "torch"])
@pytest.mark.parametrize("threads", [1], indirect=True, ids=lambda n: f"{n}t")
@pytest.mark.parametrize("cell", list(CELLS))
def test_step(benchmark, run_timed, cell, threads, impl):
    xs = np.random.default_rng(0).standard_normal((STEPS, 1, I), dtype=np.float32)
    fn = (_pyrnn_stream if impl == "pyrnn" else _torch_stream)(cell, xs)
    benchmark.group = f"step/{cell}/{threads}t"
    benchmark.extra_info.update(
        kind="step", cell=cell, impl=impl, threads=threads, B=1, I=I, H=H, steps=STEPS
    )
    out = run_timed(benchmark, fn)
    assert out.shape == (1, H)
