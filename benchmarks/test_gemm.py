"""pyrnn's own GEMM (``engine.gemm``) vs numpy's ``matmul`` and ``torch.matmul``.

Two sets of shapes, float32, C-contiguous ``a (M, K) @ b (K, N)``, the same arrays for every
implementation, 1 and 2 threads (numpy's BLAS limited with threadpoolctl, torch with
``torch.set_num_threads``):

* ``test_gemm``: the products the RNN kernels run (input projection, weight and input
  gradients, one recurrent step). Each shape is a benchmark group ``gemm/<shape>/<threads>t``.
* ``test_gemm_rnn_equivalent``: for ``medium`` and ``large``, one ``(T*B) x (I+H) x (G*H)``
  product per layer-direction (``rnnbench.gemm_equivalent``): the FLOPs of one forward pass.
  report.py sets the RNN's time against it (the efficiency column) and checks that pyrnn's
  GEMM is at least as fast as the best of numpy and torch there.

numpy runs with the environment as it is; ``report.py`` runs the numpy half again in a
subprocess with ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` unset (they can pin OpenBLAS to a
slower kernel), and each benchmark records the kernel it saw.
"""

from __future__ import annotations

import numpy as np
import pytest

import rnnbench

# name -> (M, K, N) and what it is in the medium/large LSTM (T*B = 6400 rows, G*H gate columns).
SHAPES = {
    "input-proj-medium": ((6400, 128, 1024), "X (T*B, I) x W_ih^T (I, 4H), medium LSTM"),
    "input-proj-large": ((6400, 256, 2048), "X (T*B, I) x W_ih^T (I, 4H), large LSTM layer 1"),
    "weight-grad": ((1024, 6400, 256), "dGates^T (4H, T*B) x H_prev (T*B, H), medium dW_hh"),
    "input-grad": ((6400, 1024, 128), "dGates (T*B, 4H) x W_ih (4H, I), medium dX"),
    "recurrent-step": ((64, 256, 1024), "h (B, H) x W_hh^T (H, 4H), one medium step"),
}
GEMM_IMPLS = ("pyrnn", "numpy", "torch")
EQUIVALENT_CONFIGS = ("medium", "large")


def _operands(M, K, N, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((M, K), dtype=np.float32),
        rng.standard_normal((K, N), dtype=np.float32),
    )


def _matmul(impl):
    """``f(a, b) -> a @ b`` as a numpy array, by ``impl``."""
    if impl == "pyrnn":
        from pyrnn import engine

        return engine.gemm
    if impl == "numpy":
        return np.matmul
    torch = pytest.importorskip("torch")
    return lambda a, b: torch.matmul(torch.from_numpy(a), torch.from_numpy(b)).numpy()


def _check(c, a, b, impl):
    """Same product as float64 numpy, to float32 rounding accumulated over K terms."""
    ref = a[:256].astype(np.float64) @ b.astype(np.float64)
    err = np.abs(c[:256] - ref).max() / np.abs(ref).max()
    assert err < 1e-5, f"{impl} gemm relative error {err:.2e}"


def _record_gflops(benchmark, flop):
    stats = benchmark.stats.stats
    benchmark.extra_info["gflops_min_time"] = flop / stats.min / 1e9
    benchmark.extra_info["gflops_median_time"] = flop / stats.median / 1e9


@pytest.mark.parametrize("impl", GEMM_IMPLS)
@pytest.mark.parametrize("threads", rnnbench.THREADS, indirect=True, ids=lambda n: f"{n}t")
@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_gemm(benchmark, run_timed, shape_name, threads, impl):
    (M, K, N), what = SHAPES[shape_name]
    a, b = _operands(M, K, N)
    mm = _matmul(impl)
    benchmark.group = f"gemm/{shape_name}/{threads}t"
    flop = 2.0 * M * K * N
    benchmark.extra_info.update(
        kind="gemm",
        impl=impl,
        shape=shape_name,
        M=M,
        K=K,
        N=N,
        what=what,
        threads=threads,
        flops=flop,
    )
    if impl == "numpy":
        benchmark.extra_info["numpy_blas"] = rnnbench.blas_info()
    c = run_timed(benchmark, lambda: mm(a, b))
    _record_gflops(benchmark, flop)
    _check(c, a, b, impl)


@pytest.mark.parametrize("impl", GEMM_IMPLS)
@pytest.mark.parametrize("threads", rnnbench.THREADS, indirect=True, ids=lambda n: f"{n}t")
@pytest.mark.parametrize("cell", rnnbench.CELLS)
@pytest.mark.parametrize("config_name", EQUIVALENT_CONFIGS)
def test_gemm_rnn_equivalent(benchmark, run_timed, config_name, cell, threads, impl):
    cfg = rnnbench.CONFIGS[config_name]
    shapes = rnnbench.gemm_equivalent(cfg, cell)
    operands = [_operands(*s, seed=i) for i, s in enumerate(shapes)]
    mm = _matmul(impl)
    benchmark.group = f"gemm-equivalent/{config_name}/{cell}/{threads}t"
    flop = sum(2.0 * M * K * N for M, K, N in shapes)
    benchmark.extra_info.update(
        kind="gemm_equiv",
        impl=impl,
        config=config_name,
        cell=cell,
        threads=threads,
        flops=flop,
        shapes=["x".join(map(str, s)) for s in shapes],
    )
    if impl == "numpy":
        benchmark.extra_info["numpy_blas"] = rnnbench.blas_info()
    out = run_timed(benchmark, lambda: [mm(a, b) for a, b in operands])
    _record_gflops(benchmark, flop)
    assert flop == rnnbench.flops(cfg, cell, "infer")
    _check(out[0], *operands[0], impl)
