"""Runs at each ISA level: the environment of a level, and report.py's per-level subprocesses.

``PYRNN_ISA=<level>`` makes pyrnn dispatch to that level's kernels. For the ``avx2`` level on
a machine with AVX-512, PyTorch is capped to AVX2 as well (``TORCH_AVX2_CAP``: ATen's kernels,
oneDNN and MKL), so both sides run the same instruction set; at ``baseline`` PyTorch is left
alone (it has no equivalent level). numpy's OpenBLAS is never capped here.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_AVX2_CAP = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
}


def supported_levels():
    """The ISA levels pyrnn can run on this CPU, lowest first (``engine.config()``)."""
    from pyrnn import engine

    return list(engine.config()["isa_supported"])


def parse_levels(spec, supported):
    """``"all"`` or a comma-separated list of levels -> the list; unsupported ones raise."""
    if spec == "all":
        return list(supported)
    levels = [s.strip() for s in spec.split(",") if s.strip()]
    bad = [lv for lv in levels if lv not in supported]
    if not levels or bad:
        raise ValueError(f"--isa takes 'all' or levels among {', '.join(supported)}; got {spec!r}")
    return levels


def level_env(level, supported):
    """Environment variables of a run at ``level``: PYRNN_ISA, plus PyTorch's AVX2 cap when
    the level is avx2 on a CPU that has an AVX-512 level."""
    env = {"PYRNN_ISA": level}
    if level == "avx2" and any(s.startswith("avx512") for s in supported):
        env.update(TORCH_AVX2_CAP)
    return env


@contextlib.contextmanager
def environ(extra):
    """Set ``extra`` in os.environ for the block (child processes started in it inherit it)."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def without_isa(argv):
    """report.py's arguments minus ``--isa X`` / ``--isa=X``."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--isa":
            skip = True
        elif not a.startswith("--isa="):
            out.append(a)
    return out


def run_levels(argv, levels, supported, base, child_env):
    """Run report.py once per level in a subprocess with ``child_env`` plus the level's
    variables (its own tables, saved under ``<base>-<level>``); returns ``{level: report}``."""
    reports = {}
    for level in levels:
        env = level_env(level, supported)
        out = f"{base}-{level}"
        print(f"=== ISA level {level}: {' '.join(f'{k}={v}' for k, v in env.items())}", flush=True)
        cmd = [
            sys.executable,
            os.path.join(HERE, "report.py"),
            *without_isa(argv),
            "--no-activations",
            "--out",
            out,
        ]
        rc = subprocess.call(cmd, env={**child_env, **env})
        if rc != 0:
            raise SystemExit(f"the run at ISA level {level} failed (exit {rc}): {' '.join(cmd)}")
        with open(f"{out}-report.json") as f:
            reports[level] = json.load(f)
    return reports


def run_activations(run_pytest, base, args, supported):
    """test_activations.py once per supported level (PYRNN_ISA set): ``{level: JSON}``."""
    runs = {}
    for level in supported:
        print(f"Running test_activations.py at ISA level {level}", flush=True)
        with environ({"PYRNN_ISA": level}):
            runs[level] = run_pytest(
                ["test_activations.py"],
                f"{base}-activations-{level}.json",
                args,
                log_path=f"{base}-activations-{level}.log",
            )
    return runs
