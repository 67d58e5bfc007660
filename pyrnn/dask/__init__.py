"""pyrnn on a Dask cluster, for when one machine is not enough (``pip install "pyrnn-cpu[dask]"``).

Dask is the engine here: its scheduler places the work, its workers hold the data, and this
package only says what each task computes.

- :func:`match_worker_threads` — each worker's pyrnn threads = its ``threads_per_worker``,
  for hyper-parameter searches and cross-validation through joblib's dask backend.
- :func:`predict_blocks` — predict a ``dask.array`` / ``dask.dataframe`` / ``dask.bag`` larger
  than memory, block by block, with any fitted estimator.
- :func:`train_data_parallel` — synchronous data-parallel training of a pyrnn network and
  head: each step's gradient is computed on the workers' shards of the global batch, summed
  in a fixed order, and applied as one optimizer update.
"""

from ._predict import predict_blocks
from ._threads import match_worker_threads
from ._train import (
    DataParallelResult,
    final_state_loss,
    global_batches,
    train_data_parallel,
)

__all__ = [
    "DataParallelResult",
    "final_state_loss",
    "global_batches",
    "match_worker_threads",
    "predict_blocks",
    "train_data_parallel",
]
