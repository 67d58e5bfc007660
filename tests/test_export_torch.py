"""from_torch: a torch.nn.RNN/LSTM/GRU becomes the same pyrnn network (hyper-parameters and
weights), checked on outputs and final states."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pyrnn.export import from_torch  # noqa: E402

CASES = [
    (torch.nn.LSTM, dict(num_layers=2, bidirectional=True)),
    (torch.nn.GRU, dict(batch_first=True, num_layers=3)),
    (torch.nn.RNN, dict(nonlinearity="relu", bidirectional=True, bias=False)),
    (torch.nn.RNN, dict(dropout=0.25, num_layers=2)),
]


@pytest.mark.parametrize("cls,kwargs", CASES, ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_from_torch_matches_the_module(cls, kwargs, dtype):
    torch.manual_seed(0)
    module = cls(3, 5, dtype=dtype, **kwargs).eval()
    net = from_torch(module)
    assert net.num_layers == module.num_layers and net.bidirectional == module.bidirectional
    assert net.batch_first == module.batch_first and net.dropout == module.dropout
    assert net.dtype == (np.float32 if dtype == torch.float32 else np.float64)
    x = torch.randn((4, 6, 3) if module.batch_first else (6, 4, 3), dtype=dtype)
    with torch.no_grad():
        want, want_state = module(x)
    out, state = net.forward(x.numpy(), training=False)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(out, want.numpy(), rtol=tol, atol=tol)
    if isinstance(want_state, tuple):
        for a, b in zip(state, want_state):
            np.testing.assert_allclose(a, b.numpy(), rtol=tol, atol=tol)
    else:
        np.testing.assert_allclose(state, want_state.numpy(), rtol=tol, atol=tol)


def test_from_torch_rejects_what_pyrnn_does_not_have():
    with pytest.raises(ValueError, match="proj_size"):
        from_torch(torch.nn.LSTM(3, 5, proj_size=2))
    with pytest.raises(TypeError, match="torch.nn.RNN, LSTM or GRU"):
        from_torch(torch.nn.Linear(3, 5))
