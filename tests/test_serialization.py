"""pyrnn.save / pyrnn.load: exact round trips, and clean errors for damaged or hostile files."""

import json
import pickle
import sys

import numpy as np
import pytest

import pyrnn
from pyrnn import _safetensors, serialization
from pyrnn.datasets import load_digits_sequences, load_python_text, make_number_words


@pytest.fixture(params=["library", "numpy"])
def backend(request, monkeypatch):
    """Run a test with the safetensors package, and with pyrnn's numpy reader/writer."""
    if request.param == "library":
        pytest.importorskip("safetensors")
    else:
        monkeypatch.setattr(_safetensors, "_library", lambda: None)
    return request.param


# ---------------------------------------------------------------- models to save


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits_sequences()
    return X[:300], y[:300], X[300:400], y[300:400]


def _text_pairs(n):
    X, y = make_number_words(n, max_value=999, random_state=0)
    return X, y


def fitted_estimators(digits):
    """(estimator, X to fit, y, X to predict) for every estimator class, several optimizers."""
    X, y, Xt, yt = digits
    words, numbers = _text_pairs(160)
    texts = load_python_text(max_chars=1500)
    tag_y = [[c for c in range(len(s))] for s in X[:60, :, 0]]
    out = [
        (
            pyrnn.RNNClassifier(
                hidden_size=8,
                max_epochs=2,
                early_stopping=True,
                n_iter_no_change=1,
                dropout=0.2,
                random_state=0,
            ),
            X,
            y,
            Xt,
        ),
        (
            pyrnn.RNNRegressor(
                cell="gru", hidden_size=8, max_epochs=2, optimizer="sgd", random_state=0
            ),
            X,
            np.stack([y, y * 0.5], 1),
            Xt,
        ),
        (
            pyrnn.RNNTagger(
                cell="rnn",
                hidden_size=8,
                max_epochs=1,
                optimizer="rmsprop",
                bidirectional=True,
                random_state=0,
            ),
            list(X[:60]),
            tag_y,
            list(Xt[:20]),
        ),
        (
            pyrnn.RNNClassifier(
                hidden_size=8, max_epochs=1, optimizer="adagrad", analyzer="char", random_state=0
            ),
            words,
            [len(n) for n in numbers],
            words[:20],
        ),
        (
            pyrnn.Seq2Seq(
                hidden_size=16, max_epochs=1, analyzer="word", optimizer="adamw", random_state=0
            ),
            words,
            numbers,
            words[:20],
        ),
        (
            pyrnn.RNNLanguageModel(hidden_size=16, max_epochs=1, num_layers=2, random_state=0),
            [texts],
            None,
            None,
        ),
    ]
    return out


def predictions(est, X):
    if isinstance(est, pyrnn.RNNLanguageModel):
        return est.sample(30, prompt="The", random_state=1)
    if hasattr(est, "predict_proba"):
        return est.predict_proba(X)
    return est.predict(X)


def assert_same(a, b):
    if isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, list) and a and isinstance(a[0], np.ndarray):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    else:
        assert a == b


def params_of(est):
    return [
        getattr(est, k).params
        for k in sorted(vars(est))
        if k.endswith("_") and hasattr(getattr(est, k), "params")
    ]


def test_every_estimator_round_trips_and_continues_identically(tmp_path, digits):
    for i, (est, X, y, Xt) in enumerate(fitted_estimators(digits)):
        est.fit(X, y)
        path = tmp_path / f"{i}.pyrnn"
        pyrnn.save(est, path)
        back = pyrnn.load(path)
        assert type(back) is type(est) and back.get_params() == est.get_params()
        assert_same(predictions(back, Xt), predictions(est, Xt))
        for a, b in zip(params_of(back), params_of(est)):
            np.testing.assert_array_equal(a, b)
        est.partial_fit(X, y)
        back.partial_fit(X, y)
        got, want = params_of(back), params_of(est)
        assert len(got) == len(want) >= 2  # network, head [, embeddings]
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
        # and no weights packed for the first predictions outlive the update
        assert_same(predictions(back, Xt), predictions(est, Xt))


@pytest.mark.parametrize(
    "net",
    [
        pyrnn.RNN(3, 4, nonlinearity="relu", num_layers=2, random_state=0),
        pyrnn.LSTM(
            3, 4, num_layers=2, bidirectional=True, dropout=0.3, dtype=np.float64, random_state=0
        ),
        pyrnn.GRU(
            3,
            4,
            reset_after=False,
            bias=False,
            batch_first=True,
            merge_mode="sum",
            bidirectional=True,
            random_state=0,
        ),
    ],
    ids=["rnn", "lstm", "gru"],
)
def test_every_network_round_trips(tmp_path, net, backend):
    pyrnn.save(net, tmp_path / "net.pyrnn")
    back = pyrnn.load(tmp_path / "net.pyrnn")
    assert repr(back) == repr(net) and back.dtype == net.dtype
    np.testing.assert_array_equal(back.params, net.params)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    # same outputs, and the same dropout draws afterwards (the generator state is kept)
    for training in (False, True):
        a, _ = back.forward(x, training=training)
        b, _ = net.forward(x, training=training)
        np.testing.assert_array_equal(a, b)


def test_unfitted_estimator_round_trips(tmp_path):
    est = pyrnn.Seq2Seq(hidden_size=7, beam_width=3, dtype=np.float64)
    pyrnn.save(est, tmp_path / "e.pyrnn")
    assert pyrnn.load(tmp_path / "e.pyrnn").get_params() == est.get_params()


def test_save_refuses_what_is_not_data(tmp_path):
    X, y = _text_pairs(40)
    clf = pyrnn.RNNClassifier(hidden_size=4, max_epochs=1, analyzer=str.split, random_state=0).fit(
        X, [len(v) for v in y]
    )
    with pytest.raises(TypeError, match="analyzer"):
        pyrnn.save(clf, tmp_path / "c.pyrnn")
    with pytest.raises(TypeError, match="network or estimator"):
        pyrnn.save({"a": 1}, tmp_path / "d.pyrnn")


def test_pickle_and_skops_keep_working(tmp_path, digits):
    X, y, Xt, _ = digits
    clf = pyrnn.RNNClassifier(hidden_size=8, max_epochs=1, random_state=0).fit(X, y)
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(clf)).predict_proba(Xt), clf.predict_proba(Xt)
    )
    sio = pytest.importorskip("skops.io")
    sio.dump(clf, tmp_path / "c.skops")
    untrusted = sio.get_untrusted_types(file=tmp_path / "c.skops")
    assert all(t.startswith("pyrnn.") or t == "numpy.dtype" for t in untrusted), untrusted
    back = sio.load(tmp_path / "c.skops", trusted=untrusted)
    np.testing.assert_array_equal(back.predict_proba(Xt), clf.predict_proba(Xt))


def test_both_backends_write_the_same_format():
    pytest.importorskip("safetensors")
    arrays = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b": np.array([True, False]),
        "c": np.zeros((0, 4), np.int64),
        "d": np.array(3.5),
    }
    for writer, reader in ((True, False), (False, True), (False, False)):
        back, meta = _safetensors.loads(_safetensors.dumps(arrays, {"k": "v"}, writer), reader)
        assert meta == {"k": "v"} and set(back) == set(arrays)
        for k, v in arrays.items():
            assert back[k].dtype == v.dtype
            np.testing.assert_array_equal(back[k], v)


# ---------------------------------------------------------------- damaged and hostile files


@pytest.fixture(scope="module")
def saved(tmp_path_factory, digits):
    X, y, _, _ = digits
    path = tmp_path_factory.mktemp("saved") / "clf.pyrnn"
    clf = pyrnn.RNNClassifier(hidden_size=4, max_epochs=1, random_state=0).fit(X[:50], y[:50])
    pyrnn.save(clf, path)
    return path.read_bytes()


def _load_bytes(tmp_path, data):
    path = tmp_path / "damaged.pyrnn"
    path.write_bytes(data)
    return pyrnn.load(path)


def _rewrite(data, change_doc=None, change_tensors=None, keep_digest=False):
    """A copy of a model file with its JSON document and/or tensors changed (and its checksum
    made to match, so that what is tested is the decoding, unless ``keep_digest``)."""
    tensors, meta = _safetensors.loads(data)
    doc = json.loads(meta["pyrnn"])
    if change_tensors is not None:
        change_tensors(tensors)
    if change_doc is not None:
        change_doc(doc)
    if not keep_digest:
        doc["sha256"] = serialization._digest(doc, tensors)
    return _safetensors.dumps(tensors, {"pyrnn": json.dumps(doc)}, use_library=False)


def _find(node, cls):
    """The first object node of class ``cls`` in a JSON document."""
    if isinstance(node, dict):
        if node.get("class") == cls:
            return node
        node = list(node.values())
    if isinstance(node, list):
        for v in node:
            found = _find(v, cls)
            if found is not None:
                return found
    return None


def _state_item(obj_node, key):
    """The [key, value] pair of an object node's state dict."""
    return next(p for p in obj_node["state"]["items"] if p[0] == key)


def test_truncated_files_raise(tmp_path, saved, backend):
    for frac in range(10):
        with pytest.raises(ValueError):
            _load_bytes(tmp_path, saved[: len(saved) * frac // 10])


def test_flipped_bytes_raise(tmp_path, saved, backend):
    header_end = 8 + int.from_bytes(saved[:8], "little")
    rng = np.random.default_rng(0)
    spots = (
        list(range(8))
        + list(rng.integers(8, header_end, 40))
        + list(rng.integers(header_end, len(saved), 10))
    )  # the data: caught by the checksum
    for i in spots:
        damaged = bytearray(saved)
        damaged[i] ^= 0xFF
        with pytest.raises(ValueError):
            _load_bytes(tmp_path, bytes(damaged))


def _set(path_fn, value):
    def change(doc):
        container, key = path_fn(doc)
        container[key] = value

    return change


DOC_DAMAGE = {
    "format_version as str": _set(lambda d: (d, "format_version"), "1"),
    "no format": _set(lambda d: (d, "format"), "zip"),
    "root is a number": _set(lambda d: (d, "root"), 5),
    "root is a list": _set(lambda d: (d, "root"), [1, 2]),
    "unknown class": _set(lambda d: (d["root"], "class"), "os.system"),
    "class not a str": _set(lambda d: (d["root"], "class"), ["RNNClassifier"]),
    "state is a list": _set(lambda d: (d["root"], "state"), []),
    "unknown tag": _set(lambda d: (d["root"], "$"), "eval"),
    "repeated id": _set(lambda d: (_find(d, "LSTM"), "id"), 0),
    "hidden_size str": _set(lambda d: (_state_item(_find(d, "LSTM"), "hidden_size"), 1), "8"),
    "hidden_size huge": _set(lambda d: (_state_item(_find(d, "LSTM"), "hidden_size"), 1), 10**9),
    "num_layers huge": _set(lambda d: (_state_item(_find(d, "LSTM"), "num_layers"), 1), 10**12),
    "num_layers negative": _set(lambda d: (_state_item(_find(d, "LSTM"), "num_layers"), 1), -1),
    "out_features bool": _set(lambda d: (_state_item(_find(d, "Linear"), "out_features"), 1), True),
    "missing tensor": _set(
        lambda d: (_state_item(_find(d, "LSTM"), "params")[1], "tensor"), "t999"
    ),
    "dangling ref": _set(
        lambda d: (_state_item(_find(d, "Linear"), "params"), 1), {"$": "ref", "id": 10**6}
    ),
    "huge str array": _set(
        lambda d: (_state_item(d["root"], "classes_"), 1),
        {"$": "array", "id": 10**5, "dtype": "<U3", "shape": [10**12], "items": ["a"]},
    ),
    "items not a list": _set(
        lambda d: (_state_item(d["root"], "classes_"), 1), {"$": "tuple", "items": "abc"}
    ),
    "bad dtype": _set(
        lambda d: (_state_item(_find(d, "LSTM"), "dtype"), 1), {"$": "dtype", "name": "object"}
    ),
    "dtype not the params'": _set(
        lambda d: (_state_item(_find(d, "LSTM"), "dtype"), 1), {"$": "dtype", "name": "float64"}
    ),
    "bad float": _set(
        lambda d: (_state_item(d["root"], "learning_rate"), 1), {"$": "float", "v": "1e999x"}
    ),
    "bad random state": _set(
        lambda d: (_state_item(d["root"], "_rng"), 1),
        {"$": "random_state", "id": 10**5, "state": [1, 2]},
    ),
    "deep nesting": _set(lambda d: (d, "root"), json.loads("[" * 500 + "]" * 500)),
}


@pytest.mark.parametrize("name", list(DOC_DAMAGE))
def test_wrong_json_raises(tmp_path, saved, name, backend):
    with pytest.raises(ValueError):
        _load_bytes(tmp_path, _rewrite(saved, DOC_DAMAGE[name]))


def test_newer_format_version_is_named(tmp_path, saved):
    with pytest.raises(ValueError, match="newer pyrnn"):
        _load_bytes(tmp_path, _rewrite(saved, _set(lambda d: (d, "format_version"), 99)))


def test_loading_never_imports(tmp_path, saved):
    data = _rewrite(saved, _set(lambda d: (d["root"], "class"), "pyrnn_evil_module.Thing"))
    with pytest.raises(ValueError, match="not one pyrnn can load"):
        _load_bytes(tmp_path, data)
    assert not any("evil" in m for m in sys.modules)


def _params_key(data):
    doc = json.loads(_safetensors.loads(data)[1]["pyrnn"])
    return _state_item(_find(doc, "LSTM"), "params")[1]["tensor"]


def test_wrong_shapes_and_dtypes_raise(tmp_path, saved, backend):
    key = _params_key(saved)

    def shorter(t):
        t[key] = t[key][:-1]

    def as_int(t):
        t[key] = t[key].astype(np.int32)

    def as_2d(t):
        t[key] = t[key].reshape(1, -1)

    for change in (shorter, as_int, as_2d):
        with pytest.raises(ValueError, match="params"):
            _load_bytes(tmp_path, _rewrite(saved, change_tensors=change))
    with pytest.raises(ValueError, match="checksum"):
        _load_bytes(tmp_path, _rewrite(saved, change_tensors=shorter, keep_digest=True))
    lr = _set(lambda d: (_state_item(d["root"], "learning_rate"), 1), {"$": "float", "v": 0.5})
    with pytest.raises(ValueError, match="checksum"):  # valid JSON, changed: caught too
        _load_bytes(tmp_path, _rewrite(saved, lr, keep_digest=True))
    assert _load_bytes(tmp_path, _rewrite(saved, lr)).learning_rate == 0.5


def _raw(header, data=b""):
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00" * 7,
        (2**63).to_bytes(8, "little") + b"{}",
        _raw({"x": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 16]}}, b"\0" * 16),
        _raw({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 2**62]}}, b"\0" * 16),
        _raw({"x": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, b"\0" * 16),
        _raw({"x": {"dtype": "O", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16),
        _raw(
            {
                "x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "y": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
            },
            b"\0" * 12,
        ),
        _raw([1, 2, 3]),
        _raw({"__metadata__": {"pyrnn": 5}}),
        _raw({"__metadata__": {"other": "x"}}),
        _raw({"__metadata__": {"pyrnn": "{not json"}}),
        _raw({"__metadata__": {"pyrnn": "[" * 100000 + "]" * 100000}}),
    ],
    ids=lambda d: f"{len(d)}B",
)
def test_malformed_containers_raise(tmp_path, data, backend):
    with pytest.raises(ValueError):
        _load_bytes(tmp_path, data)


def test_random_edits_of_the_json_document_raise(tmp_path, saved):
    """Edits that leave valid JSON (a digit, a bracket, a letter) are caught too: by the
    checksum over the description, or by the decoder's checks."""
    tensors, meta = _safetensors.loads(saved)
    text, original = meta["pyrnn"], json.loads(meta["pyrnn"])
    rng = np.random.default_rng(0)
    alphabet = list('0123456789-[]{}",:.etnrufalsTFIN ')
    for _ in range(150):
        edited = list(text)
        for i in rng.integers(0, len(text), rng.integers(1, 4)):
            edited[i] = alphabet[rng.integers(len(alphabet))]
        edited = "".join(edited)
        data = _safetensors.dumps(tensors, {"pyrnn": edited}, use_library=False)
        try:
            unchanged = json.loads(edited) == original
        except ValueError:
            unchanged = False
        if unchanged:  # e.g. a space replaced by a space
            _load_bytes(tmp_path, data)
        else:
            with pytest.raises(ValueError):
                _load_bytes(tmp_path, data)


def test_conv_forecaster_and_scaler_round_trip(tmp_path, digits):
    from pyrnn.forecasting import RNNForecaster
    from pyrnn.preprocessing import SequenceScaler

    X, y, Xt, _ = digits
    clf = pyrnn.RNNClassifier(
        hidden_size=6, max_epochs=1, conv_layers=[(4, 3, 1, 2)], random_state=0
    ).fit(X[:100], y[:100])
    series = np.sin(np.arange(200) / 7.0)
    fc = RNNForecaster(
        horizon=2,
        window=8,
        random_state=0,
        regressor=pyrnn.RNNRegressor(hidden_size=6, max_epochs=1, random_state=0),
    ).fit(series)
    scaler = SequenceScaler().fit(X)
    for est, result in (
        (clf, lambda e: e.predict_proba(Xt)),
        (fc, lambda e: e.predict()),
        (scaler, lambda e: e.transform(Xt)),
    ):
        pyrnn.save(est, tmp_path / "m.pyrnn")
        np.testing.assert_array_equal(result(pyrnn.load(tmp_path / "m.pyrnn")), result(est))
