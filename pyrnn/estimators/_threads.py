"""Thread control while an estimator fits or predicts."""

import contextlib
import threading

from threadpoolctl import ThreadpoolController

from .. import engine


_CONTROLLER = None


def _controller():
    """threadpoolctl's view of the loaded thread pools, found once (as scikit-learn does):
    ``threadpool_limits`` scans every loaded library on each call, 6 ms a call in a process
    that has torch loaded, paid by every fit and predict."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


class _BlasOneThread:
    """numpy's BLAS limited to one thread while any estimator call runs, shared by concurrent
    calls: the first to enter limits it, the last to leave puts back what it found, so
    threads predicting at once never leave it limited.

    The matrix products numpy does around the engine (heads, losses) are small; a threaded
    BLAS competing with the engine's OpenMP threads for the same cores only slows both down
    (measured: 4x slower training on 2 busy cores).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0
        self._limits = None

    def __enter__(self):
        with self._lock:
            if self._users == 0:
                self._limits = _controller().limit(limits=1, user_api="blas")
            self._users += 1

    def __exit__(self, *exc):
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._limits.restore_original_limits()
                self._limits = None


_BLAS_ONE_THREAD = _BlasOneThread()


@contextlib.contextmanager
def threads(n_threads):
    """Run the block's engine calls on ``n_threads`` threads (None: the engine's defaults;
    see :mod:`pyrnn.engine`), in this thread only, with numpy's BLAS on one thread. Nothing
    is saved and written back: concurrent blocks do not see each other."""
    with _BLAS_ONE_THREAD, engine.using_threads(n_threads):
        yield
