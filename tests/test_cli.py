"""The pyrnn command: `info`, and each demo in its --quick form (a smoke test: they run, learn
something and print their result)."""

import subprocess
import sys

import pytest

from support import TESTS_DIR, subprocess_env

import pyrnn
from pyrnn import cli

EXPECTED = {
    "classify": "test accuracy:",
    "tag": "test accuracy per move:",
    "translate": "exact match on unseen numbers:",
    "generate": "held-out bits per character:",
    "forecast": "test R^2 of the 5-step return:",
}


def test_info(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "pyrnn" in out and "threads" in out


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_demo_quick(name, capsys):
    assert cli.main(["demo", name, "--quick", "--quiet", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"== {name} ==")
    assert EXPECTED[name] in out and "demo took" in out


def test_demo_results_are_real():
    class Args:
        quick, seed, threads, quiet = True, 0, 1, True

    assert cli.demo_classify(Args)["accuracy"] > 0.5  # chance is 0.1
    result = cli.demo_forecast(Args)
    assert result["r2"] > 0.2 and abs(result["persistence"]) < 0.05


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"pyrnn {pyrnn.__version__}"


def test_info_does_not_import_scikit_learn():
    script = (
        "import sys; from pyrnn import cli; cli.main(['info']); "
        "print('sklearn' in sys.modules, 'pyrnn.estimators' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        cwd=TESTS_DIR,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False False"


def test_bad_arguments_exit_with_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["demo", "dance"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main([])
    with pytest.raises(SystemExit):
        cli.main(["demo", "tag", "--threads", "0"])


def test_python_dash_m_pyrnn():
    result = subprocess.run(
        [sys.executable, "-m", "pyrnn", "demo", "classify", "--quick", "--quiet", "--threads", "1"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        cwd=TESTS_DIR,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "test accuracy:" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["demo", "classify", "--seed", "-1"],
        ["demo", "classify", "--seed", "1099511627776"],
        ["demo", "classify", "--seed", "x"],
        ["demo", "classify", "--threads", "2147483648"],
        ["demo", "classify", "--threads", "0"],
        ["demo", "forecast", "--seed", "-5"],
    ],
)
def test_bad_seed_or_threads_is_a_usage_error(args, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(args + ["--quick", "--quiet"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and ("--seed must be" in err or "--threads must be" in err), err
