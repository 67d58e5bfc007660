"""Training with the pieces together: truncated BPTT (exact truncated gradient by float64 finite
differences), padding helpers, and small seeded learning problems that need long memory."""

import copy
import pickle

import numpy as np
import pytest

import pyrnn
from pyrnn import clip, heads, init, losses, optim, train


# ----------------------------------------------------------------------------- helpers


def test_pad_sequences_and_sequence_mask():
    seqs = [np.ones((3, 2)), 2 * np.ones((1, 2)), 3 * np.ones((4, 2))]
    x, lengths = train.pad_sequences(seqs)
    assert x.shape == (4, 3, 2) and x.dtype == np.float32
    np.testing.assert_array_equal(lengths, [3, 1, 4])
    assert x[2, 0, 0] == 1 and x[3, 0, 0] == 0 and x[0, 1, 1] == 2 and x[1, 1, 1] == 0
    xb, _ = train.pad_sequences(seqs, dtype=np.float64, batch_first=True)
    np.testing.assert_array_equal(xb, x.transpose(1, 0, 2))
    mask = train.sequence_mask(lengths, 4)
    np.testing.assert_array_equal(mask, np.abs(x[..., 0]) > 0)
    np.testing.assert_array_equal(train.sequence_mask(lengths, 4, batch_first=True), mask.T)
    with pytest.raises(ValueError, match="3 features, sequence 0 has 2"):
        train.pad_sequences([np.ones((2, 2)), np.ones((2, 3))])
    with pytest.raises(ValueError, match="2-D array"):
        train.pad_sequences([np.ones(3)])


# ----------------------------------------------------------------------------- TBPTT


def tbptt_problem(cls, batch_first=False, seed=0):
    rng = np.random.default_rng(seed)
    T, B, I, H, C = 11, 3, 2, 4, 3
    net = cls(I, H, num_layers=2, dtype=np.float64, random_state=seed, batch_first=batch_first)
    head = heads.Linear(H, C, dtype=np.float64, random_state=seed)
    shape = (B, T) if batch_first else (T, B)
    x = rng.standard_normal(shape + (I,))
    y = rng.integers(0, C, size=shape)
    lengths = np.array([11, 4, 8])
    return net, head, x, y, lengths


@pytest.mark.parametrize("cls", [pyrnn.LSTM, pyrnn.GRU])
def test_tbptt_with_one_chunk_is_full_bptt(cls):
    net, head, x, y, lengths = tbptt_problem(cls)
    ref_net, ref_head = copy.deepcopy(net), copy.deepcopy(head)
    loss, state = train.tbptt_forward_backward(
        net, x, y, losses.softmax_cross_entropy, 50, head=head, lengths=lengths
    )
    out, ref_state = ref_net.forward(x, lengths=lengths)
    mask = train.sequence_mask(lengths, x.shape[0])
    ref_loss, d = losses.softmax_cross_entropy(ref_head.forward(out), y, mask)
    ref_net.backward(ref_head.backward(d))
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(net.grad, ref_net.grad, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(head.grad, ref_head.grad, rtol=1e-10, atol=1e-14)
    for a, b in zip(
        state if cls is pyrnn.LSTM else (state,), ref_state if cls is pyrnn.LSTM else (ref_state,)
    ):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("cls,batch_first", [(pyrnn.LSTM, False), (pyrnn.GRU, True)])
def test_tbptt_gradient_is_the_truncated_gradient(cls, batch_first):
    """Chunks of k=3: the state is carried exactly (final state and loss equal the full
    forward's), and the gradient equals central differences of sum_c w_c L_c(theta; s_c),
    the chunk losses with each chunk's initial state s_c held fixed."""
    net, head, x, y, lengths = tbptt_problem(cls, batch_first, seed=1)
    k, T = 3, 11
    base_net, base_head = copy.deepcopy(net), copy.deepcopy(head)
    loss, state = train.tbptt_forward_backward(
        net, x, y, losses.softmax_cross_entropy, k, head=head, lengths=lengths
    )

    full_out, full_state = copy.deepcopy(base_net).forward(x, lengths=lengths, training=False)
    mask = train.sequence_mask(lengths, T, batch_first=batch_first)
    full_loss, _ = losses.softmax_cross_entropy(base_head.forward(full_out), y, mask)
    assert loss == pytest.approx(full_loss, rel=1e-12)
    for a, b in zip(
        state if cls is pyrnn.LSTM else (state,), full_state if cls is pyrnn.LSTM else (full_state,)
    ):
        np.testing.assert_allclose(a, b, rtol=1e-12)

    take = (lambda a, s, e: a[:, s:e]) if batch_first else (lambda a, s, e: a[s:e])
    starts = list(range(0, T, k))
    chunk_states = []  # s_c: state after the prefix x[:start], at the original parameters
    for s in starts:
        if s == 0:
            chunk_states.append(None)
            continue
        pre_len = np.minimum(lengths, s)
        _, st = copy.deepcopy(base_net).forward(take(x, 0, s), lengths=pre_len, training=False)
        chunk_states.append(st)
    n_total = lengths.sum()

    def truncated_objective(theta_net, theta_head):
        n, h = copy.deepcopy(base_net), copy.deepcopy(base_head)
        n.params[...] = theta_net
        h.params[...] = theta_head
        total = 0.0
        for s, st in zip(starts, chunk_states):
            e = min(T, s + k)
            cl = np.clip(lengths - s, 0, e - s)
            out, _ = n.forward(take(x, s, e), lengths=np.maximum(cl, 1), state=st, training=False)
            lc, _ = losses.softmax_cross_entropy(h.forward(out), take(y, s, e), take(mask, s, e))
            total += lc * cl.sum() / n_total
        return total

    assert truncated_objective(base_net.params, base_head.params) == pytest.approx(loss, rel=1e-12)
    rng = np.random.default_rng(2)
    eps = 1e-6
    for i in rng.choice(base_net.params.size, size=20, replace=False):
        p = base_net.params.copy()
        p[i] += eps
        fp = truncated_objective(p, base_head.params)
        p[i] -= 2 * eps
        fm = truncated_objective(p, base_head.params)
        assert (fp - fm) / (2 * eps) == pytest.approx(net.grad[i], rel=1e-5, abs=1e-8), i
    for i in range(0, base_head.params.size, 3):
        p = base_head.params.copy()
        p[i] += eps
        fp = truncated_objective(base_net.params, p)
        p[i] -= 2 * eps
        fm = truncated_objective(base_net.params, p)
        assert (fp - fm) / (2 * eps) == pytest.approx(head.grad[i], rel=1e-5, abs=1e-8), i


def test_tbptt_with_optimizer_learns_a_lagged_copy_on_a_long_sequence():
    """One update per chunk of 20 steps over 400-step sequences: predict the input 2 steps ago."""
    rng = np.random.default_rng(0)
    T, B = 400, 8
    net = pyrnn.GRU(1, 16, random_state=0)
    head = heads.Linear(16, 1, random_state=0)
    opt = optim.Adam([net, head], lr=0.01)

    def data():
        x = rng.standard_normal((T, B, 1)).astype(np.float32)
        y = np.zeros_like(x)
        y[2:] = x[:-2]
        return x, y

    first, _ = train.tbptt_forward_backward(
        net, *data(), losses.mse, 20, head=head, optimizer=opt, clip_norm=1.0
    )
    assert opt.step_count == T // 20
    for _ in range(5):
        last, _ = train.tbptt_forward_backward(
            net, *data(), losses.mse, 20, head=head, optimizer=opt, clip_norm=1.0
        )
    assert first > 0.8 and last < 0.1 * first, (first, last)


def test_tbptt_bad_input():
    net, head, x, y, lengths = tbptt_problem(pyrnn.LSTM)
    f = losses.softmax_cross_entropy
    with pytest.raises(ValueError, match="k must be a positive int"):
        train.tbptt_forward_backward(net, x, y, f, 0, head=head)
    with pytest.raises(ValueError, match="leading shape of x"):
        train.tbptt_forward_backward(net, x, y[:, :2], f, 3, head=head)
    with pytest.raises(ValueError, match="needs an optimizer"):
        train.tbptt_forward_backward(net, x, y, f, 3, head=head, clip_norm=1.0)
    with pytest.raises(ValueError, match="unidirectional"):
        train.tbptt_forward_backward(pyrnn.GRU(2, 4, bidirectional=True), x, y, f, 3)
    with pytest.raises(ValueError, match=r"lengths must be in \[1, T=11\]"):
        train.tbptt_forward_backward(net, x, y, f, 3, head=head, lengths=[12, 1, 1])


def test_network_and_optimizer_pickled_together_stay_linked():
    net = pyrnn.LSTM(2, 3, random_state=0)
    opt = optim.SGD([net], lr=0.1)
    net2, opt2 = pickle.loads(pickle.dumps((net, opt)))
    out, _ = net2.forward(np.ones((4, 1, 2)))
    net2.backward(np.ones_like(out))
    before = net2.named_parameters()["weight_hh_l0"].copy()
    opt2.step()
    after = net2.named_parameters()["weight_hh_l0"]
    assert not np.array_equal(before, after)  # the optimizer updated the network's buffer
    np.testing.assert_allclose(after, before - 0.1 * net2.named_grads()["weight_hh_l0"], rtol=1e-6)


# ----------------------------------------------------------------------------- learning


def xor_memory_batch(rng, n, T=60):
    """Two random signs arrive at step 0; the label is whether they agree (XOR), asked at the
    last of T steps; a third channel is N(0, 1) noise at every step."""
    s = rng.choice([-1.0, 1.0], size=(2, n))
    x = np.zeros((T, n, 3), np.float32)
    x[0, :, 0], x[0, :, 1] = s
    x[:, :, 2] = rng.standard_normal((T, n))
    return x, (s[0] == s[1]).astype(np.int64)


def test_lstm_learns_xor_memory_over_60_steps_that_a_linear_model_cannot(restore_num_threads):
    pyrnn.set_num_threads(1)  # tiny problem: one thread is fastest on a busy machine
    rng = np.random.default_rng(0)
    x_test, y_test = xor_memory_batch(np.random.default_rng(100), 400)

    # A linear model on the whole flattened sequence (least squares) cannot do XOR: the best
    # linear rule gets 3 of the 4 sign patterns right (75%); a fit one stays near chance.
    x_fit, y_fit = xor_memory_batch(np.random.default_rng(101), 2000)
    features = lambda x: np.hstack(
        [x.transpose(1, 0, 2).reshape(len(x[0]), -1), np.ones((x.shape[1], 1))]
    )
    w = np.linalg.lstsq(features(x_fit), 2.0 * y_fit - 1, rcond=None)[0]
    linear_acc = np.mean((features(x_test) @ w > 0) == y_test)
    assert linear_acc < 0.8

    net = pyrnn.LSTM(3, 16, random_state=0)
    init.forget_bias(net, 3.0)  # long memory from the start (gradient reaches step 0)
    head = heads.Linear(16, 2, random_state=0)
    opt = optim.Adam([net, head], lr=0.003)
    for _ in range(200):  # this seed is above 99% after 100 updates
        x, y = xor_memory_batch(rng, 32)
        out, _ = net.forward(x)
        loss, dlogits = losses.softmax_cross_entropy(head.forward(out[-1]), y)
        opt.zero_grad()
        dout = np.zeros_like(out)
        dout[-1] = head.backward(dlogits)
        net.backward(dout)
        clip.clip_grad_norm([net.grad, head.grad], 1.0)
        opt.step()
    out, _ = net.forward(x_test, training=False)
    lstm_acc = np.mean(head.forward(out[-1], training=False).argmax(axis=1) == y_test)
    assert lstm_acc > 0.95, (lstm_acc, linear_acc)


def adding_batch(rng, n, T=50):
    """The adding problem (Hochreiter & Schmidhuber 1997): channel 0 uniform [0, 1], channel
    1 marks one step in each half; the target is the sum of the two marked values. Always
    predicting the mean (1.0) gives MSE 1/6 ~ 0.167."""
    x = np.zeros((T, n, 2), np.float32)
    x[:, :, 0] = rng.random((T, n))
    i, j = rng.integers(0, T // 2, size=n), rng.integers(T // 2, T, size=n)
    x[i, np.arange(n), 1] = 1
    x[j, np.arange(n), 1] = 1
    y = x[i, np.arange(n), 0] + x[j, np.arange(n), 0]
    return x, y[:, None]


def train_adding(net, iters=600, seed=0):
    rng = np.random.default_rng(seed)
    head = heads.Linear(net.hidden_size, 1, random_state=seed)
    opt = optim.Adam([net, head], lr=0.001)
    for _ in range(iters):
        x, y = adding_batch(rng, 32)
        out, _ = net.forward(x)
        _, dpred = losses.mse(head.forward(out[-1]), y)
        opt.zero_grad()
        dout = np.zeros_like(out)
        dout[-1] = head.backward(dpred)
        net.backward(dout)
        clip.clip_grad_norm([net.grad, head.grad], 1.0)
        opt.step()
    x_test, y_test = adding_batch(np.random.default_rng(100), 500)
    out, _ = net.forward(x_test, training=False)
    return losses.mse(head.forward(out[-1], training=False), y_test)[0]


def test_irnn_learns_the_adding_problem_where_default_tanh_rnn_does_not(restore_num_threads):
    pyrnn.set_num_threads(1)  # tiny problem: one thread is fastest on a busy machine
    irnn = pyrnn.RNN(2, 32, nonlinearity="relu", random_state=0)
    init.identity(irnn)
    tanh_rnn = pyrnn.RNN(2, 32, random_state=0)
    irnn_mse = train_adding(irnn)
    tanh_mse = train_adding(tanh_rnn)
    assert irnn_mse < 0.08 and tanh_mse > 0.14, (irnn_mse, tanh_mse)
