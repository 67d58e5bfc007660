"""Shared pytest fixtures (keep this file small)."""
import pytest


@pytest.fixture
def restore_num_threads():
    """Restore pyrnn's thread count after a test that changes it."""
    from pyrnn import engine

    saved = engine.get_num_threads()
    yield saved
    engine.set_num_threads(None)  # back to the default (no test sets a count for good)
