"""Small pieces the estimators need around the networks: embeddings, dropout, progress, threads."""
import contextlib
import sys
import threading
import time

import numpy as np
from threadpoolctl import threadpool_limits

from .. import engine
from ..heads import _load_into
from ..init import as_generator


class Embedding:
    """Lookup table ``weight (V, E)`` mapping token ids to vectors, with backward.

    Row 0 is the unknown token: it starts at zero and never receives a gradient, so a token
    never seen in training contributes a neutral zero input. The other rows start N(0, 1) as in
    ``torch.nn.Embedding``. Parameters live in one flat buffer ``params`` (``grad`` alike), so
    optimizers and clipping treat an embedding like any other module.
    """

    def __init__(self, num_embeddings, embedding_dim, dtype=np.float32, random_state=None):
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        dtype = np.dtype(dtype)
        rng = as_generator(random_state)
        self.params = rng.standard_normal(self.num_embeddings * self.embedding_dim).astype(dtype)
        self.grad = np.zeros_like(self.params)
        self._make_views()
        self.weight[0] = 0
        self._ids = None

    def _make_views(self):
        shape = (self.num_embeddings, self.embedding_dim)
        self.weight = self.params.reshape(shape)
        self.dweight = self.grad.reshape(shape)

    def __getstate__(self):
        state = self.__dict__.copy()
        for k in ("weight", "dweight"):
            state.pop(k)
        state["_ids"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._make_views()

    def forward(self, ids, training=True):
        """ids int (...) -> vectors (..., E); keeps ids for backward when training."""
        self._ids = ids if training else None
        return self.weight[ids]

    def backward(self, dx):
        """dx (..., E) -> adds dL/dweight into grad (row 0 excluded)."""
        if self._ids is None:
            raise ValueError("backward needs a preceding forward(ids, training=True)")
        np.add.at(self.dweight, self._ids.ravel(), dx.reshape(-1, self.embedding_dim))
        self.dweight[0] = 0
        self._ids = None

    def zero_grad(self):
        self.grad[...] = 0

    def state_dict(self):
        return {"weight": self.weight.copy()}

    def load_state_dict(self, state_dict):
        _load_into({"weight": self.weight}, state_dict)


def dropout_mask(shape, p, dtype, rng):
    """Inverted-dropout mask: 0 with probability p, else 1/(1-p); None when p == 0."""
    if p <= 0:
        return None
    keep = rng.random_sample(shape) >= p
    return keep.astype(dtype) / dtype.type(1.0 - p)


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
                self._limits = threadpool_limits(limits=1, user_api="blas")
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
    see :mod:`pyrnn.engine`), in this thread only, with numpy's BLAS on one thread."""
    with _BLAS_ONE_THREAD, engine.using_threads(n_threads):
        yield


class _TextBar:
    """A plain progress bar on stderr for when tqdm is not installed."""

    def __init__(self, total, desc, unit):
        self.total, self.desc, self.unit = total, desc, unit
        self.done = 0
        self.start = time.perf_counter()
        self.postfix = ""

    def set_postfix_str(self, text):
        self.postfix = text

    def update(self, n):
        self.done += n
        self._draw("\r")

    def _draw(self, end):
        frac = self.done / self.total if self.total else 1.0
        filled = int(round(20 * frac))
        speed = self.done / max(time.perf_counter() - self.start, 1e-9)
        sys.stderr.write(f"{end}{self.desc} [{'#' * filled}{'.' * (20 - filled)}] "
                         f"{100 * frac:3.0f}% {self.postfix} {speed:,.0f} {self.unit}/s")
        sys.stderr.flush()

    def close(self):
        self._draw("\r")
        sys.stderr.write("\n")
        sys.stderr.flush()


def progress_bar(total, desc, unit):
    """A tqdm bar when tqdm is installed, else a plain one; both show loss and speed."""
    try:
        from tqdm import tqdm
    except ImportError:
        return _TextBar(total, desc, unit)
    return tqdm(total=total, desc=desc, unit=unit, leave=True, file=sys.stderr,
                dynamic_ncols=True)
