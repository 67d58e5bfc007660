"""The estimators' own backward code (pooling of the final state, per-step heads, dropout-free
embeddings, the Seq2Seq bridge and context, the language model's chunks) against central
finite differences of the training loss, in float64, for every trained parameter group."""

import numpy as np
import pytest

from pyrnn import RNNClassifier, RNNLanguageModel, RNNRegressor, RNNTagger, Seq2Seq
from pyrnn.estimators._data import check_sequences

TINY = dict(
    hidden_size=5,
    embedding_dim=4,
    max_epochs=1,
    batch_size=4,
    dtype="float64",
    random_state=0,
    n_threads=1,
)


def _check_gradients(est, batch, n_coords=6, eps=1e-6):
    rng = np.random.RandomState(0)

    def loss():
        for m in est._modules():
            m.zero_grad()
        return est._forward_backward(batch, np.random.RandomState(1))[0]

    loss()
    grads = [m.grad.copy() for m in est._modules()]
    checked = 0
    for m, g in zip(est._modules(), grads):
        nonzero = np.flatnonzero(np.abs(g) > 1e-8)
        assert len(nonzero), f"{type(m).__name__} got no gradient at all"
        picks = rng.choice(nonzero, size=min(n_coords, len(nonzero)), replace=False)
        for i in picks:
            saved = m.params[i]
            m.params[i] = saved + eps
            up = loss()
            m.params[i] = saved - eps
            down = loss()
            m.params[i] = saved
            numeric = (up - down) / (2 * eps)
            assert abs(numeric - g[i]) <= 1e-6 + 1e-5 * abs(numeric), (
                f"{type(m).__name__}[{i}]: analytic {g[i]:.10g}, numeric {numeric:.10g}"
            )
            checked += 1
    assert checked >= len(grads)


def _ragged(rng, n=6, features=3):
    return [rng.standard_normal((rng.randint(2, 7), features)) for _ in range(n)]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_classifier_gradients(cell, bidirectional):
    rng = np.random.RandomState(0)
    X, y = _ragged(rng), np.array([0, 1, 2, 0, 1, 2])
    est = RNNClassifier(cell=cell, bidirectional=bidirectional, num_layers=2, **TINY).fit(X, y)
    seqs = check_sequences(est, X, reset=False)
    _check_gradients(est, (seqs, y))


def test_classifier_gradients_with_text():
    X = ["a b c", "b c", "c a a b", "a", "b b", "c b a"]
    y = ["x", "y", "x", "y", "x", "y"]
    est = RNNClassifier(cell="gru", bidirectional=True, **TINY).fit(X, y)
    seqs = check_sequences(est, X, reset=False)
    _check_gradients(est, (seqs, np.array([0, 1, 0, 1, 0, 1])))


def test_regressor_gradients_multioutput():
    rng = np.random.RandomState(1)
    X, y = _ragged(rng), rng.standard_normal((6, 2))
    est = RNNRegressor(cell="lstm", bidirectional=True, **TINY).fit(X, y)
    seqs = check_sequences(est, X, reset=False)
    _check_gradients(est, (seqs, ((y - est.y_mean_) / est.y_scale_)))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_tagger_gradients(bidirectional):
    X = [["a", "b"], ["b", "c", "a", "a"], ["c"], ["a", "c", "b"]]
    y = [[1, 2], [2, 3, 1, 1], [3], [1, 3, 2]]
    est = RNNTagger(cell="lstm", bidirectional=bidirectional, num_layers=2, **TINY).fit(X, y)
    seqs = check_sequences(est, X, reset=False)
    targets = est._prepare_targets(y, seqs, False, None)
    _check_gradients(est, (seqs, targets))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_seq2seq_gradients(cell):
    X = ["one two", "two", "three one two", "two two", "one"]
    y = ["12", "2", "312", "", "1"]  # an empty target too
    est = Seq2Seq(cell=cell, bidirectional=True, num_layers=2, **TINY).fit(X, y)
    src = est._check_X(X, reset=False)
    tgt = est._prepare_targets(y, len(X), False)
    _check_gradients(est, (src, tgt))


def test_seq2seq_vector_gradients():
    rng = np.random.RandomState(2)
    X = rng.standard_normal((5, 3))
    y = [["a", "b"], ["b"], ["a", "a", "b"], ["b", "a"], ["a"]]
    est = Seq2Seq(source="vector", cell="rnn", **TINY).fit(X, y)
    src = est._check_X(X, reset=False)
    tgt = est._prepare_targets(y, len(X), False)
    _check_gradients(est, (src, tgt))


def test_language_model_gradients():
    text = "abcab cabba cab"
    est = RNNLanguageModel(cell="lstm", num_layers=2, tbptt=4, **TINY).fit(text)
    stream = est._stream(est._token_lists(text))
    x = np.ascontiguousarray(stream[:-1].reshape(-1, 1)[:6])
    y = np.ascontiguousarray(stream[1:].reshape(-1, 1)[:6])
    _check_gradients(est, (x, y, True))


def test_gradients_with_dropout_masks_held_fixed():
    rng = np.random.RandomState(3)
    X, y = _ragged(rng), np.array([0, 1, 2, 0, 1, 2])
    est = RNNClassifier(cell="lstm", num_layers=2, dropout=0.4, **TINY).fit(X, y)
    seqs = check_sequences(est, X, reset=False)
    original = est._forward_backward

    def seeded(batch, rng):
        # the same masks at every evaluation: the head's come from the rng _check_gradients
        # seeds per call, the network's (between layers) from its own generator, reset here
        est.network_._rng = np.random.default_rng(5)
        return original(batch, rng)

    est._forward_backward = seeded
    _check_gradients(est, (seqs, y))
