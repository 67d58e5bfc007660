"""Thread counts (issue 11, items 2, 3 and 11): bounded by what the runtime can start; the
count of each call follows, in this order, the estimator's n_threads (engine.using_threads),
pyrnn.set_num_threads, threadpoolctl.threadpool_limits (entered and left at any time) and
OMP_NUM_THREADS; and nothing is written back behind the user's back, however many threads
call at once."""

import threading

import numpy as np
import pytest

from support import run_python

import pyrnn
from pyrnn import engine

threadpoolctl = pytest.importorskip("threadpoolctl")


def test_absurd_thread_counts_are_value_errors_not_crashes():
    res = run_python("""
import numpy as np, pyrnn
from pyrnn import engine
x = np.ones((3, 2, 1), np.float32); w = np.ones((4, 1), np.float32)
for call in (lambda: pyrnn.set_num_threads(100000),
             lambda: engine.using_threads(100000).__enter__(),
             lambda: engine.fma_peak_gflops(100000),
             lambda: engine._core.forward("rnn", "tanh", True, False, x, w[:1], w[:1], None, None,
                                          None, None, None, False, nthreads=100000)):
    try:
        call()
    except ValueError as e:
        assert "at most" in str(e), e
    else:
        raise AssertionError("accepted")
print(engine.forward(x, w, w).y.shape)
""")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "(3, 2, 1)"


def test_omp_num_threads_beyond_the_cap_is_bounded():
    res = run_python(
        """
import numpy as np
from pyrnn import engine
assert engine.get_num_threads() == engine.max_threads(), engine.get_num_threads()
x = np.ones((3, 2, 1), np.float32); w = np.ones((4, 1), np.float32)
print(engine.forward(x, w, w).y.shape)
""",
        OMP_NUM_THREADS="100000",
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "(3, 2, 1)"


def test_estimator_with_absurd_n_threads_fails_in_fit():
    X = np.zeros((4, 3, 1), np.float32)
    with pytest.raises(ValueError, match="n_threads must be >= 1 and at most"):
        pyrnn.RNNClassifier(n_threads=100000, max_epochs=1).fit(X, [0, 1, 0, 1])


def test_precedence_call_then_set_then_threadpoolctl_then_omp_num_threads():
    res = run_python(
        """
from threadpoolctl import threadpool_limits
import pyrnn
from pyrnn import engine
seen = [engine.get_num_threads()]                      # OMP_NUM_THREADS
with threadpool_limits(limits=3):
    seen.append(engine.get_num_threads())              # threadpoolctl beats OMP_NUM_THREADS
    pyrnn.set_num_threads(2)
    seen.append(engine.get_num_threads())              # set_num_threads beats threadpoolctl
    with engine.using_threads(4):
        seen.append(engine.get_num_threads())          # the call's own count beats all
    pyrnn.set_num_threads(None)
    seen.append(engine.get_num_threads())
seen.append(engine.get_num_threads())                  # left: back to OMP_NUM_THREADS
print(seen)
""",
        OMP_NUM_THREADS="5",
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[5, 3, 2, 4, 3, 5]"


def test_threadpoolctl_sees_and_limits_pyrnn_openmp_runtime(restore_num_threads):
    engine.set_num_threads(None)  # (set_num_threads, by another test, would take precedence)
    info = threadpoolctl.threadpool_info()
    assert any(p["internal_api"] == "openmp" for p in info), info
    default = engine.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert engine.get_num_threads() == 1
    assert engine.get_num_threads() == default


def _data(n=32, T=6):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, T, 2)).astype(np.float32)
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    return X, y


def _blas_limits():
    return [
        (p["filepath"], p["num_threads"])
        for p in threadpoolctl.threadpool_info()
        if p["user_api"] == "blas"
    ]


def test_threadpool_limits_entered_before_or_after_fits_is_obeyed(restore_num_threads):
    engine.set_num_threads(None)
    X, y = _data()
    default = engine.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        pyrnn.RNNClassifier(hidden_size=4, max_epochs=1, random_state=0).fit(X, y)
        assert engine.get_num_threads() == 1
    assert engine.get_num_threads() == default  # a fit inside did not pin the count
    clf = pyrnn.RNNClassifier(hidden_size=4, max_epochs=1, random_state=0).fit(X, y)
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert engine.get_num_threads() == 1  # a fit outside does not block the limit
        clf.predict(X)
    assert engine.get_num_threads() == default


def test_concurrent_predict_changes_no_process_setting():
    X, y = _data()
    clf = pyrnn.RNNClassifier(hidden_size=8, max_epochs=2, random_state=0, n_threads=1).fit(X, y)
    want = clf.predict_proba(X)
    blas_before, threads_before = _blas_limits(), engine.get_num_threads()
    start = threading.Barrier(8)
    out = [None] * 8

    def work(i):
        start.wait()
        for _ in range(5):
            out[i] = clf.predict_proba(X)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got in out:
        np.testing.assert_array_equal(got, want)
    assert _blas_limits() == blas_before
    assert engine.get_num_threads() == threads_before


def test_estimator_n_threads_applies_to_its_own_calls_only():
    X, y = _data()
    default = engine.get_num_threads()
    clf = pyrnn.RNNClassifier(hidden_size=4, max_epochs=1, random_state=0, n_threads=3)
    seen = []
    real = engine._core.forward

    def spy(*args):
        seen.append(engine.get_num_threads())
        return real(*args)

    engine._core.forward = spy
    try:
        clf.fit(X, y)
    finally:
        engine._core.forward = real
    assert seen and set(seen) == {3}
    assert engine.get_num_threads() == default


def test_core_set_num_threads_checks_its_argument(restore_num_threads):
    """Found by the fuzz campaign: an array gave pybind11's RuntimeError ("Unable to cast")."""
    for bad in (np.ones(2), "3", 2.0, True, [3]):
        with pytest.raises(TypeError, match="number of threads must be an int or None"):
            engine._core.set_num_threads(bad)
    with pytest.raises(ValueError, match="at most"):
        engine._core.set_num_threads(2**80)
    engine._core.set_num_threads(np.int64(3))
    assert engine.get_num_threads() == 3
