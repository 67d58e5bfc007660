"""Each Dask worker's pyrnn thread pool sized to the worker's own threads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from distributed.diagnostics.plugin import WorkerPlugin

from .. import engine

if TYPE_CHECKING:
    from distributed import Client


class _MatchThreads(WorkerPlugin):
    """Set pyrnn's threads to the worker's ``nthreads`` when the worker starts (or now)."""

    name = "pyrnn-match-threads"

    def setup(self, worker):
        engine.set_num_threads(max(1, int(worker.state.nthreads)))


def match_worker_threads(client: Client) -> dict[str, int]:
    """Size every worker's pyrnn thread pool to that worker's ``threads_per_worker``.

    Dask's nanny starts worker processes with ``OMP_NUM_THREADS=1`` (so that libraries do not
    oversubscribe the cores); pyrnn would then run one thread per worker whatever the cluster
    was given. Registered as a worker plugin, this applies to current workers and to workers
    that join later. Use it with workers of one thread each and as many workers as cores for
    searches (every fit is one task), or fewer workers with several threads each for big
    models (one fit uses a worker's threads); a worker running ``nthreads`` tasks at once
    with ``nthreads`` pyrnn threads each would oversubscribe it.

    Parameters
    ----------
    client : distributed.Client

    Returns
    -------
    dict: worker address -> pyrnn threads on that worker.
    """
    client.register_plugin(_MatchThreads())
    return client.run(engine.get_num_threads)
