"""pyrnn's own GEMM (``engine.gemm``) vs numpy's ``matmul`` on the shapes the RNN kernels run.

float32, C-contiguous ``a (M, K) @ b (K, N)``, the same arrays for both, 1 and 2 threads
(numpy's BLAS limited with threadpoolctl). Each shape is a benchmark group
``gemm/<shape>/<threads>t``. numpy runs with the environment as it is; ``report.py`` runs the
numpy half again in a subprocess with ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` unset (they
can pin OpenBLAS to a slower kernel), and each benchmark records the kernel it saw.
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


def _operands(M, K, N):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((M, K), dtype=np.float32),
            rng.standard_normal((K, N), dtype=np.float32))


@pytest.mark.parametrize("impl", ["pyrnn", "numpy"])
@pytest.mark.parametrize("threads", rnnbench.THREADS, indirect=True, ids=lambda n: f"{n}t")
@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_gemm(benchmark, run_timed, shape_name, threads, impl):
    from pyrnn import engine

    (M, K, N), what = SHAPES[shape_name]
    a, b = _operands(M, K, N)
    fn = (lambda: engine.gemm(a, b)) if impl == "pyrnn" else (lambda: np.matmul(a, b))
    benchmark.group = f"gemm/{shape_name}/{threads}t"
    flop = 2.0 * M * K * N
    benchmark.extra_info.update(kind="gemm", impl=impl, shape=shape_name, M=M, K=K, N=N,
                                what=what, threads=threads, flops=flop)
    if impl == "numpy":
        benchmark.extra_info["numpy_blas"] = rnnbench.blas_info()
    c = run_timed(benchmark, fn)
    stats = benchmark.stats.stats
    benchmark.extra_info["gflops_min_time"] = flop / stats.min / 1e9
    benchmark.extra_info["gflops_median_time"] = flop / stats.median / 1e9
    # Same product as float64 numpy, to float32 rounding accumulated over K terms.
    ref = a[:256].astype(np.float64) @ b.astype(np.float64)
    err = np.abs(c[:256] - ref).max() / np.abs(ref).max()
    assert err < 1e-5, f"{impl} gemm relative error {err:.2e}"
