"""ONNX export of networks, checked in onnxruntime against pyrnn's own forward (float32)."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import pyrnn  # noqa: E402
from pyrnn.export import from_onnx, to_onnx  # noqa: E402

RTOL = 1e-5  # relative to the largest magnitude of each compared array
CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru", "gru_textbook")


def make_net(cell, I, H, **kw):
    if cell.startswith("rnn"):
        return pyrnn.RNN(I, H, nonlinearity=cell[4:], **kw)
    if cell == "lstm":
        return pyrnn.LSTM(I, H, **kw)
    return pyrnn.GRU(I, H, reset_after=cell == "gru", **kw)


def session(model):
    onnx.checker.check_model(model, full_check=True)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def state_list(net, state):
    return list(state) if net.cell == "lstm" else [state]


def assert_close(got, want):
    assert got.shape == want.shape
    scale = max(float(np.max(np.abs(want))), 1e-30)
    assert float(np.max(np.abs(got - want))) <= RTOL * scale


def random_configs(n, seed=0):
    """Seeded random configurations; the first few pin the corner cases (T = 1, B = 1)."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        yield dict(
            cell=CELLS[i % len(CELLS)],
            L=int(rng.integers(1, 4)),
            bi=bool(rng.integers(2)),
            merge=str(rng.choice(["concat", "sum"])),
            batch_first=bool(rng.integers(2)),
            T=1 if i < 5 else int(rng.integers(2, 9)),
            B=1 if 5 <= i < 10 else int(rng.integers(2, 6)),
            I=int(rng.integers(1, 6)),
            H=int(rng.integers(1, 7)),
            bias=i % 4 != 3,
            seed=i,
        )


def config_id(c):
    return "{cell}-L{L}-bi{bi:d}-{merge}-bf{batch_first:d}-T{T}-B{B}-bias{bias:d}".format(**c)


@pytest.mark.parametrize("cfg", list(random_configs(40)), ids=config_id)
def test_network_matches_onnxruntime(cfg):
    rng = np.random.default_rng(cfg["seed"])
    net = make_net(
        cfg["cell"],
        cfg["I"],
        cfg["H"],
        num_layers=cfg["L"],
        bidirectional=cfg["bi"],
        merge_mode=cfg["merge"],
        batch_first=cfg["batch_first"],
        bias=cfg["bias"],
        random_state=cfg["seed"],
    )
    T, B, LD = cfg["T"], cfg["B"], cfg["L"] * net.num_directions
    x = rng.standard_normal(
        (B, T, cfg["I"]) if cfg["batch_first"] else (T, B, cfg["I"]), dtype=np.float32
    )
    lengths = rng.integers(1, T + 1, B)
    h0 = rng.standard_normal((LD, B, cfg["H"]), dtype=np.float32)
    c0 = rng.standard_normal((LD, B, cfg["H"]), dtype=np.float32)
    state = (h0, c0) if net.cell == "lstm" else h0
    out, final = net.forward(x, lengths=lengths, state=state, training=False)

    sess = session(to_onnx(net, lengths=True, initial_state=True))
    feed = {"x": x, "lengths": lengths.astype(np.int64), "h0": h0}
    if net.cell == "lstm":
        feed["c0"] = c0
    got = sess.run(None, feed)
    for g, w in zip(got, [out] + state_list(net, final)):
        assert_close(g, w)
    time_axis = 1 if cfg["batch_first"] else 0
    for b, n in enumerate(lengths):  # padded steps are zeros, as in pyrnn
        pad = got[0][b, n:] if cfg["batch_first"] else got[0][n:, b]
        assert not pad.any(), time_axis

    # without lengths and states: every sequence runs T steps from zeros
    out, final = net.forward(x, training=False)
    got = session(to_onnx(net)).run(None, {"x": x})
    for g, w in zip(got, [out] + state_list(net, final)):
        assert_close(g, w)


@pytest.mark.parametrize("cell", CELLS)
def test_streaming_in_two_chunks_equals_whole(cell):
    net = make_net(cell, 3, 5, num_layers=2, random_state=1)
    sess = session(to_onnx(net, initial_state=True))
    x = np.random.default_rng(1).standard_normal((9, 2, 3), dtype=np.float32)
    LD = net.num_layers
    feed = {"h0": np.zeros((LD, 2, 5), np.float32)}
    if net.cell == "lstm":
        feed["c0"] = np.zeros((LD, 2, 5), np.float32)
    whole = sess.run(None, {"x": x, **feed})
    first = sess.run(None, {"x": x[:4], **feed})
    feed = dict(zip(("h0", "c0"), first[1:]))
    second = sess.run(None, {"x": x[4:], **feed})
    np.testing.assert_allclose(np.concatenate([first[0], second[0]]), whole[0], rtol=0, atol=1e-6)
    for a, b in zip(second[1:], whole[1:]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_graph_structure_is_standard():
    net = pyrnn.GRU(4, 3, num_layers=3, bidirectional=True, reset_after=False, random_state=0)
    model = to_onnx(net, lengths=True)
    nodes = [n for n in model.graph.node if n.op_type == "GRU"]
    assert len(nodes) == 3  # one node per layer, both directions in it
    for node in nodes:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attrs["direction"] == b"bidirectional" and attrs["layout"] == 0
        assert attrs["linear_before_reset"] == 0
    dims = [d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim[:2]]
    assert dims == ["T", "B"]  # symbolic time and batch


def test_gate_order_conversion_by_hand():
    """LSTM i,f,g,o -> ONNX i,o,f,c and GRU r,z,n -> z,r,h, read off the initializers."""
    for net, order in (
        (pyrnn.LSTM(2, 1, random_state=0), [0, 3, 1, 2]),
        (pyrnn.GRU(2, 1, random_state=0), [1, 0, 2]),
    ):
        model = to_onnx(net)
        W = next(
            onnx.numpy_helper.to_array(t)
            for t in model.graph.initializer
            if t.name.startswith("W_l0")
        )
        np.testing.assert_array_equal(W[0], net.named_parameters()["weight_ih_l0"][order])


def test_float64_network_exports_float32():
    net = pyrnn.LSTM(3, 4, dtype=np.float64, random_state=0)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    out, _ = net.forward(x, training=False)
    got = session(to_onnx(net)).run(None, {"x": x.astype(np.float32)})[0]
    np.testing.assert_allclose(got, out, rtol=1e-5, atol=1e-6)


def test_from_onnx_round_trip_and_file(tmp_path):
    for cell in CELLS:
        net = make_net(
            cell,
            3,
            4,
            num_layers=2,
            bidirectional=True,
            merge_mode="sum",
            batch_first=True,
            random_state=2,
        )
        path = tmp_path / f"{cell}.onnx"
        to_onnx(net, path)
        back = from_onnx(str(path))
        assert repr(back) == repr(net)
        np.testing.assert_array_equal(back.params, net.params)


@pytest.mark.parametrize("cell", CELLS)
def test_from_onnx_infers_the_architecture_without_metadata(cell):
    """As for a graph another tool wrote: configuration read off the nodes alone."""
    for kw in (
        dict(num_layers=3, bidirectional=True, merge_mode="sum"),
        dict(num_layers=2, bidirectional=True),
        dict(bias=False),
    ):
        net = make_net(cell, 3, 4, random_state=5, **kw)
        model = to_onnx(net)
        del model.metadata_props[:]
        back = from_onnx(model)
        assert repr(back) == repr(net)
        np.testing.assert_array_equal(back.params, net.params)


def _foreign_lstm_graph(W, R, B, layout):
    """A single-node LSTM graph as another tool would write it."""
    h = onnx.helper
    H = W.shape[1] // 4
    node = h.make_node(
        "LSTM",
        ["input", "W", "R", "B"],
        ["Y", "Y_h", "Y_c"],
        hidden_size=H,
        direction="bidirectional",
        layout=layout,
    )
    inits = [onnx.numpy_helper.from_array(a, n) for a, n in ((W, "W"), (R, "R"), (B, "B"))]
    shape = ["batch", "seq", W.shape[-1]] if layout else ["seq", "batch", W.shape[-1]]
    y_shape = ["batch", "seq", 2, H] if layout else ["seq", 2, "batch", H]
    graph = h.make_graph(
        [node],
        "foreign",
        [h.make_tensor_value_info("input", 1, shape)],
        [h.make_tensor_value_info("Y", 1, y_shape)],
        inits,
    )
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 14)])


@pytest.mark.parametrize("layout", [0, 1])
def test_from_onnx_reads_a_hand_built_single_node_graph(layout):
    rng = np.random.default_rng(3)
    H, I = 3, 2
    W = rng.standard_normal((2, 4 * H, I), dtype=np.float32)
    R = rng.standard_normal((2, 4 * H, H), dtype=np.float32)
    B = rng.standard_normal((2, 8 * H), dtype=np.float32)
    model = _foreign_lstm_graph(W, R, B, layout)
    onnx.checker.check_model(model, full_check=True)
    net = from_onnx(model)
    assert (net.cell, net.bidirectional, net.batch_first) == ("lstm", True, bool(layout))
    x = rng.standard_normal((2, 5, I) if layout else (5, 2, I), dtype=np.float32)
    if layout:  # ONNX Runtime's CPU kernels take layout 0 only: onnx's reference runtime
        from onnx.reference import ReferenceEvaluator

        y_onnx = ReferenceEvaluator(model).run(None, {"input": x})[0]
    else:
        y_onnx = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        ).run(None, {"input": x})[0]
    out, _ = net.forward(x, training=False)
    # ONNX Y is (T, D, B, H) (layout 0) or (B, T, D, H) (layout 1); pyrnn concatenates D
    want = y_onnx.reshape(out.shape) if layout else y_onnx.transpose(0, 2, 1, 3).reshape(out.shape)
    assert_close(out, want)


def test_from_onnx_rejects_what_pyrnn_cannot_run(tmp_path):
    rng = np.random.default_rng(4)
    W = rng.standard_normal((2, 12, 2), dtype=np.float32)
    R = rng.standard_normal((2, 12, 3), dtype=np.float32)
    B = rng.standard_normal((2, 24), dtype=np.float32)
    model = _foreign_lstm_graph(W, R[:, :, :2], B, 0)  # R of the wrong shape
    with pytest.raises(ValueError, match="R has shape"):
        from_onnx(model)
    model = _foreign_lstm_graph(W, R, B, 0)
    model.graph.node[0].attribute.append(onnx.helper.make_attribute("clip", 1.0))
    with pytest.raises(ValueError, match="clip"):
        from_onnx(model)
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(ValueError):
        from_onnx(str(tmp_path / "bad.onnx"))


def test_to_onnx_rejects_other_objects():
    with pytest.raises(TypeError, match="network or estimator"):
        to_onnx(object())
    with pytest.raises(ValueError, match="not fitted"):
        to_onnx(pyrnn.RNNClassifier())
