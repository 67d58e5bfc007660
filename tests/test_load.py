"""Robust under load (csrc/load.cpp): a call uses at most as many threads as other processes
leave cores free. The rule is tested as a pure function of the load it is given (through
``engine.plan(busy_cores=, cpus=)``); the probe itself only through what it reports, since
the load of a test machine is whatever it is. The suite runs with the probe off
(tests/conftest.py), so that its 2-thread runs really split; the tests here that need it on
start a child interpreter."""

import json
import subprocess
import sys

import pytest
from support import TESTS_DIR, subprocess_env

from pyrnn import engine

MEDIUM = ("lstm", 100, 64, 128, 256)  # split among threads by hidden units when cores are free


def threads(n, busy, cpus, shape=MEDIUM):
    p = engine.plan(*shape, num_threads=n, busy_cores=busy, cpus=cpus)
    return p["forward"]["threads"]


@pytest.mark.parametrize(
    "n, busy, cpus, expected",
    [
        (2, 0.0, 2, 2),  # idle: the count as given
        (2, 0.4, 2, 2),  # a core less than half busy still counts as free
        (2, 0.6, 2, 1),  # more than half busy: taken
        (2, 1.0, 2, 1),  # one busy process on a 2-core machine (the case of issue 10)
        (2, 2.0, 2, 1),  # everything taken: still one thread, never zero
        (2, 7.5, 2, 1),  # more busy than cores (an oversubscribed machine)
        (4, 1.0, 4, 3),  # as many as are free
        (8, 0.0, 4, 4),  # never more threads than CPUs this process may use
        (2, 5.0, 64, 2),  # a big machine with others busy: the count as given
        (1, 0.0, 8, 1),  # one thread stays one thread
    ],
)
def test_threads_follow_the_free_cores(n, busy, cpus, expected):
    assert threads(n, busy, cpus) == expected


def test_a_taken_core_makes_a_split_plan_serial():
    free = engine.plan(*MEDIUM, num_threads=2, busy_cores=0.0, cpus=2)
    taken = engine.plan(*MEDIUM, num_threads=2, busy_cores=1.0, cpus=2)
    assert free["forward"] == {"threads": 2, "split": "hidden units"}
    assert taken["forward"] == taken["backward"] == {"threads": 1, "split": "serial"}


def test_plan_rejects_bad_load():
    with pytest.raises(ValueError, match="busy_cores must be >= 0"):
        engine.plan(*MEDIUM, busy_cores=-1.0, cpus=2)
    with pytest.raises(ValueError, match="busy_cores must be >= 0"):
        engine.plan(*MEDIUM, busy_cores=float("nan"), cpus=2)
    with pytest.raises(ValueError, match="cpus must be >= 1"):
        engine.plan(*MEDIUM, busy_cores=0.0, cpus=0)


PROBE_CHILD = """
import json, numpy as np
from pyrnn import engine
engine.set_num_threads(2)
rng = np.random.default_rng(0)
T, B, I, H = 6, 2, 11, 200
x = rng.standard_normal((T, B, I))
w_ih = rng.standard_normal((4 * H, I)) * 0.1
w_hh = rng.standard_normal((4 * H, H)) * 0.1
y = engine.forward(x, w_ih, w_hh, cell="lstm", training=False).y
print(json.dumps({"load": engine.config()["load"], "y": y.tobytes().hex()}))
"""


def run_child(**env):
    out = subprocess.run(
        [sys.executable, "-c", PROBE_CHILD],
        cwd=TESTS_DIR,
        check=True,
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def test_probe_reports_what_it_saw_and_results_do_not_change():
    on = run_child(PYRNN_LOAD_PROBE="1")
    off = run_child(PYRNN_LOAD_PROBE="0")
    lo = on["load"]
    assert lo["source"] in ("cpu time", "runnable", "unavailable")
    if lo["source"] != "unavailable":  # Linux
        assert lo["cpus"] >= 1 and 0.0 <= lo["busy_cores"] <= lo["cpus"]
        assert (
            lo["threads"]
            == engine.plan(*MEDIUM, num_threads=2, busy_cores=lo["busy_cores"], cpus=lo["cpus"])[
                "forward"
            ]["threads"]
        )
    assert 1 <= lo["threads"] <= 2
    assert off["load"] == {"busy_cores": 0.0, "cpus": 0, "source": "off", "threads": 2}
    assert on["y"] == off["y"]  # same bits whatever the probe decided


def test_info_shows_the_load(capsys):
    from pyrnn.cli import main

    assert main(["info", "--shape", "10,4,8,32"]) == 0
    out = capsys.readouterr().out
    assert "load" in out and "a call given" in out
