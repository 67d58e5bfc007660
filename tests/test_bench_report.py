"""The benchmark report's target arithmetic (benchmarks/report.py), on made-up rows."""
import pytest
import report  # benchmarks/report.py (pyproject.toml puts benchmarks/ on pytest's pythonpath)


def _row(config, cell, mode, pyrnn_ms, torch_ms, gflops, peak):
    return dict(config=config, cell=cell, mode=mode, threads=1, pyrnn_ms=pyrnn_ms, torch_ms=torch_ms,
                numpy_ms=None, pyrnn_gflops=gflops, pct_peak=100.0 * gflops / peak,
                torch_over_pyrnn=torch_ms / pyrnn_ms, numpy_over_pyrnn=None)


def test_needed_speed_follows_from_torch_time_and_target():
    # 1 GFLOP in 10 ms = 100 GFLOP/s; torch 15 ms; GRU inference on medium must be 2x torch,
    # i.e. 7.5 ms: 133.3 GFLOP/s, 66.7% of a 200 GFLOP/s peak.
    (r,) = report.target_rows([_row("medium", "gru", "infer", 10.0, 15.0, 100.0, 200.0)])
    assert r["target"] == 2.0 and r["ratio"] == pytest.approx(1.5) and not r["met"]
    assert r["need_gflops"] == pytest.approx(1000.0 / 7.5)
    assert r["need_pct_peak"] == pytest.approx(100.0 * (1000.0 / 7.5) / 200.0)


def test_met_targets_and_configs_without_targets():
    rows = report.target_rows([
        _row("large", "lstm", "infer", 10.0, 10.0, 100.0, 200.0),   # target 1.0: met exactly
        _row("bidir", "lstm", "infer", 10.0, 30.0, 100.0, 200.0),   # no target for bidir
        dict(_row("medium", "lstm", "train", 10.0, 30.0, 100.0, 200.0), torch_ms=None),  # no torch
    ])
    assert [(r["config"], r["met"]) for r in rows] == [("large", True)]
    assert rows[0]["need_pct_peak"] == pytest.approx(50.0)


def test_every_timed_config_mode_and_cell_has_a_known_target_or_none():
    names = {c for c, _, _ in report.TARGETS}
    assert names == {"small-latency", "medium", "large"}
    assert all(mode in ("infer", "train") and cell in ("lstm", "gru", "rnn_tanh")
               for _, mode, cell in report.TARGETS)


def _run(rounds, peak, repeats=None):
    b = {"fullname": "test_rnn[medium-lstm-infer-1t-pyrnn]", "stats": {"data": list(rounds)},
         "extra_info": {"kind": "rnn", "config": "medium", "cell": "lstm", "mode": "infer",
                        "threads": 1, "impl": "pyrnn"}}
    run = {"benchmarks": [b], "machine_info": {"fma_peak_gflops": {"1": peak}}}
    if repeats:
        run["repeats"] = repeats
    return run


def test_pooling_runs_keeps_every_round_the_best_peak_and_counts_passes():
    merged = report._merge_runs([_run([0.02, 0.03], 150.0, repeats=2), _run([0.025, 0.01], 140.0)])
    (b,) = merged["benchmarks"]
    assert sorted(b["stats"]["data"]) == [0.01, 0.02, 0.025, 0.03]
    assert b["stats"]["min"] == 0.01 and b["stats"]["rounds"] == 4
    assert merged["machine_info"]["fma_peak_gflops"] == {"1": 150.0}
    assert merged["repeats"] == 3
    assert report._times(merged, "min")[("rnn", "medium", "lstm", "infer", 1, "pyrnn")][0] == 0.01
