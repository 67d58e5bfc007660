"""Running Python in a subprocess against the same ``pyrnn`` these tests import.

Children inherit this process's environment and interpreter, so they import the same installed
(or editable-installed) pyrnn. They start in ``tests/``: a child started in the repository root
would import the source folder ``pyrnn/`` first, which has no compiled extension after a plain
``pip install .``.
"""

import os

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def subprocess_env(**extra):
    """``os.environ`` plus ``extra`` (the child's environment)."""
    return dict(os.environ, **extra)


def run_python(code, timeout=120, **env):
    """Run ``code`` in a child interpreter (crash isolation: a segfault there is a failed
    test here, not a dead test runner). Returns the CompletedProcess (text output)."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=TESTS_DIR,
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
