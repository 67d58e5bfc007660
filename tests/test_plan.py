"""Plans from the machine: cache sizes read at run time, tiles and the thread split derived
from them (csrc/plan.cpp), and what `pyrnn info` shows of them."""

import numpy as np
import pytest

from pyrnn import engine
from pyrnn.cli import main


def test_caches_are_read_and_tiles_follow_from_them():
    c = engine.config()
    ca, tu = c["caches"], c["tuning"]
    assert ca["source"] in ("sysfs", "sysconf", "default")
    assert 4096 <= ca["l1d"] <= ca["l2"]
    assert tu["step_tile_bytes"] == ca["l1d"] * 3 // 4
    assert tu["row_split_bytes"] == ca["l2"] * 3 // 4
    assert 16 << 10 <= tu["step_slice_bytes"] <= 128 << 10
    assert tu["l2_fit_bytes"] == ca["l2"] // 2
    assert tu["gemm_kc_bytes"] == ca["l1d"] * 2
    assert tu["gemm_mc_bytes"] == ca["l2"] * 3 // 8


def rows_threshold_H(I, G, itemsize, limit):
    """The largest H whose weights G*H*(I+H)*itemsize fit `limit` bytes."""
    H = 1
    while G * (H + 1) * (I + H + 1) * itemsize <= limit:
        H += 1
    return H


def test_split_by_rows_exactly_when_the_weights_fit_l2():
    limit = engine.config()["tuning"]["row_split_bytes"]
    H = rows_threshold_H(64, 4, 4, limit)
    fits = engine.plan("lstm", 200, 64, 64, H, num_threads=2)
    too_big = engine.plan("lstm", 200, 64, 64, H + 1, num_threads=2)
    assert fits["forward"] == {"threads": 2, "split": "batch rows"}
    assert too_big["forward"]["split"] == "hidden units"
    # float64 weights are twice the bytes
    assert (
        engine.plan("lstm", 200, 64, 64, H, num_threads=2, dtype=np.float64)["forward"]["split"]
        == "hidden units"
    )


def test_small_work_is_serial_and_one_thread_is_serial():
    assert engine.plan("rnn", 5, 1, 4, 8, num_threads=2)["forward"] == {
        "threads": 1,
        "split": "serial",
    }
    p = engine.plan("lstm", 100, 64, 128, 256, num_threads=1)
    assert p["forward"] == p["backward"] == {"threads": 1, "split": "serial"}


def test_plan_rejects_bad_shapes():
    with pytest.raises(ValueError, match=">= 1"):
        engine.plan("lstm", 0, 1, 1, 1)
    with pytest.raises(ValueError, match="cell must be"):
        engine.plan("conv", 1, 1, 1, 1)


def test_info_prints_caches_and_plans(capsys):
    assert main(["info", "--cell", "gru", "--shape", "10,4,8,32"]) == 0
    out = capsys.readouterr().out
    assert "caches" in out and "L1d" in out and "L2" in out
    assert "plans (gru" in out and "T=10 B=4 I=8 H=32" in out


def test_info_rejects_a_malformed_shape(capsys):
    with pytest.raises(SystemExit) as e:
        main(["info", "--shape", "10,4,8"])
    assert e.value.code == 2
    assert "T,B,I,H" in capsys.readouterr().err
