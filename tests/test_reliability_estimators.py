"""Regression tests of issue 11 at the estimators: score works for every kind of label fit
accepts (it used to raise TypeError for strings mixed with numbers), sampling at a tiny temperature
works, and a training job that needs more memory than the machine has fails up front."""

import numpy as np
import pytest

from pyrnn import RNNClassifier, RNNLanguageModel, engine

FAST = dict(hidden_size=8, max_epochs=2, learning_rate=0.02, random_state=0, n_threads=1)


def _X(n=8):
    return np.random.default_rng(0).standard_normal((n, 4, 2)).astype(np.float32)


@pytest.mark.parametrize(
    "y",
    [
        np.array([1, "a", 1, "a", 1, "a", 1, "a"], dtype=object),  # strings mixed with numbers
        np.array([1, 2.5, 1, 2.5, 1, 2.5, 1, 2.5], dtype=object),  # numbers of two types
        [1, "a", 1, "a", 1, "a", 1, "a"],  # a list: numpy makes strings
        np.array([("a", 1), ("b", 2)] * 4 + [None], dtype=object)[:8],  # tuples
    ],
)
def test_labels_that_fit_also_score(y):
    clf = RNNClassifier(**FAST).fit(_X(), y)
    pred = clf.predict(_X())
    want = np.mean([p == t for p, t in zip(pred.tolist(), np.asarray(y).tolist())])
    assert clf.score(_X(), y) == pytest.approx(want)
    w = np.arange(1, 9, dtype=float)
    assert clf.score(_X(), y, sample_weight=w) == pytest.approx(
        np.average([p == t for p, t in zip(pred.tolist(), np.asarray(y).tolist())], weights=w)
    )


def test_sample_at_a_tiny_temperature_is_greedy():
    lm = RNNLanguageModel(tbptt=8, **FAST).fit("abcabcabcabcabcabc" * 4)
    tiny = lm.sample(20, prompt="ab", temperature=5e-324, random_state=0)
    assert tiny == lm.sample(20, prompt="ab", temperature=0, random_state=0)


def test_fit_beyond_available_memory_fails_up_front():
    avail = engine._core.available_memory()
    if avail > 2**44:
        pytest.skip("available memory cannot be read here")
    H = 512
    per_row = engine.training_nbytes("lstm", 1, 1, 1, H)
    n = int(1.5 * avail / per_row / 50) + 1  # one batch of n sequences of 50 steps > all of it
    X = np.zeros((n, 50, 1), np.float32)
    clf = RNNClassifier(hidden_size=H, batch_size=n, max_epochs=1, n_threads=1)
    with pytest.raises(MemoryError, match="batch_size"):
        clf.fit(X, np.arange(n) % 2)
