"""pytest configuration of the benchmark suites (run with ``pytest benchmarks/``; the normal
test suite, ``pytest``, only collects ``tests/``).

Options (see benchmarks/README.md):
  --bench-quick            short runs: 0.3 s of rounds per benchmark (1 s without), at least 3 rounds
  --bench-threads 1,2      thread counts to run (default 1,2)
  --bench-numpy-train-all  also time the numpy training loop on the large configuration
"""

from __future__ import annotations

import os

import pytest

# Time the thread counts asked for: the load probe (csrc/load.cpp) would run a 2-thread row on
# one thread while other processes keep a core busy. benchmarks/load.py times it on purpose.
os.environ.setdefault("PYRNN_LOAD_PROBE", "0")

import rnnbench  # noqa: E402  (pytest puts this folder, no __init__.py, first on sys.path)


def pytest_addoption(parser):
    group = parser.getgroup("pyrnn benchmarks")
    group.addoption(
        "--bench-quick",
        action="store_true",
        help="short runs (0.3 s of timed rounds per benchmark, at least 3 rounds)",
    )
    group.addoption(
        "--bench-threads",
        default="1,2",
        help="comma-separated thread counts to benchmark (default 1,2)",
    )
    group.addoption(
        "--bench-numpy-train-all",
        action="store_true",
        help="also time numpy's training loop on the large configuration (slow)",
    )


def _threads(config):
    raw = config.getoption("--bench-threads")
    try:
        counts = tuple(int(s) for s in raw.split(",") if s.strip())
    except ValueError:
        raise pytest.UsageError(f"--bench-threads takes integers like 1,2; got {raw!r}") from None
    if not counts or min(counts) < 1:
        raise pytest.UsageError(f"--bench-threads needs counts >= 1; got {raw!r}")
    return counts


def pytest_collection_modifyitems(config, items):
    """Deselect benchmarks of thread counts not asked for with --bench-threads."""
    wanted = set(_threads(config))
    keep, drop = [], []
    for item in items:
        spec = getattr(item, "callspec", None)
        threads = spec.params.get("threads") if spec is not None else None
        (drop if threads is not None and threads not in wanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def threads(request):
    """Set pyrnn, torch and numpy's BLAS to ``request.param`` threads for one benchmark."""
    limiter = rnnbench.set_threads(request.param)
    yield request.param
    limiter.restore_original_limits()


# Best FMA-peak probe per thread count over the session (one probe before each benchmark):
# on a shared machine a single probe may land in a busy moment and understate the peak.
_PEAKS = {}


@pytest.fixture
def run_timed(request):
    """``run_timed(benchmark, fn)``: warm up, then time ``fn`` over a number of rounds.

    First one FMA-peak probe at the current thread count (kept in extra_info; the session's
    best per thread count goes to machine_info["fma_peak_gflops"]).

    One untimed call estimates the time of a round; the rounds then fill a time budget
    (1 s, or 0.3 s with --bench-quick) with at least 5 (3 with --bench-quick, or when a call
    takes over 0.5 s) and at most 200 rounds, after one more warm-up round. Every round is
    one call (iterations=1); the report uses the minimum (or, with --stat median, the median).
    """
    import time

    quick = request.config.getoption("--bench-quick")
    budget, min_rounds = (0.3, 3) if quick else (1.0, 5)

    def run(benchmark, fn):
        from pyrnn import engine

        n = engine.get_num_threads()
        probe = engine.fma_peak_gflops(n)
        _PEAKS[n] = max(_PEAKS.get(n, 0.0), probe)
        benchmark.extra_info["fma_peak_probe_gflops"] = probe
        t0 = time.perf_counter()
        fn()
        est = max(time.perf_counter() - t0, 1e-6)
        floor = 3 if est > 0.5 else min_rounds
        rounds = int(min(200, max(floor, budget / est)))
        benchmark.extra_info["rounds_planned"] = rounds
        return benchmark.pedantic(fn, rounds=rounds, warmup_rounds=1, iterations=1)

    return run


def pytest_benchmark_update_machine_info(config, machine_info):
    """Record what the figures depend on: pyrnn's build and ISA, the measured FMA peak for
    each thread count, numpy's BLAS (kernel and OPENBLAS_* environment), torch's version."""
    from pyrnn import engine

    machine_info["pyrnn"] = engine.config()
    machine_info["fma_peak_gflops"] = {
        str(n): max([engine.fma_peak_gflops(n) for _ in range(3)] + [_PEAKS.get(n, 0.0)])
        for n in _threads(config)
    }
    machine_info["numpy_blas"] = rnnbench.blas_info()
    try:
        import torch

        machine_info["torch"] = torch.__version__
    except ImportError:
        machine_info["torch"] = None
    machine_info["load_average"] = os.getloadavg()
