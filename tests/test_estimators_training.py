"""Estimators II: sample/class weights, validation_data, history, callbacks, checkpoints,
KeyboardInterrupt, learning-rate schedules, convergence warnings, and the new outputs
(decision_function, predict_log_proba, transform)."""

import pickle

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from pyrnn import RNNClassifier, RNNRegressor, RNNTagger
from pyrnn.callbacks import EarlyStopping, ModelCheckpoint

FAST = dict(
    hidden_size=8, max_epochs=4, batch_size=16, learning_rate=0.02, random_state=0, n_threads=1
)


def data(n=48, T=7, F=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, F)).astype(np.float32)
    return X, (X[:, :, 0].sum(axis=1) > 0).astype(int)


def params_of(est):
    return np.concatenate([m.params for m in est._modules()])


# ---------------------------------------------------------------- weights


def test_unit_and_scaled_sample_weight_match_no_weight():
    X, y = data()
    ref = RNNClassifier(**FAST).fit(X, y)
    ones = RNNClassifier(**FAST).fit(X, y, sample_weight=np.ones(len(y)))
    np.testing.assert_array_equal(params_of(ones), params_of(ref))
    scaled = RNNRegressor(**FAST).fit(X, X[:, -1, 0], sample_weight=np.full(len(y), 3.0))
    plain = RNNRegressor(**FAST).fit(X, X[:, -1, 0])
    np.testing.assert_allclose(params_of(scaled), params_of(plain), rtol=1e-4, atol=1e-5)


def test_zero_weight_samples_do_not_matter():
    X, y = data()
    w = np.r_[np.ones(24), np.zeros(24)]
    a = RNNClassifier(**FAST).fit(X, y, sample_weight=w)
    flipped = y.copy()
    flipped[24:] = 1 - flipped[24:]  # labels of the zero-weight samples changed
    b = RNNClassifier(**FAST).fit(X, flipped, sample_weight=w)
    np.testing.assert_array_equal(params_of(a), params_of(b))
    assert a.score(X, y, sample_weight=w) == pytest.approx(np.mean(a.predict(X[:24]) == y[:24]))


def test_class_weight_balanced_and_dict():
    X, y = data()
    y[:40] = 0
    clf = RNNClassifier(class_weight="balanced", **FAST).fit(X, y)
    counts = np.bincount(y)
    np.testing.assert_allclose(clf.class_weight_, len(y) / (2 * counts))
    clf = RNNClassifier(class_weight={1: 5.0}, **FAST).fit(X, y)
    np.testing.assert_allclose(clf.class_weight_, [1.0, 5.0])
    with pytest.raises(ValueError, match="not in the classes"):
        RNNClassifier(class_weight={7: 1.0}, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="class_weight"):
        RNNClassifier(class_weight="even", **FAST).fit(X, y)


def test_class_weight_equals_sample_weight_of_the_class():
    X, y = data()
    a = RNNClassifier(class_weight={0: 1.0, 1: 3.0}, **FAST).fit(X, y)
    b = RNNClassifier(**FAST).fit(X, y, sample_weight=np.where(y == 1, 3.0, 1.0))
    np.testing.assert_allclose(params_of(a), params_of(b), rtol=1e-6, atol=1e-7)


def test_tagger_sample_weight():
    X, _ = data()
    tags = (X[:, :, 0] > 0).astype(int)
    w = np.ones(tags.shape)
    w[:, 4:] = 0  # the last 3 steps do not count
    a = RNNTagger(**FAST).fit(X, tags, sample_weight=w)
    other = tags.copy()
    other[:, 4:] = 1 - other[:, 4:]
    b = RNNTagger(**FAST).fit(X, other, sample_weight=list(w))  # the same, as a list
    np.testing.assert_array_equal(params_of(a), params_of(b))
    per_seq = RNNTagger(**FAST).fit(X, tags, sample_weight=np.ones(len(X)))
    np.testing.assert_array_equal(params_of(per_seq), params_of(RNNTagger(**FAST).fit(X, tags)))
    hits = (a.predict(X) == tags)[:, :4].mean()
    assert a.score(X, tags, sample_weight=w) == pytest.approx(hits)
    kept = w.copy()
    RNNTagger(**FAST).fit(X, tags, sample_weight=kept)
    np.testing.assert_array_equal(kept, w)  # not overwritten
    with pytest.raises(ValueError, match="one weight per step"):
        RNNTagger(**FAST).fit(X, tags, sample_weight=[np.ones(3)] * len(X))
    with pytest.raises(ValueError, match=r"expected \(48,\)"):
        RNNTagger(**FAST).fit(X, tags, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="non-zero"):
        RNNTagger(**FAST).fit(X, tags, sample_weight=np.zeros(len(X)))


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.ones(3), r"expected \(48,\)"),
        (-np.ones(48), "non-negative"),
        (np.full(48, np.nan), "NaN"),
    ],
)
def test_bad_sample_weight(bad, match):
    X, y = data()
    with pytest.raises(ValueError, match=match):
        RNNClassifier(**FAST).fit(X, y, sample_weight=bad)


# ---------------------------------------------------------------- validation, history, callbacks


def test_validation_data_history_and_best_epoch():
    X, y = data()
    Xv, yv = data(seed=1)
    clf = RNNClassifier(**{**FAST, "max_epochs": 6}).fit(X, y, validation_data=(Xv, yv))
    assert [h["epoch"] for h in clf.history_] == list(range(1, 7))
    scores = [h["validation_score"] for h in clf.history_]
    assert clf.validation_scores_ == scores
    assert clf.score(Xv, yv) == pytest.approx(max(scores))  # the best epoch's parameters
    assert set(clf.history_[0]) == {"epoch", "loss", "validation_score", "learning_rate", "seconds"}
    with pytest.raises(ValueError, match="pair"):
        RNNClassifier(**FAST).fit(X, y, validation_data=Xv)


def test_callback_stops_and_sees_history():
    X, y = data()
    seen = []

    def stop_at_3(est, history):
        seen.append(len(history))
        return history[-1]["epoch"] == 3

    clf = RNNClassifier(**{**FAST, "max_epochs": 10}).fit(X, y, callbacks=[stop_at_3])
    assert clf.n_iter_ == 3 and seen == [1, 2, 3]
    stopper = EarlyStopping(monitor="loss", patience=1, min_delta=10.0)
    clf = RNNClassifier(**{**FAST, "max_epochs": 10}).fit(X, y, callbacks=stopper)
    assert clf.n_iter_ == 2
    with pytest.raises(TypeError, match="on_epoch_end"):
        RNNClassifier(**FAST).fit(X, y, callbacks=[42])


def test_checkpoint_writes_the_best_model(tmp_path):
    X, y = data()
    Xv, yv = data(seed=2)
    path = tmp_path / "best.pkl"
    ckpt = ModelCheckpoint(path)
    clf = RNNClassifier(**{**FAST, "max_epochs": 6}).fit(
        X, y, validation_data=(Xv, yv), callbacks=[ckpt]
    )
    with open(path, "rb") as f:
        best = pickle.load(f)
    assert ckpt.best == max(clf.validation_scores_)
    np.testing.assert_array_equal(best.predict_proba(Xv), clf.predict_proba(Xv))


def test_keyboard_interrupt_keeps_the_last_complete_epoch():
    X, y = data()
    clf = RNNClassifier(**{**FAST, "max_epochs": 5})
    calls = {"n": 0}
    original = clf._forward_backward

    def interrupting(batch, rng):
        calls["n"] += 1
        if calls["n"] == 8:  # the 2nd batch of epoch 3 (3 batches per epoch)
            raise KeyboardInterrupt
        return original(batch, rng)

    clf._forward_backward = interrupting
    clf.fit(X, y)
    assert clf.interrupted_ and clf.n_iter_ == 2 and len(clf.loss_curve_) == 2
    two = RNNClassifier(**{**FAST, "max_epochs": 2}).fit(X, y)
    np.testing.assert_array_equal(params_of(clf), params_of(two))


def test_a_fitted_estimator_keeps_no_training_workspace():
    """Training steps reuse the networks' workspaces; fit and partial_fit free them at the end,
    also when training stops on an error."""
    X, y = data()
    clf = RNNClassifier(**{**FAST, "bidirectional": True}).fit(X, y)
    assert clf.network_._spare is None
    clf.partial_fit(X, y)
    assert clf.network_._spare is None
    original = clf._forward_backward

    def failing(batch, rng):
        original(batch, rng)
        raise RuntimeError("boom")

    clf._forward_backward = failing
    with pytest.raises(RuntimeError, match="boom"):
        clf.partial_fit(X, y)
    assert clf.network_._spare is None


# ---------------------------------------------------------------- schedules and warnings


def test_warmup_then_step_schedule():
    X, y = data()
    clf = RNNClassifier(
        **{**FAST, "max_epochs": 8}, lr_schedule="step", warmup_epochs=2, n_iter_no_change=100
    ).fit(X, y)
    lrs = [h["learning_rate"] for h in clf.history_]
    np.testing.assert_allclose(lrs, [0.01, 0.02, 0.02, 0.02, 0.01, 0.01, 0.005, 0.005])
    plateau = RNNClassifier(**FAST, lr_schedule="plateau").fit(X, y)
    assert plateau.history_[0]["learning_rate"] == pytest.approx(0.02 / 5)  # default warm-up


def test_stall_warning():
    X, _ = data()
    y = np.random.default_rng(3).integers(0, 2, len(X))
    with pytest.warns(ConvergenceWarning, match="stalled at its starting value"):
        RNNClassifier(**{**FAST, "max_epochs": 6, "learning_rate": 1e-7}).fit(X, y)


def test_plateau_rule_waits_for_the_loss_to_leave_its_start():
    X, y = data()
    slow = RNNClassifier(**{**FAST, "max_epochs": 12, "learning_rate": 1e-6}, n_iter_no_change=2)
    with pytest.warns(ConvergenceWarning):
        slow.fit(X, y)
    assert slow.n_iter_ == 12  # never stopped on the starting plateau


# ---------------------------------------------------------------- outputs


def test_decision_function_and_log_proba():
    X, y = data()
    clf = RNNClassifier(**FAST).fit(X, y)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-12)
    d = clf.decision_function(X)
    assert d.shape == (len(X),)
    np.testing.assert_array_equal(clf.classes_[(d > 0).astype(int)], clf.predict(X))
    y3 = np.arange(len(X)) % 3
    clf3 = RNNClassifier(**FAST).fit(X, y3)
    assert clf3.decision_function(X).shape == (len(X), 3)
    np.testing.assert_array_equal(
        clf3.decision_function(X).argmax(1), clf3.predict_proba(X).argmax(1)
    )


def test_transform_is_the_final_state_and_works_in_a_pipeline():
    X, y = data()
    clf = RNNClassifier(**FAST, bidirectional=True).fit(X, y)
    emb = clf.transform(X)
    assert emb.shape == (len(X), 16) and emb.dtype == np.float64
    logits = emb @ clf.head_.weight.T.astype(np.float64) + clf.head_.bias
    np.testing.assert_allclose(
        logits[:, 1] - logits[:, 0], clf.decision_function(X), rtol=1e-5, atol=1e-6
    )
    pipe = make_pipeline(RNNRegressor(**FAST), LogisticRegression()).fit(X, y)
    assert pipe.predict(X).shape == (len(X),)


# ---------------------------------------------------------------- layouts, pandas, conv_layers


def test_layout_nct_and_the_ambiguous_shape_error():
    X, y = data(T=12, F=3)
    nct = np.ascontiguousarray(X.transpose(0, 2, 1))  # (n, 3, 12)
    a = RNNClassifier(**FAST).fit(X, y)
    b = RNNClassifier(**FAST, layout="NCT").fit(nct, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(nct))
    with pytest.raises(ValueError, match="layout='NCT'"):
        RNNClassifier(**FAST).fit(nct, y)
    RNNClassifier(**FAST, layout="NTC").fit(nct, y)  # said explicitly: read as 3 steps
    with pytest.raises(ValueError, match="layout"):
        RNNClassifier(**FAST, layout="TNC").fit(X, y)


def test_sktime_pandas_formats():
    pd = pytest.importorskip("pandas")
    X, y = data(T=6)
    clf = RNNClassifier(**FAST).fit(X, y)
    index = pd.MultiIndex.from_product([range(len(X)), range(6)], names=["instance", "time"])
    multi = pd.DataFrame(X.reshape(-1, 2), index=index, columns=["a", "b"])
    nested = pd.DataFrame({c: [pd.Series(x[:, j]) for x in X] for j, c in enumerate("ab")})
    for frame in (multi, nested):
        np.testing.assert_allclose(clf.predict_proba(frame), clf.predict_proba(X), rtol=1e-6)


def test_conv_layers_front_end():
    X, y = data(n=32, T=60)
    clf = RNNClassifier(**FAST, conv_layers=[(4, 5, 2), (6, 3, 2, 2)]).fit(X, y)
    assert [type(m).__name__ for m in clf._modules()] == ["Conv1d", "Conv1d", "LSTM", "Linear"]
    assert clf.network_.input_size == 6 and clf.transform(X).shape == (32, 8)
    lists = [x[:L] for x, L in zip(X, np.linspace(30, 60, 32).astype(int))]
    assert clf.predict(lists).shape == (32,)
    with pytest.raises(ValueError, match="too short for conv_layers"):
        clf.predict([X[0, :8]])
    with pytest.raises(ValueError, match="conv_layers"):
        RNNClassifier(**FAST, conv_layers=[(4, 0, 1)]).fit(X, y)
    with pytest.raises(ValueError, match="does not take conv_layers"):
        RNNTagger(**FAST, conv_layers=[(4, 3, 1)]).fit(X, (X[:, :, 0] > 0).astype(int))


def test_conv_layers_gradient_matches_finite_differences():
    X, y = data(n=6, T=20)
    reg = RNNRegressor(
        **{**FAST, "max_epochs": 1}, dtype="float64", cell="gru", conv_layers=[(3, 4, 2, 2)]
    ).fit(X, X[:, -1, 0])
    seqs = reg._check_X(X, reset=False)
    target = np.linspace(-1, 1, 6)[:, None]
    w = np.ones(6)
    rng = np.random.RandomState(0)

    def loss():
        return reg._forward_backward((seqs, target, w), rng)[0]

    for m in reg._modules():
        m.zero_grad()
    loss()
    conv = reg.conv_[0]
    analytic = conv.grad.copy()
    for j in range(0, conv.params.size, 5):
        saved = conv.params[j]
        conv.params[j] = saved + 1e-6
        lp = loss()
        conv.params[j] = saved - 1e-6
        lm = loss()
        conv.params[j] = saved
        assert analytic[j] == pytest.approx((lp - lm) / 2e-6, rel=1e-5, abs=1e-8)


# ---------------------------------------------------------------- sequence probabilities


def test_seq2seq_nbest_scores_are_sequence_log_probabilities():
    from pyrnn import Seq2Seq
    from pyrnn.datasets import make_number_words

    X, y = make_number_words(200, max_value=999, random_state=0)
    m = Seq2Seq(
        hidden_size=16,
        max_epochs=2,
        analyzer="word",
        target_analyzer="char",
        random_state=0,
        n_threads=1,
    ).fit(X, y)
    nbest = m.predict_nbest(X[:3], n=3)
    for src, beams in zip(X[:3], nbest):
        assert len(beams) == 3
        scores = [score for _, score in beams]
        assert scores == sorted(scores, reverse=True)
        outputs = [out for out, _ in beams]
        np.testing.assert_allclose(
            m.score_samples([src] * 3, outputs), scores, rtol=1e-6
        )  # float32 model
    np.testing.assert_allclose(m.predict_proba(X[:3], y[:3]), np.exp(m.score_samples(X[:3], y[:3])))

    with pytest.raises(ValueError, match="n must be"):
        m.predict_nbest(X[:1], n=0)


def test_language_model_score_samples_adds_up_to_score():
    from pyrnn import RNNLanguageModel

    texts = ["hello world", "hello there", "held"] * 4
    lm = RNNLanguageModel(
        analyzer="char", hidden_size=16, max_epochs=1, random_state=0, n_threads=1
    ).fit(texts)
    logp = lm.score_samples(["hello", "xyz"])
    assert logp.shape == (2,) and np.all(logp < 0)
    n_predictions = (5 + 1) + (3 + 1)
    assert -logp.sum() / np.log(2) / n_predictions == pytest.approx(-lm.score(["hello", "xyz"]))


def test_divergence_and_stall_rules():
    from types import SimpleNamespace
    from pyrnn.estimators._control import warn_if_not_learning

    with pytest.warns(ConvergenceWarning, match="diverged"):
        warn_if_not_learning(SimpleNamespace(loss_curve_=[1.0, 0.4, 0.3, 2.5]))
    with pytest.warns(ConvergenceWarning, match="stalled"):
        warn_if_not_learning(SimpleNamespace(loss_curve_=[0.69, 0.69, 0.688, 0.69, 0.69]))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_not_learning(SimpleNamespace(loss_curve_=[0.69, 0.5, 0.3, 0.31]))  # learned
        warn_if_not_learning(SimpleNamespace(loss_curve_=[0.0] * 6))  # nothing to learn


def test_tagger_transform():
    X, _ = data()
    tags = (X[:, :, 0] > 0).astype(int)
    tagger = RNNTagger(**FAST)
    emb = tagger.fit_transform(X, tags)
    assert emb.shape == (len(X), 8) and emb.dtype == np.float64
    np.testing.assert_array_equal(emb, tagger.transform(X))
    np.testing.assert_array_equal(tagger.transform(X.astype(np.float64)), emb)


def test_stop_rule_counts_once_the_loss_fell_10_percent_or_1_with_validation():
    X, y = data()
    clf = RNNClassifier(**{**FAST, "max_epochs": 1}, n_iter_no_change=2, tol=1e-4).fit(X, y)

    def stops(losses, score=None):
        clf._reset_training_state()
        return [clf._update_no_improvement(loss, score) for loss in losses]

    # 5% below the start is still the plateau when the training loss decides: no count
    assert stops([1.0, 0.95, 0.95, 0.95, 0.95, 0.95]) == [False] * 6
    assert stops([1.0, 0.85, 0.85, 0.85]) == [False, False, False, True]
    # a validation score decides (constant here): 1% below the start is enough
    assert stops([1.0, 0.98, 0.98], score=0.5) == [False, False, True]
