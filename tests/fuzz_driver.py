"""Runs the fuzz cases of fuzz_cases.py in child processes and counts their outcomes:
ok / error (clean) / wrong / crash (the child died by a signal) / hang (no case finished for
HANG_SECONDS). After a crash or a hang the child is restarted with the next seed, so one run
goes on to the number of cases asked for.

A campaign from the command line (the figures of issue 11's closing note):

    python tests/fuzz_driver.py --total 10000            # split over the entry points
    python tests/fuzz_driver.py --examples 500 --entry network
    python tests/fuzz_driver.py --total 10000 --jobs 2 --json fuzz.json   # 2 entries at once

The test suite runs a few cases per entry point (tests/test_fuzz.py); the environment
variable PYRNN_FUZZ_EXAMPLES=N runs N per entry point there instead.
"""

import argparse
import faulthandler
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
HANG_SECONDS = 120
OUTCOMES = ("ok", "error", "wrong", "crash", "hang")
# Share of a --total campaign per entry point (about equal time each: estimators are slow).
WEIGHTS = {
    "core_any_arguments": 30,
    "engine_forward_backward": 22,
    "engine_gemm": 15,
    "network": 13,
    "losses_optimizers": 15,
    "estimators": 5,
    "engine_pack": 12,
    "engine_group": 12,
    "engine_reuse": 8,
}


def child_main(entry, n, seed, log_path):
    """In the child: run n hypothesis cases of one entry point, one log line per case."""
    from hypothesis import HealthCheck, Phase, given, settings, seed as with_seed
    from hypothesis import strategies as st

    import fuzz_cases

    fn = fuzz_cases.ENTRY_POINTS[entry]
    log = open(log_path, "a", buffering=1)
    faulthandler.enable()  # a crash, and a case still running at HANG_SECONDS / 2, print the
    # Python stacks to stderr, which the driver keeps with the finding

    @with_seed(seed)
    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data):
        log.write("start\n")
        faulthandler.dump_traceback_later(HANG_SECONDS / 2)
        try:
            outcome, detail = fn(data), ""
        except fuzz_cases.Wrong as e:
            outcome, detail = "wrong", str(e)
        except Exception as e:  # noqa: BLE001 - an error for valid input is a finding too
            outcome, detail = "wrong", f"{type(e).__name__}: {e}"
        except BaseException:  # hypothesis dropping an example it could not finish drawing
            log.write(json.dumps(["discarded", ""]) + "\n")
            raise
        finally:
            faulthandler.cancel_dump_traceback_later()
        log.write(json.dumps([outcome, detail[:500]]) + "\n")

    run()


def run_entry(entry, n, seed=0, hang_seconds=HANG_SECONDS, env=None):
    """Run n cases of ``entry`` in child processes (started in tests/, this script's folder
    first on their sys.path as for any script; ``env``: their environment, default this
    process's). Returns (Counter of outcomes, findings)."""
    counts, findings = Counter(), []
    attempt = 0
    while sum(counts.values()) < n:
        with tempfile.TemporaryDirectory() as tmp:
            log_path, err_path = os.path.join(tmp, "log"), os.path.join(tmp, "stderr")
            open(log_path, "w").close()
            with open(err_path, "w") as err:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        os.path.abspath(__file__),
                        "--child",
                        entry,
                        str(n - sum(counts.values())),
                        str(seed * 1000 + attempt),
                        log_path,
                    ],
                    cwd=TESTS_DIR,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
                hung = _watch(proc, log_path, hang_seconds)
            with open(log_path) as f:
                lines = f.read().splitlines()
            with open(err_path) as f:
                stderr = f.read()
        results = [json.loads(line) for line in lines if line.startswith("[")]
        for outcome, detail in results:
            if outcome == "discarded":
                continue
            counts[outcome] += 1
            if outcome != "ok" and outcome != "error":
                findings.append((outcome, detail))
        if len(lines) > 2 * len(results):  # a case started and never ended
            kind = "hang" if hung else "crash"
            counts[kind] += 1
            findings.append((kind, f"exit {proc.returncode}; {stderr[-4000:]}"))
        elif proc.returncode != 0:
            raise RuntimeError(f"fuzz child for {entry} failed outside a case:\n{stderr}")
        elif not results:
            raise RuntimeError(f"fuzz child for {entry} ran no case:\n{stderr}")
        attempt += 1
    return counts, findings


def _watch(proc, log_path, hang_seconds):
    """Wait for proc; kill it when its log has not grown for hang_seconds. True if killed."""
    size, changed = -1, time.monotonic()
    while proc.poll() is None:
        time.sleep(0.1)
        now_size = os.path.getsize(log_path)
        if now_size != size:
            size, changed = now_size, time.monotonic()
        elif time.monotonic() - changed > hang_seconds:
            proc.kill()
            proc.wait()
            return True
    return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--child", nargs=4, metavar=("ENTRY", "N", "SEED", "LOG"), help=argparse.SUPPRESS
    )
    parser.add_argument("--entry", action="append", help="entry point (default: all)")
    parser.add_argument("--examples", type=int, help="cases per entry point")
    parser.add_argument("--total", type=int, help="cases in all, split by WEIGHTS")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="entry points run at once")
    parser.add_argument("--json", help="write the figures to this file too")
    args = parser.parse_args(argv)
    if args.child:
        entry, n, seed, log = args.child
        child_main(entry, int(n), int(seed), log)
        return 0
    entries = args.entry or list(WEIGHTS)
    if args.total:
        weight = sum(WEIGHTS[e] for e in entries)
        plan = {e: max(1, round(args.total * WEIGHTS[e] / weight)) for e in entries}
    else:
        plan = {e: args.examples or 100 for e in entries}
    table, all_findings = {}, {}
    print(
        f"{'entry point':26s} {'cases':>6s} " + " ".join(f"{o:>6s}" for o in OUTCOMES) + "  seconds"
    )

    def one(entry):
        start = time.perf_counter()
        counts, findings = run_entry(entry, plan[entry], args.seed)
        return entry, counts, findings, time.perf_counter() - start

    with ThreadPoolExecutor(args.jobs) as pool:  # (the cases run in child processes)
        for done in as_completed([pool.submit(one, entry) for entry in plan]):
            entry, counts, findings, took = done.result()
            table[entry] = dict(counts, cases=sum(counts.values()), seconds=round(took, 1))
            all_findings[entry] = findings
            print(
                f"{entry:26s} {sum(counts.values()):6d} "
                + " ".join(f"{counts[o]:6d}" for o in OUTCOMES)
                + f"  {took:7.1f}",
                flush=True,
            )
            for kind, detail in findings[:10]:
                print(f"  {kind}: {detail}", flush=True)
    total = Counter()
    for row in table.values():
        total.update({o: row.get(o, 0) for o in OUTCOMES})
    print(f"{'total':26s} {sum(total.values()):6d} " + " ".join(f"{total[o]:6d}" for o in OUTCOMES))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"table": table, "findings": all_findings}, f, indent=1)
    return 0 if not any(total[o] for o in ("wrong", "crash", "hang")) else 1


if __name__ == "__main__":
    sys.exit(main())
