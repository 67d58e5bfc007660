"""Layers and directions at once (the wavefront) vs the same network layer by layer.

A 2-layer unidirectional and a 1-layer bidirectional ``pyrnn.LSTM/GRU/RNN`` (T = 100,
I = 64, H = 128, B in {1, 8}) on 2 threads, inference (``forward(training=False)``) and
training (``forward`` + ``backward`` of ones). ``grouped`` is the network as shipped: it
runs its layer-directions through ``engine.forward_group``/``backward_group`` when
``engine.plan(...)`` says so (``group_layers`` for directions and a stack's backward,
``chain_layers`` for a stack's forward); ``layered`` is the same network with its
``_group_layers`` patched to return False, i.e. one ``engine.forward`` (and
``engine.backward``) call per layer-direction, each using the threads its plan gives it. report.py prints layered time / grouped time
against the 1.6x target. Each benchmark records whether the plan grouped at all.
"""

from __future__ import annotations

import numpy as np
import pytest

import rnnbench

T, I, H = 100, 64, 128
BATCHES = (1, 8)
NETS = {
    "2layer": dict(num_layers=2, bidirectional=False),
    "bidir": dict(num_layers=1, bidirectional=True),
}
CELLS = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN"}
VARIANTS = ("grouped", "layered")


def make_network(net_name, cell, variant):
    """The benchmarked network; ``layered`` never groups its layer-directions."""
    import pyrnn

    net = getattr(pyrnn, CELLS[cell])(I, H, random_state=0, **NETS[net_name])
    if variant == "layered":
        net._group_layers = lambda T, B, backward=False: False
    return net


def make_step(net, mode, B):
    """A zero-argument callable: one inference or training step of ``net`` on (T, B, I)."""
    x = np.random.default_rng(1).standard_normal((T, B, I), dtype=np.float32)
    if mode == "infer":
        return lambda: net.forward(x, training=False)[0]
    dout = np.ones((T, B, net.output_size), np.float32)

    def run():
        out, _ = net.forward(x, training=True)
        net.backward(dout)
        return out

    return run


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("threads", [2], indirect=True, ids=lambda n: f"{n}t")
@pytest.mark.parametrize("mode", rnnbench.MODES)
@pytest.mark.parametrize("B", BATCHES, ids=lambda b: f"B{b}")
@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("net_name", list(NETS))
def test_wavefront(benchmark, run_timed, net_name, cell, B, mode, threads, variant):
    net = make_network(net_name, cell, variant)
    benchmark.group = f"wavefront/{net_name}/{cell}/B{B}/{mode}/{threads}t"
    benchmark.extra_info.update(
        kind="wavefront",
        net=net_name,
        cell=cell,
        B=B,
        mode=mode,
        threads=threads,
        variant=variant,
        T=T,
        I=I,
        H=H,
        grouped=bool(
            net._group_layers(T, B) or (mode == "train" and net._group_layers(T, B, backward=True))
        ),
    )
    out = run_timed(benchmark, make_step(net, mode, B))
    assert out.shape == (T, B, net.output_size)


@pytest.mark.parametrize("mode", rnnbench.MODES)
@pytest.mark.parametrize("net_name", list(NETS))
def test_variants_agree(net_name, mode):
    """Grouped and layered compute the same output bitwise (so the timing compares like with like)."""
    rnnbench.set_threads(2)
    outs = [make_step(make_network(net_name, "lstm", v), mode, 8)() for v in VARIANTS]
    np.testing.assert_array_equal(outs[0], outs[1])
