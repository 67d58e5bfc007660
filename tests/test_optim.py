"""Optimizers and schedules: update-for-update parity with torch.optim, state, bad input."""

import pickle

import numpy as np
import pytest

from pyrnn import optim

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.05)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.03, weight_decay=0.2, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.5, weight_decay=0.01, centered=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.02, initial_accumulator_value=0.1)),
]


def run_pair(name, kwargs, dtype, steps=6):
    """Run our optimizer and torch's on two buffers with the same gradient sequence."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    shapes = [(7,), (3, 4)]
    ours = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [np.zeros_like(p) for p in ours]
    theirs = [torch.tensor(p.copy(), requires_grad=True) for p in ours]
    opt = getattr(optim, name)(list(zip(ours, grads)), **kwargs)
    topt = getattr(torch.optim, name)(theirs, **kwargs)
    for _ in range(steps):
        for p, g, tp in zip(ours, grads, theirs):
            g[...] = rng.standard_normal(p.shape)
            tp.grad = torch.tensor(g.copy())
        opt.step()
        topt.step()
    return ours, [tp.detach().numpy() for tp in theirs]


@pytest.mark.parametrize("name,kwargs", CASES)
def test_matches_torch_float64(name, kwargs):
    ours, theirs = run_pair(name, kwargs, np.float64)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("name,kwargs", CASES)
def test_matches_torch_float32(name, kwargs):
    ours, theirs = run_pair(name, kwargs, np.float32)
    for a, b in zip(ours, theirs):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


def test_updates_flat_buffer_in_place_and_accepts_objects():
    class Holder:
        def __init__(self):
            self.params = np.ones(5)
            self.grad = np.full(5, 2.0)

    h = Holder()
    buf = h.params
    opt = optim.SGD([h], lr=0.5)
    opt.step()
    assert h.params is buf
    np.testing.assert_array_equal(buf, np.zeros(5))
    opt.zero_grad()
    np.testing.assert_array_equal(h.grad, np.zeros(5))


def test_state_dict_round_trip_continues_identically():
    rng = np.random.default_rng(1)
    p1, p2 = rng.standard_normal(6), None
    g1 = np.zeros(6)
    opt = optim.Adam([(p1, g1)], lr=0.05)
    for _ in range(3):
        g1[...] = rng.standard_normal(6)
        opt.step()
    saved, p2 = pickle.loads(pickle.dumps(opt.state_dict())), p1.copy()
    g2 = np.zeros(6)
    opt2 = optim.Adam([(p2, g2)], lr=1.0)
    opt2.load_state_dict(saved)
    assert opt2.lr == 0.05 and opt2.step_count == 3
    for _ in range(3):
        g1[...] = g2[...] = rng.standard_normal(6)
        opt.step()
        opt2.step()
    np.testing.assert_array_equal(p1, p2)
    with pytest.raises(ValueError, match="state for 1 parameter buffers"):
        optim.Adam([(np.zeros(6), np.zeros(6))] * 2).load_state_dict(saved)
    with pytest.raises(ValueError, match="hyper-parameters"):
        optim.SGD([(np.zeros(6), np.zeros(6))], lr=0.1).load_state_dict(saved)


def test_bad_arguments_raise():
    p, g = np.zeros(3), np.zeros(3)
    with pytest.raises(ValueError, match="lr must be"):
        optim.SGD([(p, g)], lr=-1)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([(p, g)], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="differ in shape"):
        optim.Adam([(p, np.zeros(4))])
    with pytest.raises(TypeError, match="same dtype"):
        optim.Adam([(p, np.zeros(3, np.float32))])
    with pytest.raises(TypeError, match="pair"):
        optim.Adam([p])
    with pytest.raises(ValueError, match="no parameters"):
        optim.Adam([])
    with pytest.raises(ValueError, match=r"betas\[1\] must be < 1"):
        optim.Adam([(p, g)], betas=(0.9, 1.0))
    ro = np.zeros(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        optim.SGD([(ro, g)], lr=0.1)


def torch_and_ours(torch, ours_cls, torch_cls, lr=0.5, **kwargs):
    opt = optim.SGD([(np.zeros(2), np.zeros(2))], lr=lr)
    topt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=lr)
    return ours_cls(opt, **kwargs), torch_cls(topt, **kwargs), opt, topt


def test_step_and_exponential_lr_match_torch():
    torch = pytest.importorskip("torch")
    S = torch.optim.lr_scheduler
    for ours_cls, torch_cls, kw in (
        (optim.StepLR, S.StepLR, dict(step_size=3, gamma=0.5)),
        (optim.ExponentialLR, S.ExponentialLR, dict(gamma=0.9)),
    ):
        sched, tsched, opt, topt = torch_and_ours(torch, ours_cls, torch_cls, **kw)
        for _ in range(10):
            topt.step()
            sched.step()
            tsched.step()
            assert opt.lr == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12)
            assert sched.get_last_lr() == opt.lr


@pytest.mark.parametrize(
    "kw",
    [
        dict(patience=2),
        dict(patience=1, cooldown=2, factor=0.5, min_lr=0.01),
        dict(mode="max", patience=0, threshold=0.1, threshold_mode="abs"),
    ],
)
def test_reduce_lr_on_plateau_matches_torch(kw):
    torch = pytest.importorskip("torch")
    sched, tsched, opt, topt = torch_and_ours(
        torch, optim.ReduceLROnPlateau, torch.optim.lr_scheduler.ReduceLROnPlateau, **kw
    )
    metrics = [1.0, 0.9, 0.95, 0.92, 0.91, 0.5, 0.5, 0.6, 0.55, 0.7, 0.49, 0.5, 0.5, 0.5, 0.4]
    lrs, tlrs = [], []
    for m in metrics:
        topt.step()
        sched.step(m)
        tsched.step(m)
        lrs.append(opt.lr)
        tlrs.append(topt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, tlrs, rtol=1e-12)
    assert len(set(lrs)) > 1  # the lr did change in this scenario


def test_reduce_lr_on_plateau_bad_arguments():
    opt = optim.SGD([(np.zeros(2), np.zeros(2))], lr=0.1)
    with pytest.raises(ValueError, match="mode"):
        optim.ReduceLROnPlateau(opt, mode="up")
    with pytest.raises(ValueError, match="factor"):
        optim.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(TypeError, match="optimizer"):
        optim.StepLR(object(), step_size=2)


# ----------------------------------------------------------------------------- clipping


def test_clip_grad_norm_matches_torch_and_returns_norm_before():
    torch = pytest.importorskip("torch")
    from pyrnn import clip

    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(5) * 3, rng.standard_normal((2, 3)) * 3]
    params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g.copy())
    tnorm = torch.nn.utils.clip_grad_norm_(params, max_norm=1.5)
    norm = clip.clip_grad_norm(grads, 1.5)
    assert norm == pytest.approx(tnorm.item(), rel=1e-12)
    for p, g in zip(params, grads):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-12)
    after = np.sqrt(sum(np.sum(g * g) for g in grads))
    assert after == pytest.approx(1.5, rel=1e-5)
    small = np.array([0.1, 0.2])
    assert clip.clip_grad_norm(small, 1.0) == pytest.approx(np.sqrt(0.05))
    np.testing.assert_array_equal(small, [0.1, 0.2])  # below max_norm: untouched


def test_clip_grad_value_and_errors():
    from pyrnn import clip

    g = np.array([-3.0, 0.5, 2.0], np.float32)
    clip.clip_grad_value([g], 1.0)
    np.testing.assert_array_equal(g, np.array([-1.0, 0.5, 1.0], np.float32))
    inf = np.array([np.inf, 1.0])
    assert clip.clip_grad_norm(inf, 1.0) == np.inf
    np.testing.assert_array_equal(inf, [np.inf, 1.0])  # left for the caller to skip
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        clip.clip_grad_norm(g, 0)
    with pytest.raises(ValueError, match="clip_value must be > 0"):
        clip.clip_grad_value(g, -1)
    with pytest.raises(TypeError, match="floating-point numpy array"):
        clip.clip_grad_norm([[1.0, 2.0]], 1.0)


# ---------------------------------------------------------------- warm-up


def _lone_optimizer(lr=0.1):
    class Piece:
        params = np.zeros(3)
        grad = np.zeros(3)

    return optim.SGD([Piece()], lr=lr)


def test_warmup_then_step():
    opt = _lone_optimizer(0.1)
    sched = optim.WarmupLR(opt, 4, after=optim.StepLR(opt, step_size=2, gamma=0.5))
    lrs = [opt.lr]
    for _ in range(8):
        sched.step()
        lrs.append(opt.lr)
    np.testing.assert_allclose(lrs, [0.025, 0.05, 0.075, 0.1, 0.1, 0.1, 0.05, 0.05, 0.025])


def test_warmup_then_plateau_and_state_dict():
    opt = _lone_optimizer(1.0)
    after = optim.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    sched = optim.WarmupLR(opt, 2, after=after)
    sched.step(5.0)
    sched.step(5.0)
    assert opt.lr == 1.0
    sched.step(4.0)  # improvement: lr kept
    sched.step(4.0)  # no improvement, patience 0: halved
    assert opt.lr == 0.5
    state = sched.state_dict()
    opt2 = _lone_optimizer(1.0)
    sched2 = optim.WarmupLR(opt2, 2, after=optim.ReduceLROnPlateau(opt2, factor=0.5, patience=0))
    sched2.load_state_dict(state)
    assert sched2.last_epoch == 4 and sched2.after.best == 4.0


def test_warmup_bad_arguments():
    opt = _lone_optimizer()
    with pytest.raises(ValueError, match="warmup_epochs"):
        optim.WarmupLR(opt, -1)
    with pytest.raises(ValueError, match="same optimizer"):
        optim.WarmupLR(opt, 2, after=optim.StepLR(_lone_optimizer(), 1))
    sched = optim.WarmupLR(opt, 0)  # no warm-up, constant
    sched.step()
    assert opt.lr == 0.1
