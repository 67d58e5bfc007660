"""The report's tables for the performance targets of issue 10 (used by report.py).

Each table is built from the benchmarks' ``extra_info`` (``kind`` says which suite) by a
``*_rows`` function and printed by :func:`render`; :func:`target_summary` checks every target
of the issue against the rows. Columns are explained in benchmarks/README.md.

* activations (``test_activations.py``, one run per ISA level): ns per element, numpy beside.
* efficiency (``test_rnn.py`` + ``test_gemm.py::test_gemm_rnn_equivalent``): a network's
  forward / training step against pyrnn's own GEMM over the same FLOPs.
* GEMM vs the best of numpy and torch.matmul (``test_gemm.py``).
* wavefront (``test_wavefront.py``), step() latency (``test_step.py``), whole fits
  (``test_fit.py``).
"""

from __future__ import annotations

import os

# Environment a run's figures depend on beyond report.py's own (PYRNN_ISA and PyTorch's caps).
ISA_ENV_VARS = ("PYRNN_ISA", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")

EFFICIENCY_TARGETS = {"infer": 90.0, "train": 80.0}  # % of pyrnn's own GEMM GFLOP/s
WAVEFRONT_TARGET = 1.6  # layered time / grouped time, 2 threads, B <= 8
STEP_TARGET = 3.0  # torch time / pyrnn time per step() at B = 1, H = 128
FIT_TARGET = 1.5  # torch loop time / estimator fit time
TORCH_TARGETS = {"never slower": 1.0, "gru/rnn medium+large": 1.5, "small-latency": 2.0}
MEMORY_TARGET = 1.10  # peak / required, at most


# --------------------------------------------------------------------------- reading


def _entries(bench_json, kind, stat):
    """``[(extra_info, seconds)]`` of the benchmarks of ``kind``."""
    return [
        (b["extra_info"], b["stats"][stat])
        for b in (bench_json or {}).get("benchmarks", [])
        if b.get("extra_info", {}).get("kind") == kind
    ]


def _pairs(entries, key, split="impl"):
    """Group timings by ``key(extra_info)``: ``{key: {extra_info[split]: seconds}}``, in
    first-seen order."""
    out = {}
    for e, t in entries:
        out.setdefault(key(e), {})[e[split]] = t
    return out


def _ratio(num, den):
    return num / den if num and den else None


def _met(ratio, target):
    """'yes'/'no' for a measured ratio against its target, '-' when not measured."""
    return "-" if ratio is None else ("yes" if ratio >= target else "no")


# --------------------------------------------------------------------------- rows


def activation_rows(runs, stat):
    """One row per (activation, ISA level): pyrnn and numpy ns per element in the same run.

    ``runs``: ``{level: pytest-benchmark JSON of test_activations.py run with PYRNN_ISA=level}``.
    """
    rows = []
    for level, bench_json in runs.items():
        entries = _entries(bench_json, "activation", stat)
        for name, t in _pairs(entries, lambda e: e["name"]).items():
            n = next(e["n"] for e, _ in entries if e["name"] == name)
            pyrnn_ns = t.get("pyrnn") and t["pyrnn"] / n * 1e9
            numpy_ns = t.get("numpy") and t["numpy"] / n * 1e9
            rows.append(
                dict(
                    name=name,
                    isa=level,
                    n=n,
                    pyrnn_ns=pyrnn_ns,
                    numpy_ns=numpy_ns,
                    numpy_over_pyrnn=_ratio(numpy_ns, pyrnn_ns),
                )
            )
    return rows


def efficiency_rows(bench_json, stat):
    """pyrnn's forward / training step against pyrnn's own GEMM over the same FLOPs.

    The GEMM time for training is 3x the forward's (the FLOP model's 3x). ``pct_gemm`` is
    the RNN's GFLOP/s as % of the GEMM's, i.e. GEMM-equivalent time / RNN time.
    """
    gemm = {
        (e["config"], e["cell"], e["threads"]): (t, e["flops"])
        for e, t in _entries(bench_json, "gemm_equiv", stat)
        if e["impl"] == "pyrnn"
    }
    rows = []
    for e, t in _entries(bench_json, "rnn", stat):
        g = gemm.get((e["config"], e["cell"], e["threads"]))
        if e["impl"] != "pyrnn" or g is None:
            continue
        scale = 3.0 if e["mode"] == "train" else 1.0
        gemm_s, flop = g[0] * scale, g[1] * scale
        pct = 100.0 * gemm_s / t
        goal = EFFICIENCY_TARGETS[e["mode"]]
        rows.append(
            dict(
                config=e["config"],
                cell=e["cell"],
                mode=e["mode"],
                threads=e["threads"],
                pyrnn_ms=t * 1e3,
                gemm_ms=gemm_s * 1e3,
                pyrnn_gflops=flop / t / 1e9,
                gemm_gflops=flop / gemm_s / 1e9,
                pct_gemm=pct,
                target=goal,
                met=pct >= goal,
            )
        )
    return rows


def gemm_best_rows(bench_json, stat):
    """pyrnn's GEMM against the faster of numpy.matmul and torch.matmul, per shape and
    thread count: the kernels' shapes (``gemm``) and the RNN-equivalent ones (``gemm_equiv``)."""
    rows = []
    for kind, label in (
        ("gemm", lambda e: e["shape"]),
        ("gemm_equiv", lambda e: f"rnn-{e['config']}-{e['cell']}"),
    ):
        entries = _entries(bench_json, kind, stat)
        flops = {(label(e), e["threads"]): e["flops"] for e, _ in entries}
        by_shape = _pairs(entries, lambda e, label=label: (label(e), e["threads"]))
        for (shape, threads), t in by_shape.items():
            others = {k: v for k, v in t.items() if k in ("numpy", "torch") and v}
            best = min(others, key=others.get) if others else None
            p = t.get("pyrnn")
            rows.append(
                dict(
                    shape=shape,
                    rnn_equivalent=kind == "gemm_equiv",
                    threads=threads,
                    pyrnn_ms=p and p * 1e3,
                    numpy_ms=t.get("numpy") and t["numpy"] * 1e3,
                    torch_ms=t.get("torch") and t["torch"] * 1e3,
                    pyrnn_gflops=p and flops[(shape, threads)] / p / 1e9,
                    best=best,
                    best_over_pyrnn=_ratio(others.get(best), p),
                )
            )
    return rows


def wavefront_rows(bench_json, stat):
    """Layered time / grouped time per network, cell, batch, mode and thread count."""
    entries = _entries(bench_json, "wavefront", stat)
    planned = {
        (e["net"], e["cell"], e["B"], e["mode"], e["threads"]): e["grouped"]
        for e, _ in entries
        if e["variant"] == "grouped"
    }
    rows = []
    for key, t in _pairs(
        entries, lambda e: (e["net"], e["cell"], e["B"], e["mode"], e["threads"]), split="variant"
    ).items():
        g, lay = t.get("grouped"), t.get("layered")
        rows.append(
            dict(
                net=key[0],
                cell=key[1],
                B=key[2],
                mode=key[3],
                threads=key[4],
                grouped_ms=g and g * 1e3,
                layered_ms=lay and lay * 1e3,
                plan_groups=planned.get(key),
                ratio=_ratio(lay, g),
                target=WAVEFRONT_TARGET,
            )
        )
    return rows


def step_rows(bench_json, stat):
    """Time per ``step()`` call (us) of pyrnn and torch (T = 1), and torch / pyrnn."""
    entries = _entries(bench_json, "step", stat)
    steps = {e["cell"]: e["steps"] for e, _ in entries}
    rows = []
    for (cell, threads), t in _pairs(entries, lambda e: (e["cell"], e["threads"])).items():
        per = {k: v / steps[cell] * 1e6 for k, v in t.items()}
        rows.append(
            dict(
                cell=cell,
                threads=threads,
                pyrnn_us=per.get("pyrnn"),
                torch_us=per.get("torch"),
                ratio=_ratio(per.get("torch"), per.get("pyrnn")),
                target=STEP_TARGET,
            )
        )
    return rows


def fit_rows(bench_json, stat):
    """Seconds per whole fit of the estimator and of the PyTorch loop, and torch / pyrnn."""
    entries = _entries(bench_json, "fit", stat)
    info = {(e["task"], e["direction"], e["threads"]): e for e, _ in entries}
    rows = []
    for key, t in _pairs(entries, lambda e: (e["task"], e["direction"], e["threads"])).items():
        e = info[key]
        rows.append(
            dict(
                task=key[0],
                direction=key[1],
                threads=key[2],
                T=e["T"],
                n=e["n"],
                epochs=e["epochs"],
                pyrnn_s=t.get("pyrnn"),
                torch_s=t.get("torch"),
                ratio=_ratio(t.get("torch"), t.get("pyrnn")),
                target=FIT_TARGET,
            )
        )
    return rows


def isa_env():
    """The variables of ``ISA_ENV_VARS`` set in this process's environment."""
    return {k: os.environ[k] for k in ISA_ENV_VARS if os.environ.get(k)}


def build(bench_json, stat):
    """The rows of every table here from one pytest-benchmark JSON (activations aside)."""
    return dict(
        efficiency_rows=efficiency_rows(bench_json, stat),
        gemm_best_rows=gemm_best_rows(bench_json, stat),
        wavefront_rows=wavefront_rows(bench_json, stat),
        step_rows=step_rows(bench_json, stat),
        fit_rows=fit_rows(bench_json, stat),
    )


# --------------------------------------------------------------------------- targets


def _summary(target, goal, cases, higher=True):
    """One target: ``cases`` is ``[(label, ratio)]`` (ratio None: not measured)."""
    cases = [(label, r) for label, r in cases if r is not None]
    if not cases:
        return dict(
            target=target, goal=goal, cases=0, met=0, worst=None, worst_case=None, all_met=None
        )
    ok = (lambda r: r >= goal) if higher else (lambda r: r <= goal)
    label, worst = (min if higher else max)(cases, key=lambda c: c[1])
    n_met = sum(ok(r) for _, r in cases)
    return dict(
        target=target,
        goal=goal,
        cases=len(cases),
        met=n_met,
        worst=worst,
        worst_case=label,
        all_met=n_met == len(cases),
    )


def _gru_rnn_target_row(r):
    """Whether an RNN-table row counts for the GRU/RNN target (medium and large, GRU and RNN)."""
    return r["config"] in ("medium", "large") and r["cell"] in ("gru", "rnn_tanh")


def target_summary(report):
    """Every target of issue 10 against this report's rows: cases measured, how many met,
    the worst ratio and where. A target with no measured case says so (``cases`` 0)."""
    rnn = [
        (f"{r['config']} {r['cell']} {r['mode']} {r['threads']}t", r["torch_over_pyrnn"])
        for r in report.get("rnn_rows") or []
    ]
    eff = report.get("efficiency_rows") or []
    mem = [
        (f"{r['config']} {r['cell']}", r["peak_mib"] / r["required_mib"])
        for r in report.get("memory_rows") or []
        if r.get("impl") == "pyrnn" and r["config"] != "small-latency" and r.get("required_mib")
    ]
    return [
        _summary(
            "never slower than PyTorch (every cell x config x mode x threads)",
            TORCH_TARGETS["never slower"],
            rnn,
        ),
        _summary(
            "GRU and RNN vs PyTorch on medium and large",
            TORCH_TARGETS["gru/rnn medium+large"],
            [c for c, r in zip(rnn, report.get("rnn_rows") or []) if _gru_rnn_target_row(r)],
        ),
        _summary(
            "small-latency (B = 1) vs PyTorch",
            TORCH_TARGETS["small-latency"],
            [c for c in rnn if c[0].startswith("small-latency ")],
        ),
        _summary(
            "step() at B = 1, H = 128 vs torch T = 1",
            STEP_TARGET,
            [(f"{r['cell']} {r['threads']}t", r["ratio"]) for r in report.get("step_rows") or []],
        ),
        _summary(
            "estimator fit vs a plain PyTorch loop",
            FIT_TARGET,
            [
                (f"{r['task']} {r['direction']} {r['threads']}t", r["ratio"])
                for r in report.get("fit_rows") or []
            ],
        ),
        *(
            _summary(
                f"{mode} at % of pyrnn's own GEMM (medium, large, 1 thread)",
                goal,
                [
                    (f"{r['config']} {r['cell']}", r["pct_gemm"])
                    for r in eff
                    if r["mode"] == mode and r["threads"] == 1
                ],
            )
            for mode, goal in EFFICIENCY_TARGETS.items()
        ),
        _summary(
            "pyrnn GEMM vs best of numpy/torch.matmul on the RNN shapes",
            1.0,
            [
                (f"{r['shape']} {r['threads']}t", r["best_over_pyrnn"])
                for r in report.get("gemm_best_rows") or []
                if r["rnn_equivalent"]
            ],
        ),
        _summary(
            "wavefront vs layer by layer (2 threads, B <= 8)",
            WAVEFRONT_TARGET,
            [
                (f"{r['net']} {r['cell']} B{r['B']} {r['mode']}", r["ratio"])
                for r in report.get("wavefront_rows") or []
                if r["threads"] == 2 and r["B"] <= 8
            ],
        ),
        _summary(
            "peak training memory / what BPTT keeps (medium, large, bidir)",
            MEMORY_TARGET,
            mem,
            higher=False,
        ),
    ]


# --------------------------------------------------------------------------- printing


def render(report, table, fmt):
    """The tables of this module as lines; ``table``/``fmt`` are report.py's formatters."""
    out = []
    env = report.get("isa_env")
    if env:
        out += [f"Environment of this run: {', '.join(f'{k}={v}' for k, v in env.items())}", ""]
    out += render_activations(report.get("activation_rows"), table, fmt)
    for make in (
        _efficiency_table,
        _gemm_best_table,
        _wavefront_table,
        _step_table,
        _fit_table,
        _targets_table,
    ):
        spec = make(report, fmt)
        if spec:
            title, headers, aligns, body, notes = spec
            out += [title, table(headers, body, aligns), *notes, ""]
    return out


# Each *_table returns (title, headers, aligns, body rows, notes) or None when it has no rows.


def _efficiency_table(report, fmt):
    rows = report.get("efficiency_rows")
    return rows and (
        "Efficiency: pyrnn's network against pyrnn's own GEMM over the same FLOPs "
        "(one (T*B) x (I+H) x (G*H) engine.gemm per layer-direction; 3x for train)",
        [
            "config",
            "cell",
            "mode",
            "thr",
            "pyrnn ms",
            "GEMM ms",
            "pyrnn GFLOP/s",
            "GEMM GFLOP/s",
            "% of GEMM",
            "target %",
            "met",
        ],
        "lllrrrrrrrl",
        [
            [
                r["config"],
                r["cell"],
                r["mode"],
                r["threads"],
                fmt(r["pyrnn_ms"], ".3f"),
                fmt(r["gemm_ms"], ".3f"),
                fmt(r["pyrnn_gflops"], ".1f"),
                fmt(r["gemm_gflops"], ".1f"),
                fmt(r["pct_gemm"], ".0f"),
                f"{r['target']:.0f}",
                "yes" if r["met"] else "no",
            ]
            for r in rows
        ],
        ["The targets hold at 1 thread; 2-thread rows are for information."],
    )


def _gemm_best_table(report, fmt):
    rows = report.get("gemm_best_rows")
    return rows and (
        "GEMM: engine.gemm against the faster of numpy.matmul and torch.matmul",
        ["shape", "thr", "pyrnn ms", "numpy ms", "torch ms", "pyrnn GFLOP/s", "best", "best/pyrnn"],
        "lrrrrrlr",
        [
            [
                r["shape"],
                r["threads"],
                fmt(r["pyrnn_ms"], ".3f"),
                fmt(r["numpy_ms"], ".3f"),
                fmt(r["torch_ms"], ".3f"),
                fmt(r["pyrnn_gflops"], ".1f"),
                r["best"] or "-",
                fmt(r["best_over_pyrnn"], ".2f"),
            ]
            for r in rows
        ],
        [
            "rnn-<config>-<cell>: the GEMMs of the efficiency table (one per layer-direction, timed "
            "together). best/pyrnn >= 1: pyrnn's GEMM is at least as fast (target on rnn-* rows)."
        ],
    )


def _wavefront_table(report, fmt):
    rows = report.get("wavefront_rows")
    return rows and (
        f"Wavefront: layers/directions at once (grouped, the default) vs layer by layer "
        f"(T=100, I=64, H=128); target layered/grouped >= {WAVEFRONT_TARGET}",
        [
            "network",
            "cell",
            "B",
            "mode",
            "thr",
            "grouped ms",
            "layered ms",
            "plan groups",
            "layered/grouped",
            "met",
        ],
        "llrlrrrlrl",
        [
            [
                r["net"],
                r["cell"],
                r["B"],
                r["mode"],
                r["threads"],
                fmt(r["grouped_ms"], ".3f"),
                fmt(r["layered_ms"], ".3f"),
                {True: "yes", False: "no", None: "-"}[r["plan_groups"]],
                fmt(r["ratio"], ".2f"),
                _met(r["ratio"], r["target"]),
            ]
            for r in rows
        ],
        [
            "plan groups: whether engine.plan chose to group at this shape (if not, both variants "
            "run the same code; train: in forward or backward). 2layer: the forward as a "
            "wavefront where plan chain_layers holds, the backward where group_layers does; "
            "bidir: both directions at once in forward and backward."
        ],
    )


def _step_table(report, fmt):
    rows = report.get("step_rows")
    return rows and (
        f"step(): one streaming step at B=1, I=64, H=128 vs torch.nn with T=1 "
        f"(state fed back, no_grad); target torch/pyrnn >= {STEP_TARGET}",
        ["cell", "thr", "pyrnn us/step", "torch us/step", "torch/pyrnn", "met"],
        "lrrrrl",
        [
            [
                r["cell"],
                r["threads"],
                fmt(r["pyrnn_us"], ".1f"),
                fmt(r["torch_us"], ".1f"),
                fmt(r["ratio"], ".2f"),
                _met(r["ratio"], r["target"]),
            ]
            for r in rows
        ],
        [],
    )


def _fit_table(report, fmt):
    rows = report.get("fit_rows")
    return rows and (
        f"Whole fits: RNNClassifier.fit vs a plain PyTorch loop, same model and settings "
        f"(LSTM H=64, Adam, batch 32, clip 5); target torch/pyrnn >= {FIT_TARGET}",
        [
            "task",
            "direction",
            "T",
            "n",
            "epochs",
            "thr",
            "pyrnn s",
            "torch s",
            "torch/pyrnn",
            "met",
        ],
        "llrrrrrrrl",
        [
            [
                r["task"],
                r["direction"],
                r["T"],
                r["n"],
                r["epochs"],
                r["threads"],
                fmt(r["pyrnn_s"], ".3f"),
                fmt(r["torch_s"], ".3f"),
                fmt(r["ratio"], ".2f"),
                _met(r["ratio"], r["target"]),
            ]
            for r in rows
        ],
        [],
    )


def gru_rnn_needed(report):
    """For the GRU/RNN target: per config and thread count, the range of the speed pyrnn would
    need for torch/pyrnn to reach the goal, as % of the measured FMA peak (from torch's time in
    the run: pct_peak * goal / ratio). Above 100: no implementation of the same FLOPs meets it."""
    goal = TORCH_TARGETS["gru/rnn medium+large"]
    need = {}
    for r in report.get("rnn_rows") or []:
        ratio, pct = r.get("torch_over_pyrnn"), r.get("pct_peak")
        if _gru_rnn_target_row(r) and ratio and pct:
            need.setdefault((r["config"], r["threads"]), []).append(pct * goal / ratio)
    return {key: (min(v), max(v)) for key, v in need.items()}


def _targets_table(report, fmt):
    rows = target_summary(report)
    if not any(r["cases"] for r in rows):
        return None
    need = gru_rnn_needed(report)
    need_line = (
        [
            f"GRU and RNN at >= {TORCH_TARGETS['gru/rnn medium+large']:g}x would take, from torch's "
            "time in this run, this % of the measured FMA peak: "
            + "; ".join(
                f"{config} {threads}t {lo:.0f}-{hi:.0f}%"
                for (config, threads), (lo, hi) in sorted(need.items())
            )
            + " (above 100: beyond any implementation of the same FLOPs)."
        ]
        if need
        else []
    )
    return (
        "Issue-10 targets (worst case of each; '-': not measured in this run)",
        ["target", "goal", "cases", "met", "worst", "worst case", "all met"],
        "lrrrrll",
        [
            [
                r["target"],
                f"{'<=' if r['target'].startswith('peak') else '>='} {r['goal']:g}",
                r["cases"],
                r["met"],
                fmt(r["worst"], ".2f"),
                r["worst_case"] or "-",
                {True: "yes", False: "NO", None: "-"}[r["all_met"]],
            ]
            for r in rows
        ],
        need_line + ["Not measured here: robustness under load (a busy core beside the run)."],
    )


def render_activations(rows, table, fmt):
    """The activation table: ns per element per ISA level, numpy in the same process."""
    if not rows:
        return []
    return [
        "Activations: float32 ns per element (engine.activation on 2^20 elements, 1 thread) at "
        "each ISA level, numpy in the same process",
        table(
            ["activation", "ISA", "pyrnn ns/elem", "numpy ns/elem", "numpy/pyrnn"],
            [
                [
                    r["name"],
                    r["isa"],
                    fmt(r["pyrnn_ns"], ".3f"),
                    fmt(r["numpy_ns"], ".3f"),
                    fmt(r["numpy_over_pyrnn"], ".2f"),
                ]
                for r in rows
            ],
            "llrrr",
        ),
        "numpy's sigmoid is 1 / (1 + np.exp(-x)); numpy does not depend on PYRNN_ISA.",
        "",
    ]
