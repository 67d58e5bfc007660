"""Peak memory of ONE training step, measured in this (fresh) process; prints one JSON line.

    python benchmarks/memprobe.py --config medium --cell lstm --impl pyrnn --threads 2

The kernels allocate in C++, which ``tracemalloc`` cannot see, so this measures the resident
set: after a tiny warm-up step (thread pools, lazy initialisation) and after building the
input and weights, the kernel's high-water mark is reset (``/proc/self/clear_refs``), one
training step runs (forward of every layer-direction, then backward of ``out.sum()`` down to
``dX``, keeping every gradient alive as an optimizer step would), and the rise of ``VmHWM``
over the resident set before the step is the step's peak.

For pyrnn it also reports what BPTT must keep: the bytes of the workspaces
(``engine.Workspace.nbytes``, all layer-directions) and of the arrays the step hands back
(outputs y/h_n/c_n, the ones ``dy``, every gradient): ``required`` is their sum, all live at
once at the end of a one-layer one-direction step (for two layer-directions it slightly
overstates the minimum, as the last layer's workspace can be freed before the first's
backward ends).
"""

from __future__ import annotations

import argparse
import gc
import json

import numpy as np

import rnnbench  # this script's sibling (a script's folder is first on sys.path)


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak():
    """Reset VmHWM to the current RSS; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _nbytes(*arrays):
    return int(sum(a.nbytes for a in arrays if a is not None))


def _pyrnn_step(cfg, cell, x, params):
    """One training step through pyrnn.engine keeping every result; returns (kept, ws_bytes)."""
    from pyrnn import engine

    kind = {"lstm": "lstm", "gru": "gru", "rnn_tanh": "rnn"}[cell]
    kept, ws_bytes = [], 0
    inp, caches = x, []
    for dirs in params:
        outs, layer_ws = [], []
        for d, (w_ih, w_hh, b_ih, b_hh) in enumerate(dirs):
            res = engine.forward(inp, w_ih, w_hh, b_ih, b_hh, cell=kind, reverse=d == 1)
            ws_bytes += res.workspace.nbytes
            kept += [res.y, res.h_n, res.c_n]
            outs.append(res.y)
            layer_ws.append(res.workspace)
        inp = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=2)
        if len(outs) > 1:
            kept.append(inp)
        caches.append(layer_ws)
    dy = np.ones_like(inp)
    kept.append(dy)
    for layer_ws in reversed(caches):
        H = dy.shape[2] // len(layer_ws)
        dx = None
        for d, ws in enumerate(layer_ws):
            dy_d = dy if len(layer_ws) == 1 else np.ascontiguousarray(dy[:, :, d * H : (d + 1) * H])
            g = engine.backward(ws, dy=dy_d)
            kept += [
                dy_d,
                g.dx,
                g.dh0,
                g.dc0,
                g.dweight_ih,
                g.dweight_hh,
                g.dbias_ih,
                g.dbias_hh,
                g.grad_norm_h,
                g.grad_norm_c,
            ]
            dx = g.dx if dx is None else dx + g.dx
        if len(layer_ws) > 1:
            kept.append(dx)
        dy = dx
    # The same array may be listed twice (dy of a one-direction layer): count it once.
    unique = {id(a): a for a in kept if a is not None}
    return list(unique.values()), ws_bytes


def probe(config_name, cell, impl, threads):
    cfg = rnnbench.CONFIGS[config_name]
    limiter = rnnbench.set_threads(threads)
    tiny = rnnbench.Config("tiny", 4, 2, 3, 5, cfg.layers, cfg.bidir)
    rnnbench.make_case(impl, tiny, cell, "train")()  # warm-up: pools, lazy init

    x, params = rnnbench.make_problem(cfg, cell)
    if impl == "pyrnn":

        def step():
            return _pyrnn_step(cfg, cell, x, params)
    else:
        fn = rnnbench.make_case(impl, cfg, cell, "train", x, params)

        def step():
            return list(fn()), None

    gc.collect()
    reset = _reset_peak()
    rss0 = _status_kib("VmRSS")
    hwm0 = _status_kib("VmHWM")
    kept, ws_bytes = step()
    hwm = _status_kib("VmHWM")
    limiter.restore_original_limits()
    out = dict(
        config=config_name,
        cell=cell,
        impl=impl,
        threads=threads,
        peak_reset=reset,
        rss_before_mib=rss0 / 1024,
        peak_mib=(hwm - (rss0 if reset else hwm0)) / 1024,
    )
    if impl == "pyrnn":
        arrays = _nbytes(*kept)
        out.update(
            workspace_mib=ws_bytes / 2**20,
            arrays_mib=arrays / 2**20,
            required_mib=(ws_bytes + arrays) / 2**20,
        )
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, choices=list(rnnbench.CONFIGS))
    ap.add_argument("--cell", required=True, choices=rnnbench.CELLS)
    ap.add_argument("--impl", required=True, choices=("pyrnn", "torch", "numpy"))
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    print(json.dumps(probe(a.config, a.cell, a.impl, a.threads)))


if __name__ == "__main__":
    main()
