"""ONNX graphs of fitted estimators give what predict / predict_proba / sample give."""

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import pyrnn  # noqa: E402
from pyrnn.datasets import load_digits_sequences, load_python_text, make_number_words  # noqa: E402
from pyrnn.export import to_onnx  # noqa: E402
from pyrnn.export.decode import lm_sample, seq2seq_predict  # noqa: E402


def session(model):
    """An onnxruntime session of a model (or a model file), after onnx's full check."""
    onnx.checker.check_model(model, full_check=True)
    if not isinstance(model, str):
        model = model.SerializeToString()
    return ort.InferenceSession(model, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits_sequences()
    return X.astype(np.float32), y


def ragged(X, rng):
    """Variable-length versions of the rows of X, padded again, with their lengths."""
    lengths = rng.integers(2, X.shape[1] + 1, len(X))
    seqs = [x[:n] for x, n in zip(X, lengths)]
    padded = np.zeros_like(X)
    for i, s in enumerate(seqs):
        padded[i, : len(s)] = s
    return seqs, padded, lengths


@pytest.mark.parametrize(
    "cell,bidirectional,num_layers", [("lstm", True, 2), ("gru", False, 1), ("rnn", True, 1)]
)
def test_classifier_labels_match_predict(digits, cell, bidirectional, num_layers):
    X, y = digits
    labels = np.array(["zero one two three four five six seven eight nine".split()])[0][y]
    clf = pyrnn.RNNClassifier(
        cell=cell,
        hidden_size=16,
        num_layers=num_layers,
        bidirectional=bidirectional,
        max_epochs=3,
        random_state=0,
    ).fit(X[:500], labels[:500])
    seqs, padded, lengths = ragged(X[500:800], np.random.default_rng(0))
    label, proba = session(to_onnx(clf, lengths=True)).run(
        None, {"X": padded, "lengths": lengths.astype(np.int64)}
    )
    np.testing.assert_array_equal(label, clf.predict(seqs))  # held-out, variable lengths
    np.testing.assert_allclose(proba, clf.predict_proba(seqs), atol=1e-5)
    label, _ = session(to_onnx(clf)).run(None, {"X": X[800:1000]})
    np.testing.assert_array_equal(label, clf.predict(X[800:1000]))


def test_regressor_values_match_predict(digits):
    X, y = digits
    target = np.stack([y, X.mean(axis=(1, 2))], axis=1)
    reg = pyrnn.RNNRegressor(cell="gru", hidden_size=12, max_epochs=3, random_state=0).fit(
        X[:400], target[:400]
    )
    (variable,) = session(to_onnx(reg)).run(None, {"X": X[400:600]})
    np.testing.assert_allclose(variable, reg.predict(X[400:600]), rtol=1e-5, atol=1e-5)
    tab = pyrnn.RNNRegressor(hidden_size=8, max_epochs=2, random_state=0).fit(
        X[:200, :, 0], y[:200]
    )  # 2-D X: univariate sequences
    (variable,) = session(to_onnx(tab)).run(None, {"X": X[200:300, :, 0]})
    np.testing.assert_allclose(variable[:, 0], tab.predict(X[200:300, :, 0]), rtol=1e-5, atol=1e-5)


def test_tagger_per_step_labels_match_predict(tmp_path):
    rng = np.random.default_rng(0)
    words = ["a", "b", "c", "dd", "e"]
    texts = [" ".join(rng.choice(words, rng.integers(2, 9))) for _ in range(200)]
    tags = [[int(w in "abc") + 2 * (i % 2) for i, w in enumerate(t.split())] for t in texts]
    tagger = pyrnn.RNNTagger(hidden_size=12, bidirectional=True, max_epochs=3, random_state=0).fit(
        texts[:150], tags[:150]
    )
    to_onnx(tagger, tmp_path / "tagger.onnx", lengths=True)
    doc = json.loads((tmp_path / "tagger.vocab.json").read_text())
    held_out = texts[150:] + ["a zz b"]  # zz: an unknown word
    tokens = [t.split() for t in held_out]
    lengths = np.array([len(t) for t in tokens])
    ids = np.zeros((len(tokens), lengths.max()), np.int64)
    for i, t in enumerate(tokens):
        ids[i, : len(t)] = [doc["vocabulary"].get(w, doc["unknown_id"]) for w in t]
    sess = session(str(tmp_path / "tagger.onnx"))
    label, proba = sess.run(None, {"X": ids, "lengths": lengths})
    for i, (want, p) in enumerate(zip(tagger.predict(held_out), tagger.predict_proba(held_out))):
        np.testing.assert_array_equal(label[i, : lengths[i]], want)
        np.testing.assert_allclose(proba[i, : lengths[i]], p, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_seq2seq_decode_loop_reproduces_predict(tmp_path, cell):
    X, y = make_number_words(500, max_value=999, random_state=0)
    model = pyrnn.Seq2Seq(
        cell=cell,
        hidden_size=32,
        num_layers=2,
        bidirectional=True,
        max_epochs=4,
        analyzer="word",
        random_state=0,
    ).fit(X[:400], y[:400])
    models = to_onnx(model, tmp_path / "s2s.onnx", lengths=True)
    doc = json.loads((tmp_path / "s2s.vocab.json").read_text())
    enc = session(str(tmp_path / "s2s.encoder.onnx"))
    dec = session(models["decoder"])
    assert seq2seq_predict(enc, dec, doc, X[400:]) == model.predict(X[400:])
    model.set_params(beam_width=3)
    assert seq2seq_predict(enc, dec, doc, X[400:], beam_width=3) == model.predict(X[400:])


def test_seq2seq_vector_source(tmp_path):
    rng = np.random.default_rng(0)
    V = rng.standard_normal((120, 4)).astype(np.float32)
    y = [["a", "b"][: 1 + int(v[0] > 0)] + (["c"] if v[1] > 0 else []) for v in V]
    model = pyrnn.Seq2Seq(source="vector", hidden_size=16, max_epochs=5, random_state=0).fit(
        V[:100], y[:100]
    )
    models = to_onnx(model, tmp_path / "v.onnx")
    doc = json.loads((tmp_path / "v.vocab.json").read_text())
    got = seq2seq_predict(session(models["encoder"]), session(models["decoder"]), doc, V[100:])
    assert got == model.predict(V[100:])


@pytest.mark.parametrize(
    "cell,kwargs",
    [
        ("lstm", dict(temperature=0.8)),
        ("gru", dict(temperature=1.0, top_k=5)),
        ("rnn", dict(temperature=0)),
    ],
)
def test_language_model_sampling_reproduced(tmp_path, cell, kwargs):
    lm = pyrnn.RNNLanguageModel(
        cell=cell, hidden_size=24, num_layers=2, max_epochs=1, random_state=0
    ).fit(load_python_text(max_chars=2000))
    to_onnx(lm, tmp_path / "lm.onnx")
    doc = json.loads((tmp_path / "lm.vocab.json").read_text())
    enc, dec = (session(str(tmp_path / f"lm.{p}.onnx")) for p in ("encoder", "decoder"))
    for prompt in ("Return the", "", ["R", "e"]):
        want = lm.sample(60, prompt=prompt, random_state=7, **kwargs)
        assert lm_sample(enc, dec, doc, 60, prompt=prompt, random_state=7, **kwargs) == want


def test_what_is_not_exported_says_so(digits):
    X, y = digits
    clf = pyrnn.RNNClassifier(
        hidden_size=4, max_epochs=1, conv_layers=[(4, 3, 1)], random_state=0
    ).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="conv_layers"):
        to_onnx(clf)


@pytest.mark.parametrize("kind", ["int", "float", "bool"])
def test_classifier_label_types(digits, kind):
    X, y = digits
    labels = {"int": y * 10, "float": y * 1.0, "bool": y % 2 == 1}[kind]
    clf = pyrnn.RNNClassifier(hidden_size=8, max_epochs=1, random_state=0).fit(
        X[:200], labels[:200]
    )
    label, _ = session(to_onnx(clf)).run(None, {"X": X[200:300]})
    want = clf.predict(X[200:300])
    assert label.dtype.kind == want.dtype.kind
    np.testing.assert_array_equal(label, want)
