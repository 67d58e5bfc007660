"""An estimator's whole ``fit`` vs a plain PyTorch training loop (see fitbench.py).

Short-sequence (``digits``, T = 8) and long-sequence (``long``, T = 150) tasks, uni- and
bidirectional LSTM, 1 thread. One timed call is one whole fit (a few epochs); report.py prints
torch time / pyrnn time against the 1.5x target.
"""

from __future__ import annotations

import numpy as np
import pytest

import fitbench


@pytest.mark.parametrize("impl", ["pyrnn", "torch"])
@pytest.mark.parametrize("threads", [1], indirect=True, ids=lambda n: f"{n}t")
@pytest.mark.parametrize("direction", ["uni", "bidir"])
@pytest.mark.parametrize("task", list(fitbench.TASKS))
def test_fit(benchmark, run_timed, task, direction, threads, impl):
    if impl == "torch":
        pytest.importorskip("torch")
    build = fitbench.pyrnn_fit if impl == "pyrnn" else fitbench.torch_fit
    fn = build(task, direction == "bidir")
    X, _ = fitbench.load_task(task)
    benchmark.group = f"fit/{task}/{direction}/{threads}t"
    benchmark.extra_info.update(
        kind="fit",
        task=task,
        direction=direction,
        impl=impl,
        threads=threads,
        epochs=fitbench.TASKS[task].epochs,
        n=X.shape[0],
        T=X.shape[1],
        hidden=fitbench.HIDDEN,
    )
    curve = run_timed(benchmark, fn)
    assert len(curve) == fitbench.TASKS[task].epochs and np.all(np.isfinite(curve))
