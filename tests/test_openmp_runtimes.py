"""One OpenMP runtime story: pyrnn beside PyTorch and scikit-learn in one process.

Each of the three may bring its own OpenMP runtime (wheels bundle one: libgomp on Linux,
libomp on macOS/Windows), and which copy pyrnn ends up calling depends on what was loaded
first. Whatever the order of the imports, every library must compute correctly, and
threadpoolctl must see the runtime pyrnn uses and limit pyrnn's pool through it. Each
import order runs in a fresh interpreter (an import order cannot be undone in-process).
"""

import itertools
import json
import subprocess
import sys

import pytest
from support import TESTS_DIR, subprocess_env

pytest.importorskip("torch")
pytest.importorskip("threadpoolctl")

# The child: imports in the given order, then checks results and thread control; prints JSON.
CHILD = r"""
import importlib, json, sys
for name in sys.argv[1].split(","):
    importlib.import_module(name)
import numpy as np
import torch
from sklearn.cluster import KMeans
from threadpoolctl import ThreadpoolController, threadpool_limits

import reference as ref
from pyrnn import engine

T, B, I, H = 12, 5, 4, 8
arrays, options = ref.random_problem("lstm", T, B, I, H, seed=3)
args = [arrays[k] for k in ("x", "weight_ih", "weight_hh", "bias_ih", "bias_hh")]
state = dict(h0=arrays["h0"], c0=arrays["c0"])

def pyrnn_y():
    return engine.forward(*args, cell="lstm", **state).y

expected = ref.forward(*args, cell="lstm", **state).y
module = torch.nn.LSTM(I, H).double()
with torch.no_grad():
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(module, name + "_l0").copy_(torch.from_numpy(arrays[name]))
    y_torch = module(torch.from_numpy(args[0]),
                     (torch.from_numpy(state["h0"])[None], torch.from_numpy(state["c0"])[None]))[0]
blobs = np.concatenate([np.zeros((50, 2)), np.full((50, 2), 10.0)])
labels = KMeans(n_clusters=2, n_init=1, random_state=0).fit(blobs).labels_  # sklearn's OpenMP

y = pyrnn_y()
omp_threads = lambda: engine.config()["omp_max_threads"]
default = omp_threads()  # (torch sets its runtime's size at import: it may be pyrnn's too)
controller = ThreadpoolController()
runtimes = controller.select(user_api="openmp").lib_controllers
with controller.select(user_api="openmp").limit(limits=3):  # > 1 on any machine
    raised = omp_threads()
    owners = []  # the runtimes whose limit reaches pyrnn's pool
    for lib in runtimes:
        with controller.select(filepath=lib.filepath).limit(limits=1):
            if omp_threads() == 1:
                owners.append(lib.filepath)
    with threadpool_limits(limits=1, user_api="openmp"):
        limited = omp_threads()
        y_limited = pyrnn_y()
    back = omp_threads()
print(json.dumps(dict(
    pyrnn_error=float(np.max(np.abs(y - expected))),
    torch_error=float(np.max(np.abs(y_torch.numpy() - expected))),
    kmeans_ok=bool(len(set(labels[:50])) == 1 and len(set(labels[50:])) == 1
                   and labels[0] != labels[50]),
    limited_equal=bool(np.array_equal(y, y_limited)),
    runtimes=[lib.filepath for lib in runtimes], owners=owners, default=default,
    raised=raised, limited=limited, back=back, restored=omp_threads())))
"""

ORDERS = [",".join(p) for p in itertools.permutations(["torch", "sklearn", "pyrnn"])]


@pytest.mark.parametrize("order", ORDERS)
def test_import_order(order):
    env = subprocess_env()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, order],
        cwd=TESTS_DIR,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["pyrnn_error"] < 1e-12 and r["torch_error"] < 1e-12, r
    assert r["kmeans_ok"], r
    # threadpoolctl sees pyrnn's runtime: setting the OpenMP pools to 3 threads, then to 1,
    # reaches pyrnn's pool, each limit is undone on exit, and the results do not move.
    assert r["owners"], f"no OpenMP runtime threadpoolctl sees controls pyrnn: {r}"
    assert (r["raised"], r["limited"], r["back"]) == (3, 1, 3), r
    assert r["restored"] == r["default"], r
    assert r["limited_equal"], r
