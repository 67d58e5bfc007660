"""Thread safety: threads predicting with one fitted estimator at once get the serial answers,
a fit in one thread beside predictions in others disturbs neither, concurrent backward calls
on separate workspaces of one network's weights give the serial gradients, and repeated calls
do not leak (resident memory stays flat)."""

import os
import threading

import numpy as np
import pytest

import reference as ref
import pyrnn
from pyrnn import engine


def _data(n=24, T=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, 2)).astype(np.float32)
    return X, (X[:, :, 0].sum(axis=1) > 0).astype(int)


def _run_threads(target, n):
    start = threading.Barrier(n)
    errors = []

    def wrapped(i):
        start.wait()
        try:
            target(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


@pytest.mark.parametrize("n_threads", [None, 1, 2])
def test_concurrent_predict_gives_the_serial_answers(n_threads):
    X, y = _data()
    clf = pyrnn.RNNClassifier(
        hidden_size=8, max_epochs=2, random_state=0, cell="gru", n_threads=n_threads
    ).fit(X, y)
    want = clf.predict_proba(X)
    got = [None] * 8
    _run_threads(lambda i: got.__setitem__(i, [clf.predict_proba(X) for _ in range(4)]), 8)
    for per_thread in got:
        for p in per_thread:
            np.testing.assert_array_equal(p, want)


def test_fit_beside_predict():
    X, y = _data()
    fitted = pyrnn.RNNClassifier(hidden_size=8, max_epochs=2, random_state=0).fit(X, y)
    want = fitted.predict_proba(X)
    serial = (
        pyrnn.RNNClassifier(hidden_size=8, max_epochs=3, random_state=1).fit(X, y).predict_proba(X)
    )
    out = {}

    def work(i):
        if i == 0:
            out["fit"] = (
                pyrnn.RNNClassifier(hidden_size=8, max_epochs=3, random_state=1)
                .fit(X, y)
                .predict_proba(X)
            )
        else:
            out[i] = [fitted.predict_proba(X) for _ in range(6)]

    _run_threads(work, 4)
    np.testing.assert_array_equal(out["fit"], serial)  # deterministic despite the neighbours
    for i in (1, 2, 3):
        for p in out[i]:
            np.testing.assert_array_equal(p, want)


def test_concurrent_backward_on_separate_workspaces():
    arrays, opts = ref.random_problem("lstm", 7, 5, 3, 9, dtype=np.float32, variable_length=True)
    dy = np.random.default_rng(3).standard_normal((7, 5, 9)).astype(np.float32)
    want = engine.backward(engine.forward(**arrays, **opts).workspace, dy=dy)
    got = [None] * 6

    def work(i):
        grads = []
        for _ in range(10):
            with engine.using_threads(1 + i % 2):
                grads.append(engine.backward(engine.forward(**arrays, **opts).workspace, dy=dy))
        got[i] = grads

    _run_threads(work, 6)
    for grads in got:
        for g in grads:
            np.testing.assert_array_equal(g.dweight_hh, want.dweight_hh)
            np.testing.assert_array_equal(g.dweight_ih, want.dweight_ih)
            np.testing.assert_array_equal(g.dx, want.dx)


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="Linux /proc")
def test_repeated_calls_keep_resident_memory_flat():
    """2000 forward+backward calls (and errors) after a warm-up: resident memory may not keep
    growing. A leak of one workspace per call (~100 KB here) would add about 200 MB."""
    arrays, opts = ref.random_problem("gru", 20, 8, 16, 32, dtype=np.float32, variable_length=True)
    bad = dict(arrays, x=arrays["x"].astype(np.float64))

    def calls(n):
        for _ in range(n):
            res = engine.forward(**arrays, **opts)
            engine.backward(res.workspace, dy=res.y)
            with pytest.raises(TypeError):
                engine.forward(**bad, **opts)

    calls(200)
    before = _rss_bytes()
    calls(2000)
    grown = _rss_bytes() - before
    assert grown < 20 << 20, f"resident memory grew by {grown / 2**20:.1f} MiB"
