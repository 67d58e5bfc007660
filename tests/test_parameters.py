"""The parameter protocol (pyrnn.parameters) as every trainable piece follows it: networks,
heads.Linear and heads.Embedding; and Embedding itself against numpy and PyTorch."""

import pickle

import numpy as np
import pytest

import pyrnn
from pyrnn import heads

PIECES = {
    "lstm": lambda: pyrnn.LSTM(3, 4, num_layers=2, bidirectional=True, random_state=0),
    "gru-float64": lambda: pyrnn.GRU(2, 3, dtype=np.float64, random_state=1),
    "linear": lambda: heads.Linear(5, 2, random_state=2),
    "linear-no-bias": lambda: heads.Linear(5, 2, random_state=2, bias=False),
    "embedding": lambda: heads.Embedding(7, 3, random_state=3),
}


@pytest.fixture(params=list(PIECES))
def piece(request):
    return PIECES[request.param]()


def test_views_cover_the_flat_buffers_in_order(piece):
    params, grads = piece.named_parameters(), piece.named_grads()
    assert list(params) == list(grads)
    offset = 0
    for name, view in params.items():
        assert np.shares_memory(view, piece.params) and np.shares_memory(grads[name], piece.grad)
        np.testing.assert_array_equal(view.ravel(), piece.params[offset : offset + view.size])
        offset += view.size
    assert offset == piece.params.size == piece.grad.size
    assert piece.params.dtype == piece.grad.dtype == piece.dtype


def test_zero_grad_and_state_dict_round_trip(piece):
    piece.grad[:] = 1
    piece.zero_grad()
    assert not piece.grad.any()
    saved = piece.state_dict()
    assert all(not np.shares_memory(v, piece.params) for v in saved.values())
    original = piece.params.copy()
    piece.params[:] = 0
    piece.load_state_dict(saved)
    np.testing.assert_array_equal(piece.params, original)


def test_load_state_dict_checks_everything_before_writing(piece):
    good = piece.state_dict()
    before = piece.params.copy()
    first = next(iter(good))
    with pytest.raises(ValueError, match="unknown names"):
        piece.load_state_dict({**good, "extra": np.zeros(1)})
    with pytest.raises(ValueError, match="missing names"):
        piece.load_state_dict({k: v for k, v in good.items() if k != first})
    bad_shape = dict(good, **{first: np.zeros(good[first].shape + (1,))})
    with pytest.raises(ValueError, match=f"{first}: expected shape"):
        piece.load_state_dict(bad_shape)
    with pytest.raises(TypeError, match="expected real numbers"):
        piece.load_state_dict(dict(good, **{first: np.full(good[first].shape, "x")}))
    with pytest.raises(TypeError, match="mapping"):
        piece.load_state_dict([1, 2])
    np.testing.assert_array_equal(piece.params, before)


def test_pickle_keeps_views_linked(piece):
    clone = pickle.loads(pickle.dumps(piece))
    np.testing.assert_array_equal(clone.params, piece.params)
    assert clone.dtype is np.dtype(piece.dtype.name)  # the canonical dtype object
    clone.params[:] = 2
    clone.grad[:] = 3
    for view in clone.named_parameters().values():
        assert np.all(view == 2)
    for view in clone.named_grads().values():
        assert np.all(view == 3)


def test_embedding_forward_backward_against_numpy():
    emb = heads.Embedding(6, 4, dtype=np.float64, random_state=0)
    assert np.all(emb.weight[0] == 0)
    ids = np.array([[1, 0, 5], [5, 2, 1]])
    out = emb.forward(ids)
    np.testing.assert_array_equal(out, emb.weight[ids])
    dx = np.random.default_rng(0).standard_normal((2, 3, 4))
    emb.backward(dx)
    expected = np.zeros((6, 4))
    for i, row in zip(ids.ravel(), dx.reshape(-1, 4)):
        expected[i] += row
    expected[0] = 0  # the unknown token never learns
    np.testing.assert_allclose(emb.dweight, expected, rtol=1e-15)
    with pytest.raises(ValueError, match="preceding forward"):
        emb.backward(dx)  # the ids were consumed


def test_embedding_matches_torch_with_padding_idx():
    torch = pytest.importorskip("torch")
    emb = heads.Embedding(5, 3, dtype=np.float64, random_state=1)
    ref = torch.nn.Embedding(5, 3, padding_idx=0).double()
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(emb.weight))
    ids = np.array([[0, 3, 3], [4, 1, 0]])
    out = ref(torch.tensor(ids))
    dy = np.arange(18.0).reshape(2, 3, 3)
    out.backward(torch.tensor(dy))
    np.testing.assert_allclose(emb.forward(ids), out.detach().numpy(), rtol=1e-15)
    emb.backward(dy)
    np.testing.assert_allclose(emb.dweight, ref.weight.grad.numpy(), rtol=1e-15)


def test_embedding_bad_input():
    emb = heads.Embedding(4, 2)
    with pytest.raises(TypeError, match="ids must be integers"):
        emb.forward(np.array([0.5]))
    with pytest.raises(ValueError, match=r"ids must be in \[0, 4\)"):
        emb.forward(np.array([1, 4]))
    with pytest.raises(ValueError, match="positive int"):
        heads.Embedding(0, 2)
    with pytest.raises(TypeError, match="float32 or float64"):
        heads.Embedding(3, 2, dtype=np.int64)


def test_linear_float64_prediction_path():
    head = heads.Linear(4, 3, random_state=0)  # float32 parameters
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    y = head.forward(x, training=False, dtype=np.float64)
    assert y.dtype == np.float64
    expected = x.astype(np.float64) @ head.weight.astype(np.float64).T + head.bias.astype(
        np.float64
    )
    np.testing.assert_allclose(y, expected, rtol=1e-14)
    with pytest.raises(ValueError, match="inference"):
        head.forward(x, training=True, dtype=np.float64)
