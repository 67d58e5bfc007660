"""Synchronous data-parallel training of a pyrnn network and head on a Dask cluster.

The sequences stay where Dask put them: one block of samples per partition, on its worker.
Each step of training, the driver (this process) holds the parameters and the optimizer;
the global batch is the same as single-process training would draw (:func:`global_batches`);
its samples fall into the partitions, and each partition's shard is one task, run next to
its data: forward, loss, backward, giving the shard's share of the batch-mean gradient
(the shard's mean scaled by shard/batch size). The shards' gradients are summed on the
workers in a fixed pairwise tree over partition order (whichever worker ran what), the
driver receives the one sum, applies optional clipping and one optimizer update, and
broadcasts the new parameters to the workers for the next step.

Results therefore do not depend on the number of workers, on where the blocks live or on
thread counts (the engine is deterministic for any thread count); they differ from one
process computing the whole batch at once only by the order of floating-point sums.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import dask
import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import losses
from ..clip import clip_grad_norm

if TYPE_CHECKING:
    from distributed import Client

    from ..heads import Linear
    from ..network import GRU, LSTM, RNN
    from ..optim import Optimizer

LOSSES = {"softmax_cross_entropy": losses.softmax_cross_entropy, "mse": losses.mse}


def global_batches(
    n_samples: int,
    batch_size: int,
    epochs: int,
    *,
    shuffle: bool = True,
    random_state: int | np.random.Generator | None = 0,
) -> list[NDArray[np.int64]]:
    """The global batches of ``epochs`` passes over ``n_samples`` samples, in order.

    Each epoch is a permutation (drawn from ``np.random.default_rng(random_state)``, one per
    epoch) cut into batches of ``batch_size`` (the last one may be smaller). Returns a list
    of int arrays of sample indices; single-process training on these batches is what
    :func:`train_data_parallel` reproduces.
    """
    rng = np.random.default_rng(random_state)
    batches = []
    for _ in range(epochs):
        order = rng.permutation(n_samples) if shuffle else np.arange(n_samples)
        batches += [order[i : i + batch_size] for i in range(0, n_samples, batch_size)]
    return batches


def final_state_loss(
    net: RNN | LSTM | GRU,
    head: Linear,
    x: np.ndarray,
    y: np.ndarray,
    lengths: ArrayLike | None,
    loss: str,
    scale: float = 1.0,
) -> float:
    """Forward and backward of ``loss(head(final state of the last layer), y) * scale``.

    x : array (B, T, F); y : targets (B,) or (B, K); lengths : int array (B,) or None.
    The features are the last layer's final hidden state, directions concatenated
    (B, D*H), as ``RNNClassifier`` / ``RNNRegressor`` read a sequence (for a forward
    direction: its output at each sequence's last valid step). Gradients are added to
    ``net.grad`` and ``head.grad``; returns the scaled loss.
    """
    _, state = net.forward(
        x if net.batch_first else x.transpose(1, 0, 2), lengths=lengths, outputs=False
    )
    h_n = state[0] if net.cell == "lstm" else state  # (L*D, B, H)
    D, H = net.num_directions, net.hidden_size
    value, dpred = LOSSES[loss](head.forward(np.concatenate(list(h_n[-D:]), axis=1)), y)
    dfeat = head.backward(dpred * dpred.dtype.type(scale))
    dh = np.zeros_like(h_n)
    for d in range(D):
        dh[len(h_n) - D + d] = dfeat[:, d * H : (d + 1) * H]
    net.backward(None, (dh, None) if net.cell == "lstm" else dh, input_grad=False)
    return float(value) * scale


def _shard_gradient(model, params, x_part, y_part, len_part, rows, n_batch, loss):
    """On a worker: one shard's share of the batch-mean loss and gradient, and its time."""
    start = time.perf_counter()
    net, head = copy.deepcopy(model)  # the template is shared by the worker's tasks
    net.params[...] = params[: net.params.size]
    head.params[...] = params[net.params.size :]
    net.weights_changed()  # written by hand: no packed copy of older weights may be used
    net.zero_grad()
    head.zero_grad()
    lengths = None if len_part is None else len_part[rows]
    x = np.ascontiguousarray(x_part[rows], dtype=net.dtype)
    value = final_state_loss(net, head, x, y_part[rows], lengths, loss, len(rows) / n_batch)
    return value, np.concatenate([net.grad, head.grad]), time.perf_counter() - start


def _combine(a, b):
    """Two partial results (loss, gradient, slowest shard's seconds) as one."""
    return a[0] + b[0], a[1] + b[1], max(a[2], b[2])


def _tree_sum(parts):
    """The sum of the shards' results as a pairwise tree over partition order (neighbours
    first), built lazily so that it runs on the workers: the driver receives one gradient
    instead of one per shard."""
    while len(parts) > 1:
        pairs = [
            dask.delayed(_combine, pure=False)(parts[i], parts[i + 1])
            for i in range(0, len(parts) - 1, 2)
        ]
        parts = pairs + parts[len(parts) - len(parts) % 2 :]
    return parts[0]


@dataclass
class DataParallelResult:
    """What :func:`train_data_parallel` measured, one entry per optimizer step.

    loss_curve : batch-mean training loss before each update.
    step_seconds : wall time of each step as seen by the driver (tasks, transfers, update).
    shard_seconds : the slowest shard's compute time in each step.
    """

    loss_curve: list = field(default_factory=list)
    step_seconds: list = field(default_factory=list)
    shard_seconds: list = field(default_factory=list)

    @property
    def communication_share(self) -> float:
        """Share of the step time not spent computing the slowest shard: scheduling,
        moving parameters and gradients, summing them and the update."""
        total = sum(self.step_seconds)
        return 1.0 - sum(self.shard_seconds) / total if total > 0 else 0.0


def _check_inputs(net, head, optimizer, X, y, lengths, loss):
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    if net.dropout > 0:
        raise ValueError(
            "data-parallel training needs dropout=0: dropout masks would depend "
            "on how the global batch is sharded"
        )
    features = net.num_directions * net.hidden_size
    if head.in_features != features or head.dtype != net.dtype:
        raise ValueError(
            f"head takes {head.in_features} {head.dtype} features, the network's "
            f"final state gives {features} {net.dtype}"
        )
    trained = {id(p) for p, _ in optimizer.pairs}
    if id(net.params) not in trained or id(head.params) not in trained:
        raise ValueError(
            "the optimizer must update net.params and head.params, e.g. "
            "pyrnn.optim.Adam([net, head], lr=1e-3)"
        )
    if not isinstance(X, da.Array) or X.ndim != 3 or X.shape[2] != net.input_size:
        raise TypeError(
            f"X must be a dask.array (n_samples, T, {net.input_size}), got "
            f"{type(X).__name__} of shape {getattr(X, 'shape', None)}"
        )
    n = X.shape[0]
    for name, a in (("y", y), ("lengths", lengths)):
        if a is not None and len(a) != n:
            raise ValueError(f"{name} has {len(a)} rows, X has {n} samples")


def _partitions(client, X, y, lengths, workers):
    """Futures of X's, y's and lengths' blocks (aligned on samples) and their offsets."""
    X = X.rechunk({1: -1, 2: -1})
    chunks = X.chunks[0]

    def blocks(a):
        a = da.asarray(a).rechunk({0: chunks, **{i: -1 for i in range(1, np.ndim(a))}})
        return client.compute(list(a.to_delayed().ravel()), workers=workers)

    parts = (blocks(X), blocks(y), [None] * len(chunks) if lengths is None else blocks(lengths))
    return parts, np.concatenate([[0], np.cumsum(chunks)])


def train_data_parallel(
    client: Client,
    net: RNN | LSTM | GRU,
    head: Linear,
    optimizer: Optimizer,
    X: da.Array,
    y: ArrayLike,
    *,
    lengths: ArrayLike | None = None,
    loss: str = "softmax_cross_entropy",
    batch_size: int = 64,
    epochs: int = 1,
    shuffle: bool = True,
    random_state: int | np.random.Generator | None = 0,
    max_norm: float | None = None,
    workers: Sequence[str] | None = None,
) -> DataParallelResult:
    """Train ``net`` and ``head`` in place, data-parallel over the cluster's workers.

    The model is ``head(final state of net's last layer)`` trained on ``loss``, the
    sequence-to-one model of ``RNNClassifier`` / ``RNNRegressor``; see
    :func:`final_state_loss`. Each step: the global batch (:func:`global_batches`) is split by
    the partitions of X, each shard's gradient is computed on a worker, the gradients are
    summed in a fixed pairwise tree over partition order, and the driver clips
    (``max_norm``) and calls ``optimizer.step()`` once.

    Parameters
    ----------
    client : distributed.Client
    net : pyrnn.RNN / LSTM / GRU with dropout=0
    head : pyrnn.heads.Linear (num_directions * hidden_size -> outputs)
    optimizer : pyrnn.optim optimizer over at least ``net`` and ``head``
    X : dask.array (n_samples, T, F), chunked along samples (a partition per block)
    y : dask or numpy array (n_samples,) of int classes, or (n_samples, K) float targets
    lengths : dask or numpy int array (n_samples,), optional (variable-length sequences)
    loss : "softmax_cross_entropy" or "mse"
    batch_size, epochs, shuffle, random_state : the global batches (see global_batches)
    max_norm : float, optional; clip the summed gradient's global norm (clip_grad_norm)
    workers : list of worker addresses, optional; restrict the data and tasks to these

    Returns
    -------
    DataParallelResult (loss curve and timings, one entry per step)
    """
    _check_inputs(net, head, optimizer, X, y, lengths, loss)
    (x_parts, y_parts, len_parts), offsets = _partitions(client, X, y, lengths, workers)
    # Every scatter gets a fresh key (hash=False). A content-hashed key would be the same for
    # an equal model scattered by the previous call, whose future was just dropped: the
    # client's release of that key travels on its batched stream, the new scatter by a direct
    # call, so the scheduler can apply the release after the scatter, forget the key the new
    # future names, and cancel the next step "for reason: lost dependencies" (dask/distributed
    # issues 3703 and 8576).
    [model] = client.scatter([(net, head)], broadcast=True, workers=workers, hash=False)
    result = DataParallelResult()
    n_net = net.params.size
    for batch in global_batches(
        X.shape[0], batch_size, epochs, shuffle=shuffle, random_state=random_state
    ):
        start = time.perf_counter()
        params = client.scatter(
            np.concatenate([net.params, head.params]), broadcast=True, workers=workers, hash=False
        )
        part_of = np.searchsorted(offsets, batch, side="right") - 1
        shards = [
            dask.delayed(_shard_gradient, pure=False)(
                model,
                params,
                x_parts[p],
                y_parts[p],
                len_parts[p],
                batch[part_of == p] - offsets[p],
                len(batch),
                loss,
            )
            for p in np.unique(part_of)
        ]  # ascending partition order
        # One graph per step (shards and sums): submitted and released as a whole.
        value, grad, shard_seconds = client.compute(_tree_sum(shards), workers=workers).result()
        optimizer.zero_grad()
        net.grad[...] = grad[:n_net]
        head.grad[...] = grad[n_net:]
        if max_norm is not None:
            clip_grad_norm([net.grad, head.grad], max_norm)
        optimizer.step()
        result.loss_curve.append(value)
        result.shard_seconds.append(shard_seconds)
        result.step_seconds.append(time.perf_counter() - start)
    return result
