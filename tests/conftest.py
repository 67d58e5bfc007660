"""Shared pytest fixtures (keep this file small)."""

import os

import pytest

# The kernels use fewer threads than asked when other processes keep cores busy (the load
# probe, csrc/load.cpp); on a busy test machine the thread-count tests would then compare one
# thread with one thread. So the suite runs with the probe off (before pyrnn is imported);
# tests/test_load.py starts children with it on. PYRNN_LOAD_PROBE=1 runs the suite with it.
os.environ.setdefault("PYRNN_LOAD_PROBE", "0")


@pytest.fixture
def restore_num_threads():
    """Restore pyrnn's thread count after a test that changes it."""
    from pyrnn import engine

    saved = engine.get_num_threads()
    yield saved
    engine.set_num_threads(None)  # back to the default (no test sets a count for good)
