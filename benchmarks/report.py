"""Run the benchmarks and print one table: pyrnn vs PyTorch vs a numpy loop, and the GEMM.

    python benchmarks/report.py                    # everything (a few minutes on 2 cores)
    python benchmarks/report.py --quick            # short runs, for a first look
    python benchmarks/report.py --threads 1 --filter "medium and lstm"
    python benchmarks/report.py --isa all          # once per ISA level, in subprocesses
    python benchmarks/report.py --json benchmarks/results/report-....json   # re-print a run

It runs ``pytest benchmarks/`` (pytest-benchmark) in a subprocess, then, if
``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` are set, the numpy half of the GEMM benchmarks
again with them unset, then one fresh process per configuration for the peak memory of a
training step, then the activation benchmarks once per ISA level (``PYRNN_ISA`` set). The
issue-10 tables (efficiency against pyrnn's own GEMM, wavefront, ``step()``, whole fits,
targets) come from perfreport.py, the per-level runs from isarun.py. It prints the measured
FMA peak, the tables, and saves everything as JSON under
``benchmarks/results/``. ``--json`` also reads a plain pytest-benchmark JSON
(``pytest benchmarks/ --benchmark-json=FILE``). Columns are explained in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import subprocess
import sys

import isarun  # this script's siblings (a script's folder is first on sys.path)
import perfreport
import rnnbench

HERE = os.path.dirname(os.path.abspath(__file__))

RESULTS = os.path.join(HERE, "results")
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


# --------------------------------------------------------------------------- running


def _child_env(drop=()):
    """Environment of the child processes: this one's (so the same installed or editable
    pyrnn), minus ``drop``."""
    return {k: v for k, v in os.environ.items() if k not in drop}


def _run_pytest(files, json_path, args, drop_env=(), log_path=None):
    """Run pytest-benchmark on ``files``; stream one line per test; return the JSON."""
    k = args.filter
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *files,
        "-v",
        "-p",
        "no:cacheprovider",
        f"--benchmark-json={json_path}",
        f"--bench-threads={args.threads}",
        "--benchmark-columns=min,median,rounds",
    ]
    if k:
        cmd += ["-k", k]
    if args.quick:
        cmd.append("--bench-quick")
    if args.numpy_train_all:
        cmd.append("--bench-numpy-train-all")
    # cwd=benchmarks/: the repository root must not land first on sys.path (an unbuilt
    # source tree would shadow the installed package).
    proc = subprocess.Popen(
        cmd,
        cwd=HERE,
        env=_child_env(drop_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    failed = []
    with open(log_path or os.devnull, "w") as log:
        for line in proc.stdout:
            log.write(line)
            if "::" in line and any(w in line for w in ("PASSED", "FAILED", "SKIPPED", "ERROR")):
                print("  " + line.split("::", 1)[1].rstrip(), flush=True)
            elif line.startswith(("FAILED", "ERROR")):
                failed.append(line.rstrip())
                print("  " + line.rstrip(), flush=True)
    rc = proc.wait()
    if not os.path.exists(json_path):
        raise SystemExit(f"pytest wrote no results (exit {rc}); see {log_path}")
    with open(json_path) as f:
        data = json.load(f)
    data["failed"] = failed + (
        [f"pytest exit status {rc}, see {log_path}"] if rc not in (0, 5) else []
    )
    return data


def _merge_runs(runs):
    """Merge repeated pytest-benchmark runs: each benchmark's rounds are pooled (so min is the
    min over all runs), the FMA peaks are the best seen, failures are all kept."""
    import statistics

    merged = dict(runs[0])
    by_name = {}
    for run in runs:
        for b in run.get("benchmarks", []):
            if b["fullname"] in by_name:
                by_name[b["fullname"]]["stats"]["data"] += b["stats"]["data"]
            else:
                by_name[b["fullname"]] = json.loads(json.dumps(b))
    for b in by_name.values():
        data = b["stats"]["data"]
        b["stats"].update(
            min=min(data),
            max=max(data),
            median=statistics.median(data),
            mean=statistics.fmean(data),
            rounds=len(data),
        )
    merged["benchmarks"] = list(by_name.values())
    peaks = {}
    for run in runs:
        for n, v in run.get("machine_info", {}).get("fma_peak_gflops", {}).items():
            peaks[n] = max(peaks.get(n, 0.0), v)
    merged["machine_info"] = dict(runs[-1].get("machine_info", {}), fma_peak_gflops=peaks)
    merged["failed"] = [f for run in runs for f in run.get("failed", [])]
    merged["repeats"] = sum(run.get("repeats", 1) for run in runs)
    return merged


def _run_memory(args, threads):
    """Peak RSS of one training step per (config, cell, impl), each in a fresh process."""
    rows = []
    impls = ["pyrnn"]
    try:
        import torch  # noqa: F401

        impls.append("torch")
    except ImportError:
        pass
    for name in rnnbench.CONFIGS:
        for cell in rnnbench.CELLS:
            for impl in impls:
                ident = f"{name}-{cell}-train-{threads}t-{impl}-memory"
                if not _selected(args.filter, ident):
                    continue
                cmd = [
                    sys.executable,
                    os.path.join(HERE, "memprobe.py"),
                    "--config",
                    name,
                    "--cell",
                    cell,
                    "--impl",
                    impl,
                    "--threads",
                    str(threads),
                ]
                out = subprocess.run(
                    cmd, cwd=HERE, env=_child_env(), capture_output=True, text=True
                )
                if out.returncode != 0:
                    raise SystemExit(f"memory probe failed: {' '.join(cmd)}\n{out.stderr}")
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"  memory {ident}: {rows[-1]['peak_mib']:.1f} MiB", flush=True)
    return rows


def _selected(expr, ident):
    """Whether ``ident`` matches a pytest ``-k`` expression (substring semantics)."""
    if not expr:
        return True
    try:
        from _pytest.mark.expression import Expression

        return Expression.compile(expr).evaluate(lambda word, **kw: word.lower() in ident.lower())
    except ImportError:
        return all(
            w.lower() in ident.lower() for w in expr.split() if w not in ("and", "or", "not")
        )


# --------------------------------------------------------------------------- tables


def _times(bench_json, stat):
    """{(kind, key..., impl): (seconds, extra_info)} from a pytest-benchmark JSON."""
    out = {}
    for b in (bench_json or {}).get("benchmarks", []):
        e = b.get("extra_info", {})
        if e.get("kind") == "rnn":
            key = ("rnn", e["config"], e["cell"], e["mode"], e["threads"], e["impl"])
        elif e.get("kind") == "gemm":
            key = ("gemm", e["shape"], e["threads"], e["impl"])
        else:
            continue
        out[key] = (b["stats"][stat], e)
    return out


def _fmt(v, spec, missing="-"):
    return missing if v is None else format(v, spec)


def _table(headers, rows, aligns):
    widths = [
        max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
        for i, h in enumerate(headers)
    ]

    def line(cells):
        return "  ".join(
            str(c).rjust(w) if a == "r" else str(c).ljust(w)
            for c, w, a in zip(cells, widths, aligns)
        )

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def rnn_rows(times, peaks):
    rows = []
    for name, cfg in rnnbench.CONFIGS.items():
        for cell in rnnbench.CELLS:
            for mode in rnnbench.MODES:
                for threads in sorted({k[4] for k in times if k[0] == "rnn"}):
                    get = {
                        impl: times.get(("rnn", name, cell, mode, threads, impl))
                        for impl in rnnbench.IMPLS
                    }
                    if not any(get.values()):
                        continue
                    t = {impl: (v[0] if v else None) for impl, v in get.items()}
                    flop = rnnbench.flops(cfg, cell, mode)
                    gflops = flop / t["pyrnn"] / 1e9 if t["pyrnn"] else None
                    peak = peaks.get(str(threads))
                    rows.append(
                        dict(
                            config=name,
                            cell=cell,
                            mode=mode,
                            threads=threads,
                            pyrnn_ms=t["pyrnn"] and t["pyrnn"] * 1e3,
                            torch_ms=t["torch"] and t["torch"] * 1e3,
                            numpy_ms=t["numpy"] and t["numpy"] * 1e3,
                            pyrnn_gflops=gflops,
                            pct_peak=100.0 * gflops / peak if gflops and peak else None,
                            torch_over_pyrnn=t["torch"] / t["pyrnn"]
                            if t["torch"] and t["pyrnn"]
                            else None,
                            numpy_over_pyrnn=t["numpy"] / t["pyrnn"]
                            if t["numpy"] and t["pyrnn"]
                            else None,
                        )
                    )
    return rows


def onnxruntime_rows(times):
    """Inference rows: ONNX Runtime running pyrnn's ONNX export next to pyrnn and torch."""
    rows = []
    for key, (t_ort, _) in sorted(times.items(), key=lambda kv: tuple(map(str, kv[0]))):
        if len(key) != 6 or key[0] != "rnn" or key[5] != "onnxruntime":
            continue  # (the wavefront, step and fit suites key their rows otherwise)
        _, name, cell, mode, threads, _ = key
        t = {
            i: (times.get(("rnn", name, cell, mode, threads, i)) or (None,))[0]
            for i in ("pyrnn", "torch")
        }
        rows.append(
            dict(
                config=name,
                cell=cell,
                threads=threads,
                ort_ms=t_ort * 1e3,
                pyrnn_ms=t["pyrnn"] and t["pyrnn"] * 1e3,
                torch_ms=t["torch"] and t["torch"] * 1e3,
                ort_over_pyrnn=t_ort / t["pyrnn"] if t["pyrnn"] else None,
                ort_over_torch=t_ort / t["torch"] if t["torch"] else None,
            )
        )
    return rows


def onnxruntime_section(report):
    """Lines of the ONNX Runtime table (none when it did not run)."""
    rows = report.get("onnxruntime_rows") or []
    if not rows:
        return []
    return [
        "Inference: ONNX Runtime (CPU provider, same intra-op threads) running pyrnn's "
        "ONNX export (pyrnn.export.to_onnx) of the same network and input",
        _table(
            ["config", "cell", "thr", "ort ms", "pyrnn ms", "torch ms", "ort/pyrnn", "ort/torch"],
            [
                [
                    r["config"],
                    r["cell"],
                    r["threads"],
                    _fmt(r["ort_ms"], ".3f"),
                    _fmt(r["pyrnn_ms"], ".3f"),
                    _fmt(r["torch_ms"], ".3f"),
                    _fmt(r["ort_over_pyrnn"], ".2f"),
                    _fmt(r["ort_over_torch"], ".2f"),
                ]
                for r in rows
            ],
            "llrrrrrr",
        ),
        "ort/pyrnn > 1: pyrnn is faster than ONNX Runtime on its own exported model.",
        "",
    ]


def gemm_rows(times, times_unset):
    """One row per GEMM shape x threads. The numpy* columns come from the run with the
    OPENBLAS_* variables unset, whose ratio uses the pyrnn time of that same run."""
    rows = []
    shapes = {}
    for k, (_, e) in times.items():
        if k[0] == "gemm":
            shapes[e["shape"]] = (e["M"], e["K"], e["N"], e["what"])
    for shape, (M, K, N, what) in shapes.items():
        for threads in sorted({k[2] for k in times if k[0] == "gemm"}):
            p = times.get(("gemm", shape, threads, "pyrnn"))
            n = times.get(("gemm", shape, threads, "numpy"))
            u = times_unset.get(("gemm", shape, threads, "numpy"))
            up = times_unset.get(("gemm", shape, threads, "pyrnn"))
            if not (p or n):
                continue
            flop = 2.0 * M * K * N
            rows.append(
                dict(
                    shape=shape,
                    mkn=f"{M}x{K}x{N}",
                    what=what,
                    threads=threads,
                    pyrnn_ms=p and p[0] * 1e3,
                    numpy_ms=n and n[0] * 1e3,
                    numpy_kernel=n and _kernel(n[1].get("numpy_blas")),
                    numpy_unset_ms=u and u[0] * 1e3,
                    numpy_unset_kernel=u and _kernel(u[1].get("numpy_blas")),
                    pyrnn_unset_run_ms=up and up[0] * 1e3,
                    pyrnn_gflops=p and flop / p[0] / 1e9,
                    numpy_gflops=n and flop / n[0] / 1e9,
                    numpy_unset_gflops=u and flop / u[0] / 1e9,
                    pyrnn_vs_numpy=n[0] / p[0] if p and n else None,
                    pyrnn_vs_numpy_unset=u[0] / up[0] if up and u else None,
                )
            )
    return rows


# The project's speed targets against torch (torch time / pyrnn time), per configuration,
# mode and cell, as set when the kernels were designed. The bidir configuration has none.
_BIG_TARGETS = {
    ("train", "lstm"): 1.5,
    ("train", "gru"): 2.5,
    ("train", "rnn_tanh"): 2.5,
    ("infer", "lstm"): 1.0,
    ("infer", "gru"): 2.0,
    ("infer", "rnn_tanh"): 2.0,
}
TARGETS = {
    **{("small-latency", mode, cell): 2.0 for mode in rnnbench.MODES for cell in rnnbench.CELLS},
    **{
        (name, mode, cell): goal
        for name in ("medium", "large")
        for (mode, cell), goal in _BIG_TARGETS.items()
    },
}


def target_rows(rnn):
    """For each timed case with a target: the measured ratio, and the speed pyrnn would need
    to meet the target given torch's time in this run, in GFLOP/s and as % of the measured
    FMA peak. A target that needs more than the peak cannot be met on this machine by any
    implementation of the same arithmetic."""
    rows = []
    for r in rnn:
        goal = TARGETS.get((r["config"], r["mode"], r["cell"]))
        if goal is None or not r["torch_ms"] or not r["pyrnn_ms"]:
            continue
        speedup = goal / r["torch_over_pyrnn"]  # how much faster pyrnn would have to run
        rows.append(
            dict(
                config=r["config"],
                cell=r["cell"],
                mode=r["mode"],
                threads=r["threads"],
                target=goal,
                ratio=r["torch_over_pyrnn"],
                met=r["torch_over_pyrnn"] >= goal,
                pct_peak=r["pct_peak"],
                need_gflops=r["pyrnn_gflops"] * speedup,
                need_pct_peak=r["pct_peak"] * speedup if r["pct_peak"] else None,
            )
        )
    return rows


def _kernel(blas):
    if not blas or not blas.get("libraries"):
        return "?"
    lib = blas["libraries"][0]
    return f"{lib.get('internal_api')} {lib.get('architecture') or ''}".strip()


def render(report):
    out = []
    mi = report["machine_info"]
    stat = report["stat"]
    cfg = mi.get("pyrnn", {})
    peaks = mi.get("fma_peak_gflops", {})
    out.append(
        f"pyrnn {cfg.get('version')} ({report.get('pyrnn_path', '?')}), ISA {cfg.get('isa')} "
        f"({cfg.get('vector_bits')}-bit), {cfg.get('compiler')}, flags '{cfg.get('cxx_flags', '').strip()}'"
    )
    out.append(
        f"CPU: {mi.get('cpu', {}).get('brand_raw', mi.get('processor', '?'))}, "
        f"torch {mi.get('torch')}, numpy BLAS {_kernel(mi.get('numpy_blas'))}, "
        f"OPENBLAS_* in the environment: {mi.get('numpy_blas', {}).get('env')}"
    )
    out.append(
        "Measured FMA peak (float32, engine.fma_peak_gflops, best probe of the run: one before "
        "each benchmark, 3 at the end): "
        + ", ".join(
            f"{n} thread{'s' if n != '1' else ''}: {v:.1f} GFLOP/s" for n, v in peaks.items()
        )
    )
    load = report.get("load_average")
    if load:
        out.append(
            f"Load average (1 min) before the run: {load[0]:.2f}, after: {load[1]:.2f} "
            "(after includes the benchmarks themselves)"
            + (
                "\nThe machine was busy before the run: absolute times are pessimistic, "
                "ratios (measured side by side) less so."
                if load[0] > 0.5
                else ""
            )
        )
    repeats = report.get("pytest_json", {}).get("repeats", 1)
    out.append(
        f"Times are the {stat} over the timed rounds of one call each"
        f"{f', pooled over {repeats} passes' if repeats > 1 else ''}"
        f"{' (--quick)' if report.get('quick') else ''}."
    )
    out.append("")

    rows = report["rnn_rows"]
    if rows:
        out.append(
            "RNN: pyrnn vs torch.nn vs numpy loop (time-major float32; train = fwd + bwd of out.sum() with dX)"
        )
        out.append(
            _table(
                [
                    "config",
                    "cell",
                    "mode",
                    "thr",
                    "pyrnn ms",
                    "torch ms",
                    "numpy ms",
                    "pyrnn GFLOP/s",
                    "% peak",
                    "torch/pyrnn",
                    "numpy/pyrnn",
                ],
                [
                    [
                        r["config"],
                        r["cell"],
                        r["mode"],
                        r["threads"],
                        _fmt(r["pyrnn_ms"], ".3f"),
                        _fmt(r["torch_ms"], ".3f"),
                        _fmt(r["numpy_ms"], ".3f"),
                        _fmt(r["pyrnn_gflops"], ".1f"),
                        _fmt(r["pct_peak"], ".0f"),
                        _fmt(r["torch_over_pyrnn"], ".2f"),
                        _fmt(r["numpy_over_pyrnn"], ".2f"),
                    ]
                    for r in rows
                ],
                "lllrrrrrrrr",
            )
        )
        out.append(
            f"numpy ran with the environment as it is (BLAS kernel {_kernel(mi.get('numpy_blas'))}). "
            "ratio > 1: pyrnn is faster. '-': not run (filtered out, torch missing, or numpy "
            "training on 'large' without --numpy-train-all)."
        )
        out.append("")

    out.extend(onnxruntime_section(report))
    rows = target_rows(report["rnn_rows"])
    if rows:
        out.append(
            "Targets (torch/pyrnn at least 'target'; 'needed' is the speed that takes, from torch's time in this run)"
        )
        out.append(
            _table(
                [
                    "config",
                    "cell",
                    "mode",
                    "thr",
                    "target",
                    "torch/pyrnn",
                    "met",
                    "pyrnn % peak",
                    "needed GFLOP/s",
                    "needed % peak",
                ],
                [
                    [
                        r["config"],
                        r["cell"],
                        r["mode"],
                        r["threads"],
                        f"{r['target']:.1f}",
                        _fmt(r["ratio"], ".2f"),
                        "yes" if r["met"] else "no",
                        _fmt(r["pct_peak"], ".0f"),
                        _fmt(r["need_gflops"], ".1f"),
                        _fmt(r["need_pct_peak"], ".0f"),
                    ]
                    for r in rows
                ],
                "lllrrrlrrr",
            )
        )
        n_over = sum(
            1 for r in rows if not r["met"] and r["need_pct_peak"] and r["need_pct_peak"] > 100
        )
        out.append(
            f"met: {sum(r['met'] for r in rows)} of {len(rows)}; missed and needing more than "
            f"the measured FMA peak (no implementation of the same FLOPs can meet them here): {n_over}."
        )
        for thr in sorted({r["threads"] for r in report["gemm_rows"]}):
            best = max(
                (r["numpy_gflops"] or 0 for r in report["gemm_rows"] if r["threads"] == thr),
                default=0,
            )
            peak = peaks.get(str(thr))
            if best and peak:
                out.append(
                    f"For scale: numpy's fastest GEMM of this run at {thr} thread{'s' if thr != 1 else ''} "
                    f"ran at {100.0 * best / peak:.0f}% of the peak ({best:.1f} GFLOP/s)."
                )
        out.append("")

    rows = report["gemm_rows"]
    if rows:
        unset_ran = any(r["numpy_unset_ms"] is not None for r in rows)
        out.append("GEMM: engine.gemm vs numpy.matmul (float32, C-contiguous A (M,K) @ B (K,N))")
        headers = [
            "shape",
            "MxKxN",
            "thr",
            "pyrnn ms",
            "numpy ms",
            "numpy kernel",
            "pyrnn GFLOP/s",
            "numpy GFLOP/s",
            "numpy/pyrnn",
        ]
        if unset_ran:
            headers += ["numpy* ms", "numpy* kernel", "numpy*/pyrnn"]
        body = []
        for r in rows:
            row = [
                r["shape"],
                r["mkn"],
                r["threads"],
                _fmt(r["pyrnn_ms"], ".3f"),
                _fmt(r["numpy_ms"], ".3f"),
                r["numpy_kernel"] or "-",
                _fmt(r["pyrnn_gflops"], ".1f"),
                _fmt(r["numpy_gflops"], ".1f"),
                _fmt(r["pyrnn_vs_numpy"], ".2f"),
            ]
            if unset_ran:
                row += [
                    _fmt(r["numpy_unset_ms"], ".3f"),
                    r["numpy_unset_kernel"] or "-",
                    _fmt(r["pyrnn_vs_numpy_unset"], ".2f"),
                ]
            body.append(row)
        out.append(_table(headers, body, "llr" + "r" * (len(headers) - 3)))
        env = mi.get("numpy_blas", {}).get("env", {})
        if unset_ran:
            out.append(
                f"numpy: with the environment as it is ({env}); numpy*: a second run in a "
                f"subprocess with {' and '.join(OPENBLAS_VARS)} unset (OpenBLAS picks its "
                "kernel itself); numpy*/pyrnn uses the pyrnn time of that second run."
            )
        elif any(env.values()):
            out.append(
                f"numpy ran with {env} set; this run has no numpy timing with them unset "
                "(report.py makes one when they are set in its environment)."
            )
        else:
            out.append(
                f"numpy ran with {' and '.join(OPENBLAS_VARS)} unset (OpenBLAS picked its own "
                "kernel, shown), so there is no second numpy run."
            )
        out.append(
            "numpy/pyrnn > 1: pyrnn's GEMM is faster (0.95 = pyrnn at 95% of numpy's speed)."
        )
        for shape, what in dict((r["shape"], r["what"]) for r in rows).items():
            out.append(f"  {shape}: {what}")
        out.append("")

    rows = report.get("memory_rows") or []
    if rows:
        out.append(
            f"Memory: peak RSS rise of one training step (fresh process each, "
            f"{rows[0]['threads']} thread{'s' if rows[0]['threads'] != 1 else ''}) vs what BPTT must keep"
        )
        by = {(r["config"], r["cell"], r["impl"]): r for r in rows}
        body = []
        for (name, cell, impl), r in by.items():
            if impl != "pyrnn":
                continue
            t = by.get((name, cell, "torch"))
            body.append(
                [
                    name,
                    cell,
                    f"{r['workspace_mib']:.1f}",
                    f"{r['arrays_mib']:.1f}",
                    f"{r['required_mib']:.1f}",
                    f"{r['peak_mib']:.1f}",
                    f"{100.0 * (r['peak_mib'] / r['required_mib'] - 1):+.1f}%",
                    _fmt(t and t["peak_mib"], ".1f"),
                ]
            )
        out.append(
            _table(
                [
                    "config",
                    "cell",
                    "workspace MiB",
                    "arrays MiB",
                    "required MiB",
                    "pyrnn peak MiB",
                    "peak vs required",
                    "torch peak MiB",
                ],
                body,
                "llrrrrrr",
            )
        )
        out.append(
            "workspace: engine.Workspace.nbytes summed over layer-directions (what BPTT keeps); "
            "arrays: y, h_n, c_n, dy and every gradient the step returns; required = both."
        )
        if not all(r.get("peak_reset", True) for r in rows):
            out.append(
                "(/proc/self/clear_refs was not writable: peaks include the import's high-water)"
            )
        out.append("")
    out.extend(perfreport.render(report, _table, _fmt))
    out.extend(report.get("notes", []))
    return "\n".join(out)


def render_levels(combined):
    """A multi-level report (``--isa``): each level's tables, then the activation table."""
    out = []
    for level, rep in combined["isa_reports"].items():
        out += [f"===== ISA level {level} =====", render(rep), ""]
    out += perfreport.render_activations(combined.get("activation_rows"), _table, _fmt)
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def build_report(bench_json, unset_json, memory_rows, args_dict, load_average, pyrnn_path):
    stat = args_dict.get("stat", "min")
    times = _times(bench_json, stat)
    times_unset = _times(unset_json, stat)
    mi = bench_json.get("machine_info", {})
    return dict(
        created=_dt.datetime.now().isoformat(timespec="seconds"),
        args=args_dict,
        stat=stat,
        quick=args_dict.get("quick"),
        machine_info=mi,
        load_average=load_average,
        pyrnn_path=pyrnn_path,
        rnn_rows=rnn_rows(times, mi.get("fma_peak_gflops", {})),
        onnxruntime_rows=onnxruntime_rows(times),
        gemm_rows=gemm_rows(times, times_unset),
        memory_rows=memory_rows,
        **perfreport.build(bench_json, stat),
        notes=[
            f"FAILED ({'numpy-unset run' if j is unset_json else 'main run'}): {f}"
            for j in (bench_json, unset_json)
            if j
            for f in j.get("failed", [])
        ],
        pytest_json=bench_json,
        numpy_unset_json=unset_json,
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description="pyrnn benchmark report (see benchmarks/README.md)")
    ap.add_argument("--quick", action="store_true", help="short timing runs (0.3 s per benchmark)")
    ap.add_argument("--threads", default="1,2", help="thread counts, e.g. 1 or 1,2 (default 1,2)")
    ap.add_argument("--filter", default="", help='pytest -k expression, e.g. "medium and lstm"')
    ap.add_argument(
        "--stat",
        choices=("min", "median"),
        default="min",
        help="statistic of the timed rounds used everywhere (default min)",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run the timing suites N times and pool the rounds (min over all): "
        "spreads each implementation over time on a shared machine",
    )
    ap.add_argument("--no-rnn", action="store_true", help="skip the RNN benchmarks")
    ap.add_argument("--no-gemm", action="store_true", help="skip the GEMM benchmarks")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    ap.add_argument(
        "--numpy-train-all",
        action="store_true",
        help="also time numpy's training loop on the large configuration (slow)",
    )
    ap.add_argument(
        "--no-activations",
        action="store_true",
        help="skip the activation table (one short run per ISA level)",
    )
    ap.add_argument("--no-wavefront", action="store_true", help="skip the wavefront benchmarks")
    ap.add_argument("--no-step", action="store_true", help="skip the step() latency benchmarks")
    ap.add_argument("--no-fit", action="store_true", help="skip the whole-fit benchmarks")
    ap.add_argument(
        "--isa",
        metavar="LEVELS",
        help="run everything once per ISA level ('all' or e.g. baseline,avx2), each "
        "in a subprocess with PYRNN_ISA set (and PyTorch capped to AVX2 at avx2 "
        "on an AVX-512 CPU): one set of tables per level",
    )
    ap.add_argument(
        "--out",
        metavar="PREFIX",
        help="path prefix of the saved files (default benchmarks/results/<date-time>)",
    )
    ap.add_argument(
        "--json",
        nargs="+",
        metavar="FILE",
        help="print the tables of a saved report or pytest-benchmark JSON; several "
        "files (runs of the same code) are pooled like --repeat passes",
    )
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")
    try:
        if min(int(t) for t in args.threads.split(",")) < 1:
            raise ValueError
    except ValueError:
        ap.error(f"--threads takes counts >= 1 like 1 or 1,2; got {args.threads!r}")

    if args.json:
        saved = []
        for path in args.json:
            with open(path) as f:
                saved.append(json.load(f))
        if "isa_reports" in saved[-1]:
            if len(saved) > 1:
                ap.error("--json: a multi-level (--isa) report is printed alone")
            print(render_levels(saved[-1]))
            return
        if all("pytest_json" in d for d in saved):
            last = saved[-1]
            unset = [d["numpy_unset_json"] for d in saved if d.get("numpy_unset_json")]
            report = build_report(
                _merge_runs([d["pytest_json"] for d in saved]),
                _merge_runs(unset) if unset else None,
                last.get("memory_rows"),
                dict(last["args"], stat=args.stat),
                last.get("load_average"),
                last.get("pyrnn_path"),
            )
            report["created"] = last.get("created")
            report["activation_rows"] = last.get("activation_rows")
            report["isa_env"] = last.get("isa_env")
        elif not any("pytest_json" in d for d in saved):
            report = build_report(_merge_runs(saved), None, None, {"stat": args.stat}, None, None)
        else:
            ap.error(
                "--json: pool saved reports with saved reports, pytest JSONs with pytest JSONs"
            )
        if len(saved) > 1:
            report.setdefault("notes", []).append(
                f"Pooled from {len(saved)} saved runs: {', '.join(os.path.basename(p) for p in args.json)} "
                "(memory table and load average: the last)."
            )
        print(render(report))
        return

    import pyrnn

    os.makedirs(RESULTS, exist_ok=True)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = args.out or os.path.join(RESULTS, stamp)
    supported = isarun.supported_levels()
    if args.isa:
        _main_levels(args, argv, supported, base)
        return
    files = [
        f
        for f, skip in (
            ("test_rnn.py", args.no_rnn),
            ("test_gemm.py", args.no_gemm),
            ("test_wavefront.py", args.no_wavefront),
            ("test_step.py", args.no_step),
            ("test_fit.py", args.no_fit),
        )
        if not skip
    ]
    load_before = os.getloadavg()[0]
    bench_json, unset_json, memory_rows = {"benchmarks": []}, None, None
    if files:
        runs = []
        for i in range(args.repeat):
            tag = f"-{i + 1}" if args.repeat > 1 else ""
            print(
                f"Running pytest {' '.join(files)}{f' (pass {i + 1}/{args.repeat})' if tag else ''} "
                f"(log: {base}-pytest{tag}.log)",
                flush=True,
            )
            runs.append(
                _run_pytest(
                    files, f"{base}-pytest{tag}.json", args, log_path=f"{base}-pytest{tag}.log"
                )
            )
        bench_json = _merge_runs(runs)
    if not args.no_gemm and any(os.environ.get(v) for v in OPENBLAS_VARS):
        runs = []
        for i in range(args.repeat):
            tag = f"-{i + 1}" if args.repeat > 1 else ""
            print(
                f"Running the GEMM benchmarks again with {' and '.join(OPENBLAS_VARS)} unset",
                flush=True,
            )
            runs.append(
                _run_pytest(
                    ["test_gemm.py"],
                    f"{base}-numpy-unset{tag}.json",
                    args,
                    drop_env=OPENBLAS_VARS,
                    log_path=f"{base}-numpy-unset{tag}.log",
                )
            )
        unset_json = _merge_runs(runs)
    if not args.no_memory:
        threads = max(int(s) for s in args.threads.split(","))
        print(
            f"Measuring peak memory of a training step ({threads} threads, one process each)",
            flush=True,
        )
        memory_rows = _run_memory(args, threads)
    load_after = os.getloadavg()[0]

    report = build_report(
        bench_json,
        unset_json,
        memory_rows,
        vars(args),
        (load_before, load_after),
        os.path.dirname(pyrnn.__file__),
    )
    report["isa_env"] = perfreport.isa_env()
    if _activations_wanted(args):
        runs = isarun.run_activations(_run_pytest, base, args, supported)
        report["activation_rows"] = perfreport.activation_rows(runs, args.stat)
    _print_and_save(base, report, render(report))


def _print_and_save(base, report, text):
    """Print the tables and save ``<base>-report.json`` (every figure) and ``-report.txt``."""
    print()
    print(text)
    with open(f"{base}-report.json", "w") as f:
        json.dump(report, f, indent=1)
    with open(f"{base}-report.txt", "w") as f:
        f.write(text + "\n")
    print(f"\nSaved {base}-report.json (and -report.txt)")


def _activations_wanted(args):
    """Whether the activation runs have anything to time (not --no-activations, and the
    --filter selects at least one activation benchmark)."""
    import test_activations

    return not args.no_activations and any(
        _selected(args.filter, f"test_activations.py::test_activation[{name}-{impl}]")
        for name in test_activations.NAMES
        for impl in ("pyrnn", "numpy")
    )


def _main_levels(args, argv, supported, base):
    """--isa: report.py once per level in a subprocess, then the activation table; prints and
    saves the combined report (``<base>-report.json`` holds every level's report)."""
    try:
        levels = isarun.parse_levels(args.isa, supported)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    combined = {
        "isa_reports": isarun.run_levels(
            sys.argv[1:] if argv is None else argv, levels, supported, base, _child_env()
        )
    }
    if _activations_wanted(args):
        runs = isarun.run_activations(_run_pytest, base, args, supported)
        combined["activation_rows"] = perfreport.activation_rows(runs, args.stat)
    _print_and_save(base, combined, render_levels(combined))


if __name__ == "__main__":
    main()
