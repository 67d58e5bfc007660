"""pyrnn vs PyTorch vs a numpy loop (and ONNX Runtime running pyrnn's ONNX export, for
inference): every cell x configuration x {infer, train} x threads.

Run: ``pytest benchmarks/test_rnn.py`` (or ``python benchmarks/report.py`` for the table).
Each benchmark group (``<config>/<cell>/<mode>/<threads>t``) holds the three implementations
timed back to back with the same weights, input, dtype (float32), layout (time-major) and
thread count; pytest-benchmark's table then shows their ratio.
"""

from __future__ import annotations

import numpy as np
import pytest

import rnnbench


def _cases():
    for name in rnnbench.CONFIGS:
        for cell in rnnbench.CELLS:
            for mode in rnnbench.MODES:
                for threads in rnnbench.THREADS:
                    for impl in rnnbench.IMPLS:
                        yield pytest.param(
                            name,
                            cell,
                            mode,
                            threads,
                            impl,
                            id=f"{name}-{cell}-{mode}-{threads}t-{impl}",
                        )


@pytest.mark.parametrize(
    "config_name, cell, mode, threads, impl", list(_cases()), indirect=["threads"]
)
def test_rnn(benchmark, run_timed, request, config_name, cell, mode, threads, impl):
    cfg = rnnbench.CONFIGS[config_name]
    if impl == "torch":
        pytest.importorskip("torch")
    if impl == "onnxruntime":
        pytest.importorskip("onnxruntime")
        if mode == "train":
            pytest.skip("ONNX Runtime runs inference only")
    if (
        impl == "numpy"
        and mode == "train"
        and config_name not in rnnbench.NUMPY_TRAIN_CONFIGS
        and not request.config.getoption("--bench-numpy-train-all")
    ):
        pytest.skip(
            "numpy training loop on this configuration is slow: "
            "pass --bench-numpy-train-all to time it"
        )
    fn = rnnbench.make_case(impl, cfg, cell, mode)
    benchmark.group = f"{config_name}/{cell}/{mode}/{threads}t"
    flop = rnnbench.flops(cfg, cell, mode)
    benchmark.extra_info.update(
        kind="rnn",
        impl=impl,
        config=config_name,
        cell=cell,
        mode=mode,
        threads=threads,
        flops=flop,
        shape=dict(T=cfg.T, B=cfg.B, I=cfg.I, H=cfg.H, layers=cfg.layers, bidir=cfg.bidir),
    )
    out, dx = run_timed(benchmark, fn)
    stats = benchmark.stats.stats
    benchmark.extra_info["gflops_min_time"] = flop / stats.min / 1e9
    benchmark.extra_info["gflops_median_time"] = flop / stats.median / 1e9
    assert out.shape == (cfg.T, cfg.B, cfg.H * cfg.directions)
    assert dx is None or tuple(dx.shape) == (cfg.T, cfg.B, cfg.I)


def _has(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


# A small copy of every configuration's structure (layers, directions) for the agreement check.
_SMALL = {
    name: rnnbench.Config(name, 9, 3, 5, 7, c.layers, c.bidir)
    for name, c in rnnbench.CONFIGS.items()
}


@pytest.mark.parametrize("config_name", list(_SMALL))
@pytest.mark.parametrize("cell", rnnbench.CELLS)
def test_implementations_agree(config_name, cell):
    """The three timed implementations compute the same output and input gradient."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    cfg = _SMALL[config_name]
    x, params = rnnbench.make_problem(cfg, cell, seed=1)
    for mode in rnnbench.MODES:
        impls = ["pyrnn", "torch", "numpy"]
        if mode == "infer" and _has("onnxruntime"):
            impls.append("onnxruntime")
        results = {impl: rnnbench.make_case(impl, cfg, cell, mode, x, params)() for impl in impls}
        ref_out, ref_dx = (np.asarray(a) if a is not None else None for a in results["torch"])
        for impl in (i for i in impls if i != "torch"):
            out, dx = results[impl]
            np.testing.assert_allclose(
                out, ref_out, rtol=1e-4, atol=1e-5, err_msg=f"{impl} {mode} out"
            )
            if mode == "train":
                np.testing.assert_allclose(dx, ref_dx, rtol=1e-4, atol=1e-5, err_msg=f"{impl} dx")
            else:
                assert dx is None
