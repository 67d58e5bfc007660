"""The benchmark report's arithmetic (benchmarks/report.py, perfreport.py, isarun.py), on
made-up rows."""

import os

import isarun  # benchmarks/ (pyproject.toml puts it on pytest's pythonpath)
import perfreport
import pytest
import report


def _row(config, cell, mode, pyrnn_ms, torch_ms, gflops, peak):
    return dict(
        config=config,
        cell=cell,
        mode=mode,
        threads=1,
        pyrnn_ms=pyrnn_ms,
        torch_ms=torch_ms,
        numpy_ms=None,
        pyrnn_gflops=gflops,
        pct_peak=100.0 * gflops / peak,
        torch_over_pyrnn=torch_ms / pyrnn_ms,
        numpy_over_pyrnn=None,
    )


def test_needed_speed_follows_from_torch_time_and_target():
    # 1 GFLOP in 10 ms = 100 GFLOP/s; torch 15 ms; GRU inference on medium must be 2x torch,
    # i.e. 7.5 ms: 133.3 GFLOP/s, 66.7% of a 200 GFLOP/s peak.
    (r,) = report.target_rows([_row("medium", "gru", "infer", 10.0, 15.0, 100.0, 200.0)])
    assert r["target"] == 2.0 and r["ratio"] == pytest.approx(1.5) and not r["met"]
    assert r["need_gflops"] == pytest.approx(1000.0 / 7.5)
    assert r["need_pct_peak"] == pytest.approx(100.0 * (1000.0 / 7.5) / 200.0)


def test_met_targets_and_configs_without_targets():
    rows = report.target_rows(
        [
            _row("large", "lstm", "infer", 10.0, 10.0, 100.0, 200.0),  # target 1.0: met exactly
            _row("bidir", "lstm", "infer", 10.0, 30.0, 100.0, 200.0),  # no target for bidir
            dict(
                _row("medium", "lstm", "train", 10.0, 30.0, 100.0, 200.0), torch_ms=None
            ),  # no torch
        ]
    )
    assert [(r["config"], r["met"]) for r in rows] == [("large", True)]
    assert rows[0]["need_pct_peak"] == pytest.approx(50.0)


def test_every_timed_config_mode_and_cell_has_a_known_target_or_none():
    names = {c for c, _, _ in report.TARGETS}
    assert names == {"small-latency", "medium", "large"}
    assert all(
        mode in ("infer", "train") and cell in ("lstm", "gru", "rnn_tanh")
        for _, mode, cell in report.TARGETS
    )


def _run(rounds, peak, repeats=None):
    b = {
        "fullname": "test_rnn[medium-lstm-infer-1t-pyrnn]",
        "stats": {"data": list(rounds)},
        "extra_info": {
            "kind": "rnn",
            "config": "medium",
            "cell": "lstm",
            "mode": "infer",
            "threads": 1,
            "impl": "pyrnn",
        },
    }
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


# --------------------------------------------------------------------------- issue-10 tables


def _bench(seconds, **extra):
    return {
        "fullname": str(extra),
        "stats": {"min": seconds, "median": 2 * seconds},
        "extra_info": extra,
    }


def test_efficiency_is_gemm_time_over_network_time_with_3x_for_training():
    flop = 1e9
    run = {
        "benchmarks": [
            _bench(
                0.010,
                kind="gemm_equiv",
                impl="pyrnn",
                config="medium",
                cell="lstm",
                threads=1,
                flops=flop,
            ),
            _bench(
                0.005,
                kind="gemm_equiv",
                impl="numpy",
                config="medium",
                cell="lstm",
                threads=1,
                flops=flop,
            ),
            _bench(
                0.0125,
                kind="rnn",
                impl="pyrnn",
                config="medium",
                cell="lstm",
                mode="infer",
                threads=1,
            ),
            _bench(
                0.050,
                kind="rnn",
                impl="pyrnn",
                config="medium",
                cell="lstm",
                mode="train",
                threads=1,
            ),
            _bench(
                0.020,
                kind="rnn",
                impl="torch",
                config="medium",
                cell="lstm",
                mode="infer",
                threads=1,
            ),
            _bench(
                0.020,
                kind="rnn",
                impl="pyrnn",
                config="small-latency",
                cell="lstm",
                mode="infer",
                threads=1,
            ),
        ]
    }
    infer, train = perfreport.efficiency_rows(run, "min")
    assert infer["pct_gemm"] == pytest.approx(80.0) and not infer["met"] and infer["target"] == 90
    assert infer["gemm_gflops"] == pytest.approx(100.0) and infer["pyrnn_gflops"] == pytest.approx(
        80.0
    )
    # training: 3 GFLOP, the GEMM's 30 ms against 50 ms = 60% (< 80%)
    assert train["gemm_ms"] == pytest.approx(30.0) and train["pct_gemm"] == pytest.approx(60.0)
    assert train["pyrnn_gflops"] == pytest.approx(60.0) and not train["met"]
    # the median statistic is read when asked
    assert perfreport.efficiency_rows(run, "median")[0]["pyrnn_ms"] == pytest.approx(25.0)


def test_gemm_best_of_numpy_and_torch_per_shape():
    run = {
        "benchmarks": [
            _bench(
                0.010,
                kind="gemm_equiv",
                impl="pyrnn",
                config="large",
                cell="gru",
                threads=2,
                flops=2e9,
            ),
            _bench(
                0.008,
                kind="gemm_equiv",
                impl="numpy",
                config="large",
                cell="gru",
                threads=2,
                flops=2e9,
            ),
            _bench(
                0.012,
                kind="gemm_equiv",
                impl="torch",
                config="large",
                cell="gru",
                threads=2,
                flops=2e9,
            ),
            _bench(0.004, kind="gemm", impl="pyrnn", shape="weight-grad", threads=1, flops=1e9),
            _bench(0.005, kind="gemm", impl="torch", shape="weight-grad", threads=1, flops=1e9),
        ]
    }
    kernel, equiv = sorted(perfreport.gemm_best_rows(run, "min"), key=lambda r: r["rnn_equivalent"])
    assert equiv["shape"] == "rnn-large-gru" and equiv["best"] == "numpy"
    assert equiv["best_over_pyrnn"] == pytest.approx(0.8) and equiv[
        "pyrnn_gflops"
    ] == pytest.approx(200.0)
    assert kernel["best"] == "torch" and kernel["numpy_ms"] is None
    assert kernel["best_over_pyrnn"] == pytest.approx(1.25)


def test_wavefront_step_fit_and_activation_ratios():
    common = dict(kind="wavefront", net="bidir", cell="lstm", B=8, mode="infer", threads=2)
    run = {
        "benchmarks": [
            _bench(0.010, variant="grouped", grouped=True, **common),
            _bench(0.017, variant="layered", grouped=False, **common),
            _bench(0.003, kind="step", cell="gru", impl="pyrnn", threads=1, steps=100),
            _bench(0.006, kind="step", cell="gru", impl="torch", threads=1, steps=100),
            *(
                _bench(
                    t,
                    kind="fit",
                    task="long",
                    direction="bidir",
                    impl=impl,
                    threads=1,
                    T=150,
                    n=256,
                    epochs=2,
                )
                for t, impl in ((2.0, "pyrnn"), (3.2, "torch"))
            ),
        ]
    }
    (w,) = perfreport.wavefront_rows(run, "min")
    assert w["ratio"] == pytest.approx(1.7) and w["plan_groups"] is True
    (s,) = perfreport.step_rows(run, "min")
    assert s["pyrnn_us"] == pytest.approx(30.0) and s["ratio"] == pytest.approx(2.0)
    (f,) = perfreport.fit_rows(run, "min")
    assert f["ratio"] == pytest.approx(1.6) and f["T"] == 150
    act = {
        "avx2": {
            "benchmarks": [
                _bench(0.001, kind="activation", name="tanh", impl="pyrnn", n=1_000_000),
                _bench(0.004, kind="activation", name="tanh", impl="numpy", n=1_000_000),
            ]
        }
    }
    (a,) = perfreport.activation_rows(act, "min")
    assert (a["isa"], a["pyrnn_ns"], a["numpy_ns"]) == (
        "avx2",
        pytest.approx(1.0),
        pytest.approx(4.0),
    )


def test_target_summary_reports_worst_case_and_unmeasured_targets():
    report_ = dict(
        rnn_rows=[
            _row("medium", "gru", "infer", 10.0, 20.0, 100.0, 200.0),
            _row("large", "rnn_tanh", "train", 10.0, 12.0, 100.0, 200.0),
            _row("small-latency", "lstm", "infer", 10.0, 25.0, 10.0, 200.0),
        ],
        step_rows=[dict(cell="lstm", threads=1, ratio=3.5)],
        memory_rows=[
            dict(impl="pyrnn", config="medium", cell="lstm", peak_mib=11.5, required_mib=10.0),
            dict(impl="pyrnn", config="small-latency", cell="lstm", peak_mib=1.0, required_mib=0.1),
            dict(impl="torch", config="medium", cell="lstm", peak_mib=30.0),
        ],
    )
    rows = {r["target"].split(" (")[0]: r for r in perfreport.target_summary(report_)}
    never = rows["never slower than PyTorch"]
    assert (never["cases"], never["met"], never["all_met"]) == (3, 3, True)
    assert never["worst"] == pytest.approx(1.2) and never["worst_case"] == "large rnn_tanh train 1t"
    gru = rows["GRU and RNN vs PyTorch on medium and large"]
    assert (gru["cases"], gru["met"], gru["all_met"]) == (2, 1, False)
    assert rows["small-latency"]["all_met"] is True
    assert rows["step() at B = 1, H = 128 vs torch T = 1"]["all_met"] is True
    fit = rows["estimator fit vs a plain PyTorch loop"]
    assert fit["cases"] == 0 and fit["all_met"] is None
    mem = rows["peak training memory / what BPTT keeps"]  # lower is better; small-latency left out
    assert mem["cases"] == 1 and mem["worst"] == pytest.approx(1.15) and mem["all_met"] is False


def test_gru_rnn_needed_speed_is_pct_peak_times_goal_over_ratio():
    report_ = dict(
        rnn_rows=[
            _row("medium", "gru", "infer", 10.0, 20.0, 50.0, 100.0),  # ratio 2: 50% * 1.5 / 2
            _row("medium", "rnn_tanh", "train", 10.0, 10.0, 60.0, 100.0),  # ratio 1: 60% * 1.5
            _row("large", "gru", "train", 10.0, 12.0, 80.0, 100.0),  # ratio 1.2: 100%
            _row("medium", "lstm", "infer", 10.0, 5.0, 90.0, 100.0),  # not a GRU/RNN row
            _row("small-latency", "gru", "infer", 10.0, 5.0, 90.0, 100.0),  # not medium/large
        ]
    )
    need = perfreport.gru_rnn_needed(report_)
    assert need.keys() == {("medium", 1), ("large", 1)}
    assert need[("medium", 1)] == (pytest.approx(37.5), pytest.approx(90.0))
    assert need[("large", 1)] == (pytest.approx(100.0), pytest.approx(100.0))
    text = "\n".join(perfreport.render(report_, report._table, report._fmt))
    assert "large 1t 100-100%; medium 1t 38-90%" in text
    assert perfreport.gru_rnn_needed(dict(rnn_rows=[])) == {}


def test_render_prints_every_new_table_and_the_targets():
    report_ = dict(
        rnn_rows=[],
        isa_env={"PYRNN_ISA": "avx2"},
        activation_rows=[
            dict(name="exp", isa="avx2", pyrnn_ns=0.5, numpy_ns=1.0, numpy_over_pyrnn=2.0)
        ],
        efficiency_rows=[
            dict(
                config="medium",
                cell="lstm",
                mode="infer",
                threads=1,
                pyrnn_ms=1.0,
                gemm_ms=0.9,
                pyrnn_gflops=90.0,
                gemm_gflops=100.0,
                pct_gemm=90.0,
                target=90.0,
                met=True,
            )
        ],
        wavefront_rows=[
            dict(
                net="2layer",
                cell="gru",
                B=1,
                mode="train",
                threads=2,
                grouped_ms=1.0,
                layered_ms=1.5,
                plan_groups=True,
                ratio=1.5,
                target=1.6,
            )
        ],
    )
    text = "\n".join(perfreport.render(report_, report._table, report._fmt))
    for heading in (
        "PYRNN_ISA=avx2",
        "Activations:",
        "Efficiency:",
        "Wavefront:",
        "Issue-10 targets",
    ):
        assert heading in text
    assert "step():" not in text and "Whole fits" not in text  # tables without rows are left out


def test_isa_levels_environment_and_arguments():
    assert isarun.parse_levels("all", ["baseline", "avx2"]) == ["baseline", "avx2"]
    assert isarun.parse_levels("avx2", ["baseline", "avx2"]) == ["avx2"]
    with pytest.raises(ValueError, match="avx512"):
        isarun.parse_levels("avx512", ["baseline", "avx2"])
    # PyTorch is capped to AVX2 only at the avx2 level of an AVX-512 machine
    assert isarun.level_env("avx2", ["baseline", "avx2"]) == {"PYRNN_ISA": "avx2"}
    capped = isarun.level_env("avx2", ["baseline", "avx2", "avx512"])
    assert capped == {"PYRNN_ISA": "avx2", **isarun.TORCH_AVX2_CAP}
    assert isarun.level_env("baseline", ["baseline", "avx2", "avx512"]) == {"PYRNN_ISA": "baseline"}
    assert isarun.without_isa(["--quick", "--isa", "all", "--isa=avx2", "--threads", "1"]) == [
        "--quick",
        "--threads",
        "1",
    ]


def test_environ_restores_the_environment(monkeypatch):
    monkeypatch.setenv("PYRNN_BENCH_TEST_A", "old")
    monkeypatch.delenv("PYRNN_BENCH_TEST_B", raising=False)
    with isarun.environ({"PYRNN_BENCH_TEST_A": "new", "PYRNN_BENCH_TEST_B": "x"}):
        assert os.environ["PYRNN_BENCH_TEST_A"] == "new" and os.environ["PYRNN_BENCH_TEST_B"] == "x"
    assert os.environ["PYRNN_BENCH_TEST_A"] == "old" and "PYRNN_BENCH_TEST_B" not in os.environ


def test_multi_level_report_prints_each_level_then_the_activations():
    def level(isa, ratio):
        return dict(
            machine_info={"pyrnn": {"isa": isa}},
            stat="min",
            rnn_rows=[],
            gemm_rows=[],
            step_rows=[
                dict(
                    cell="lstm",
                    threads=1,
                    pyrnn_us=10.0,
                    torch_us=10.0 * ratio,
                    ratio=ratio,
                    target=3.0,
                )
            ],
        )

    combined = {
        "isa_reports": {"baseline": level("baseline", 2.0), "avx2": level("avx2", 4.0)},
        "activation_rows": [
            dict(name="exp", isa="avx2", pyrnn_ns=0.5, numpy_ns=1.0, numpy_over_pyrnn=2.0)
        ],
    }
    text = report.render_levels(combined)
    assert (
        text.index("ISA level baseline") < text.index("ISA level avx2") < text.index("Activations:")
    )
    assert text.count("Issue-10 targets") == 2 and "ISA baseline" in text and "ISA avx2" in text


def test_tables_mark_each_row_met_or_not():
    report_ = dict(
        step_rows=[
            dict(cell="lstm", threads=1, pyrnn_us=10.0, torch_us=29.0, ratio=2.9, target=3.0)
        ],
        fit_rows=[
            dict(
                task="digits",
                direction="uni",
                threads=1,
                T=8,
                n=1797,
                epochs=2,
                pyrnn_s=1.0,
                torch_s=1.5,
                ratio=1.5,
                target=1.5,
            )
        ],
    )
    lines = "\n".join(perfreport.render(report_, report._table, report._fmt)).splitlines()
    step_line = next(line for line in lines if line.startswith("lstm "))
    fit_line = next(line for line in lines if line.startswith("digits "))
    assert step_line.rstrip().endswith("no") and fit_line.rstrip().endswith("yes")


def test_onnxruntime_rows_pair_each_ort_time_with_pyrnn_and_torch():
    times = {
        ("rnn", "medium", "gru", "infer", 2, "onnxruntime"): (0.004, {}),
        ("rnn", "medium", "gru", "infer", 2, "pyrnn"): (0.002, {}),
        ("rnn", "medium", "gru", "infer", 2, "torch"): (0.008, {}),
        ("rnn", "medium", "gru", "train", 2, "pyrnn"): (0.010, {}),
    }
    (r,) = report.onnxruntime_rows(times)
    assert (r["config"], r["cell"], r["threads"]) == ("medium", "gru", 2)
    assert r["ort_over_pyrnn"] == pytest.approx(2.0) and r["ort_over_torch"] == pytest.approx(0.5)
    text = "\n".join(report.onnxruntime_section({"onnxruntime_rows": [r]}))
    assert "ONNX Runtime" in text and "2.00" in text
    assert report.onnxruntime_section({}) == []
