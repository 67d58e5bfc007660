"""Running Python in a subprocess against the same ``pyrnn`` these tests imported.

Children start in ``tests/`` (a child started in the repository root would import the source
folder ``pyrnn/`` first, which has no compiled extension after a plain install), with the
imported package's parent folder first on ``PYTHONPATH``. After ``pip install`` or the
editable install that adds nothing; it matters only for a working tree whose extension
``./dev-build.sh`` built in place, run with ``python -m pytest``.
"""

import os

import pyrnn

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(pyrnn.__file__)))


def subprocess_env(**extra):
    """``os.environ`` plus ``extra``, with the imported pyrnn first on PYTHONPATH."""
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    return env


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
