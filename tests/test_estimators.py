"""Estimator behaviour: input forms, validation errors, the scikit-learn tools, pickling,
determinism, partial_fit / warm_start / early stopping, decoding and sampling."""

import pickle
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from pyrnn import RNNClassifier, RNNLanguageModel, RNNRegressor, RNNTagger, Seq2Seq, engine

FAST = dict(hidden_size=8, max_epochs=3, learning_rate=0.02, random_state=0, n_threads=1)


def _ragged(n=12, features=2, seed=0):
    rng = np.random.RandomState(seed)
    X = [rng.standard_normal((rng.randint(1, 9), features)) for _ in range(n)]
    y = np.array([int(x[:, 0].sum() > 0) for x in X])
    return X, y


def _tagging_data():
    X = [["a", "b", "c"], ["b", "b"], ["c", "a", "a", "b"], ["a"], ["c", "c", "b"], ["b", "a"]]
    y = [[x == "a" for x in seq] for seq in X]
    return X, y


def _fitted_all():
    """One small fitted model of each estimator, with data to predict/score."""
    Xr, yr = _ragged()
    Xt, yt = _tagging_data()
    src, tgt = ["one two", "two one", "two", "one one two"], ["12", "21", "2", "112"]
    text = "abc abd abc abd " * 10
    return [
        (RNNClassifier(**FAST).fit(Xr, yr), Xr, yr),
        (RNNRegressor(**FAST).fit(Xr, yr * 1.5), Xr, yr * 1.5),
        (RNNTagger(**FAST).fit(Xt, yt), Xt, yt),
        (Seq2Seq(**FAST).fit(src, tgt), src, tgt),
        (RNNLanguageModel(tbptt=8, **FAST).fit(text), [text[:30]], None),
    ]


def _outputs(est, X):
    if isinstance(est, RNNLanguageModel):
        return [est.score(X), est.sample(20, prompt="ab", random_state=0)]
    if hasattr(est, "predict_proba"):
        return est.predict_proba(X)
    return est.predict(X)


def _assert_same(a, b):
    if isinstance(a, np.ndarray) or (isinstance(a, list) and a and isinstance(a[0], np.ndarray)):
        for u, v in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
            np.testing.assert_array_equal(u, v)
    else:
        assert a == b


# ---------------------------------------------------------------- input forms


def test_list_of_equal_arrays_equals_3d_array():
    rng = np.random.RandomState(0)
    X, y = rng.standard_normal((20, 5, 3)), rng.randint(0, 2, 20)
    a = RNNClassifier(**FAST).fit(X, y)
    b = RNNClassifier(**FAST).fit(list(X), y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(list(X)))
    assert a.n_features_in_ == b.n_features_in_ == 3 and a.input_kind_ == "sequences"


def test_2d_array_is_univariate_sequences():
    rng = np.random.RandomState(0)
    X, y = rng.standard_normal((20, 6)), rng.standard_normal(20)
    reg = RNNRegressor(**FAST).fit(X, y)
    assert reg.n_features_in_ == 6 and reg.input_size_ == 1 and reg.input_kind_ == "tabular"
    # the same sequences as (n, T, 1), or as a list, give the same predictions
    np.testing.assert_array_equal(reg.predict(X), reg.predict(X[:, :, None]))
    np.testing.assert_array_equal(reg.predict(X), reg.predict(list(X[:, :, None])))
    # and sequences of another length are fine when passed as sequences
    assert reg.predict(X[:, :4, None]).shape == (20,)
    with pytest.raises(ValueError, match="X has 4 features, but RNNRegressor is expecting 6"):
        reg.predict(X[:, :4])


@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_leaks_into_results(bidirectional):
    X, y = _ragged(n=15)
    clf = RNNClassifier(bidirectional=bidirectional, **FAST).fit(X, y)
    together = clf.predict_proba(X)
    alone = np.concatenate([clf.predict_proba([x]) for x in X])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-12)
    tagger = RNNTagger(bidirectional=bidirectional, **FAST).fit(X, [x[:, 0] > 0 for x in X])
    for x, p in zip(X, tagger.predict_proba(X)):
        assert p.shape == (len(x), 2)
        np.testing.assert_allclose(p, tagger.predict_proba([x])[0], rtol=0, atol=1e-12)


def test_nothing_is_truncated():
    # two sequences equal except for their last step: the longest is read to its end
    X, y = _ragged(n=15)
    clf = RNNClassifier(**FAST).fit(X, y)
    long = np.random.RandomState(5).standard_normal((40, 2))
    changed = long.copy()
    changed[-1] += 3.0
    p = clf.predict_proba([long, changed, X[0]])
    assert not np.allclose(p[0], p[1])


def test_text_input_vocabulary_and_unknown_tokens():
    X = ["good movie", "bad movie", "good fun", "bad bad film", "great good", "awful bad"]
    y = ["pos", "neg", "pos", "neg", "pos", "neg"]
    clf = RNNClassifier(**FAST).fit(X, y)
    assert clf.input_kind_ == "tokens" and not hasattr(clf, "n_features_in_")
    assert list(clf.vocabulary_) == sorted(clf.vocabulary_)  # sorted, ids from 1
    assert min(clf.vocabulary_.values()) == 1
    assert clf.predict(["never seen words"]).shape == (1,)
    np.testing.assert_array_equal(clf.embedding_.weight[0], 0)  # the unknown token
    # token lists and analyzers
    tokens = [s.split() for s in X]
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(tokens))
    char = RNNClassifier(analyzer="char", **FAST).fit(X, y)
    assert set(char.vocabulary_) == set("".join(X))
    custom = RNNClassifier(analyzer=lambda s: s.split("o"), **FAST).fit(X, y)
    assert "g" in custom.vocabulary_
    rare = RNNClassifier(min_frequency=2, **FAST).fit(X, y)
    assert set(rare.vocabulary_) == {"bad", "good", "movie"}


def test_labels_may_be_any_hashable():
    X, y = _ragged(n=12)
    labels = np.empty(12, dtype=object)
    labels[:] = [("yes", 1) if v else ("no", 0) for v in y]
    clf = RNNClassifier(**FAST).fit(X, labels)
    assert set(clf.classes_.tolist()) == {("yes", 1), ("no", 0)}
    assert all(p in (("yes", 1), ("no", 0)) for p in clf.predict(X))
    Xt, yt = _tagging_data()
    tags = [[(None, t) if t else frozenset("a") for t in row] for row in yt]
    tagger = RNNTagger(**FAST).fit(Xt, tags)
    assert len(tagger.classes_) == 2
    assert all(len(p) == len(x) for p, x in zip(tagger.predict(Xt), Xt))


def test_tagger_output_forms():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((10, 4, 2))
    y = (X[:, :, 0] > 0).astype(int)
    tagger = RNNTagger(**FAST).fit(X, y)
    assert tagger.predict(X).shape == (10, 4)
    assert tagger.predict_proba(X).shape == (10, 4, 2)
    assert isinstance(tagger.predict(list(X)), list)
    assert 0.0 <= tagger.score(X, y) <= 1.0


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "est, X",
    [
        (RNNClassifier(), [np.zeros((3, 1))]),
        (RNNRegressor(), [np.zeros((3, 1))]),
        (RNNTagger(), [np.zeros((3, 1))]),
        (Seq2Seq(), ["a"]),
    ],
)
def test_predict_before_fit(est, X):
    with pytest.raises(NotFittedError):
        est.predict(X)


def test_language_model_before_fit():
    lm = RNNLanguageModel()
    with pytest.raises(NotFittedError):
        lm.sample(3)
    with pytest.raises(NotFittedError):
        lm.score("abc")


def test_bad_inputs_give_clear_errors():
    X, y = _ragged()
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        RNNClassifier(**FAST).fit(X, y[:-1])
    with pytest.raises(ValueError, match=r"X\[1\] is an empty sequence"):
        RNNClassifier(**FAST).fit([X[0], np.zeros((0, 2))], [0, 1])
    with pytest.raises(ValueError, match=r"X\[1\] is an empty sequence"):
        RNNClassifier(**FAST).fit(["a b", ""], [0, 1])
    bad = [x.copy() for x in X]
    bad[3][0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        RNNClassifier(**FAST).fit(bad, y)
    with pytest.raises(ValueError, match="infinity"):
        RNNClassifier(**FAST).fit(np.full((4, 3, 2), np.inf), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="same number of features"):
        RNNClassifier(**FAST).fit([np.zeros((2, 2)), np.zeros((3, 3))], [0, 1])
    with pytest.raises(ValueError, match="at least 2 classes"):
        RNNClassifier(**FAST).fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="Unknown label type"):
        RNNClassifier(**FAST).fit(X, np.linspace(0, 1, len(X)))
    with pytest.raises(ValueError, match="requires y"):
        RNNClassifier(**FAST).fit(X, None)
    clf = RNNClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="2 features per time step"):
        clf.predict([np.zeros((3, 5))])
    # training more on labels the model has no output for is an error; scoring with them
    # just counts them wrong, as for any scikit-learn classifier
    with pytest.raises(ValueError, match=r"labels not seen during fit: \[9\]"):
        clf.partial_fit(X, np.where(y == 1, 9, 0))
    with pytest.raises(ValueError, match="labels not seen during fit"):
        clf.set_params(warm_start=True).fit(X, y + 7)
    assert clf.score(X, y + 7) == 0.0
    with pytest.raises(ValueError, match="fitted on numeric sequences"):
        clf.predict(["some text"])
    text = RNNClassifier(**FAST).fit(["a b", "b a"], [0, 1])
    with pytest.raises(ValueError, match="fitted on text"):
        text.predict(X)
    with pytest.raises(TypeError, match="single str"):
        text.predict("a b")


def test_tagger_and_seq2seq_errors():
    Xt, yt = _tagging_data()
    with pytest.raises(ValueError, match=r"y\[1\] has 1 labels but X\[1\] has 2 steps"):
        RNNTagger(**FAST).fit(Xt, [yt[0], yt[1][:1]] + yt[2:])
    with pytest.raises(ValueError, match="classes must be passed"):
        RNNTagger(**FAST).partial_fit(Xt, yt)
    tagger = RNNTagger(**FAST).fit(Xt, yt)
    with pytest.raises(ValueError, match="not seen during fit"):
        tagger.partial_fit(Xt[:1], [["new", "new", "new"]])
    with pytest.raises(TypeError, match="vectors"):
        Seq2Seq(source="vector", **FAST).fit(["a"], ["b"])
    s2s = Seq2Seq(**FAST).fit(["a b", "b"], ["x", "y"])
    with pytest.raises(ValueError, match="not seen in the first fit"):
        s2s.partial_fit(["a"], ["z"])
    with pytest.raises(TypeError, match="target texts"):
        Seq2Seq(**FAST).fit(["a", "b"], [1, 2])
    vec = Seq2Seq(source="vector", **FAST).fit(np.eye(3), ["a", "b", "ab"])
    assert vec.n_features_in_ == 3
    with pytest.raises(ValueError, match="X has 2 features"):
        vec.predict(np.eye(2))


@pytest.mark.parametrize(
    "param, value",
    [
        ("cell", "transformer"),
        ("hidden_size", 0),
        ("num_layers", 1.5),
        ("dropout", 1.0),
        ("learning_rate", -1.0),
        ("optimizer", "lbfgs"),
        ("clip_norm", 0),
        ("batch_size", True),
        ("validation_fraction", 1.0),
        ("dtype", "float16"),
        ("n_threads", 0),
        ("random_state", -1),
        ("analyzer", "bytes"),
    ],
)
def test_hyper_parameters_checked_in_fit(param, value):
    X, y = _ragged()
    clf = RNNClassifier(**{**FAST, param: value})  # __init__ stores, fit validates
    with pytest.raises(ValueError, match=f"'{param}' parameter must be"):
        clf.fit(X, y)


# ---------------------------------------------------------------- scikit-learn tools


def test_pipeline_gridsearch_cross_val_score_clone():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((40, 6))
    y = (X[:, -1] > 0).astype(int)
    pipe = Pipeline(
        [("scale", FunctionTransformer(lambda a: 2 * a)), ("rnn", RNNClassifier(**FAST))]
    )
    assert pipe.fit(X, y).score(X, y) > 0.5
    search = GridSearchCV(RNNClassifier(**FAST), {"hidden_size": [4, 8]}, cv=2).fit(X, y)
    assert search.best_params_["hidden_size"] in (4, 8)
    Xr, yr = _ragged(n=20)
    scores = cross_val_score(RNNClassifier(**FAST), Xr, yr, cv=2)  # lists split fine
    assert scores.shape == (2,)
    Xt, yt = _tagging_data()
    assert cross_val_score(RNNTagger(**FAST), Xt, yt, cv=2).shape == (2,)
    est = RNNClassifier(**FAST).fit(Xr, yr)
    fresh = clone(est)
    assert fresh.get_params() == est.get_params() and not hasattr(fresh, "network_")


@pytest.mark.parametrize("index", range(5))
def test_pickle_round_trip_and_continue_training(index):
    est, X, y = _fitted_all()[index]
    copy = pickle.loads(pickle.dumps(est))
    _assert_same(_outputs(est, X), _outputs(copy, X))
    before = copy._modules()[-1].params.copy()
    if isinstance(copy, (RNNClassifier, RNNTagger)):
        copy.partial_fit(X, y)
    elif isinstance(copy, RNNLanguageModel):
        copy.partial_fit(X)
    else:
        copy.partial_fit(X, y)
    # the restored optimizer still updates the restored parameters
    assert not np.array_equal(before, copy._modules()[-1].params)
    assert copy.n_iter_ == est.n_iter_ + 1


@pytest.mark.parametrize("index", range(5))
def test_same_seed_same_model_other_seed_other_model(index):
    est, X, y = _fitted_all()[index]
    data = (X,) if isinstance(est, RNNLanguageModel) else (X, y)
    if isinstance(est, RNNLanguageModel):
        data = ("abc abd abc abd " * 10,)
    again = clone(est).fit(*data)
    assert again.loss_curve_ == est.loss_curve_
    _assert_same(_outputs(est, X), _outputs(again, X))
    other = clone(est).set_params(random_state=1).fit(*data)
    assert other.loss_curve_ != est.loss_curve_


def test_thread_setting_is_restored(restore_num_threads):
    X, y = _ragged()
    engine.set_num_threads(2)
    RNNClassifier(**{**FAST, "n_threads": 1}).fit(X, y)
    assert engine.get_num_threads() == 2


# ---------------------------------------------------------------- training controls


def test_partial_fit_and_warm_start():
    X, y = _ragged(n=20)
    clf = RNNClassifier(**FAST)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    clf.partial_fit(X[:5], y[:5])
    assert clf.n_iter_ == 2 and len(clf.loss_curve_) == 2
    assert list(clf.classes_) == [0, 1, 2]
    warm = RNNClassifier(warm_start=True, **FAST).fit(X, y)
    first_params = warm.network_.params.copy()
    warm.fit(X, y)
    assert warm.n_iter_ == 6 and len(warm.loss_curve_) == 6
    assert warm.loss_curve_[3] < warm.loss_curve_[0]  # continued, not restarted
    cold = RNNClassifier(**FAST).fit(X, y)
    np.testing.assert_array_equal(cold.network_.params, first_params)  # first fits agree


def test_early_stopping_stops_and_keeps_the_best():
    X, y = _ragged(n=40)
    clf = RNNClassifier(
        early_stopping=True, n_iter_no_change=2, tol=1.0, **{**FAST, "max_epochs": 20}
    ).fit(X, y)
    # nothing improves by more than tol=1.0 after the first epoch
    assert clf.n_iter_ == 3
    assert len(clf.validation_scores_) == 3
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    reg = RNNRegressor(**{**FAST, "max_epochs": 4}).fit(X, y)
    assert reg.validation_scores_ is None and reg.best_loss_ == min(reg.loss_curve_)
    with pytest.raises(ValueError, match="n_samples=1"):
        RNNRegressor(early_stopping=True, **FAST).fit(X[:1], y[:1])


def test_gradient_norms_per_epoch_and_step():
    X, y = _ragged(n=20)
    T = max(len(x) for x in X)
    clf = RNNClassifier(**FAST).fit(X, y)
    assert len(clf.gradient_norms_) == clf.n_iter_
    for g in clf.gradient_norms_:
        assert g.shape == (T,) and np.all(np.isfinite(g)) and np.all(g >= 0)
    assert clf.gradient_norms_[0][-1] > 0


def test_verbose_progress_with_and_without_tqdm(capsys, monkeypatch):
    X, y = _ragged()
    RNNClassifier(verbose=1, **FAST).fit(X, y)
    err = capsys.readouterr().err
    assert "epoch 3" in err and "loss" in err
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now fails
    RNNClassifier(verbose=1, **FAST).fit(X, y)
    err = capsys.readouterr().err
    assert "epoch 3 [####################] 100%" in err and "seq/s" in err


# ---------------------------------------------------------------- decoding and sampling


def _sequence_log_prob(model, s, ids):
    """log p(ids + [EOS] | summary s) by stepping the decoder (s: (1, S))."""
    from pyrnn.estimators._seq2seq import BOS, EOS

    _, state = model._initial_state(s, False)
    total, prev = 0.0, BOS
    for tok in list(ids) + [EOS]:
        logp, state = model._step_logits(np.array([prev]), s, state)
        total += logp[0, tok]
        prev = tok
    return total


def test_beam_search_is_exact_when_the_beam_covers_everything():
    import itertools

    X = ["one two", "two", "two one one", "one"]
    y = [["a", "b"], ["b"], ["b", "a", "a"], ["a"]]
    model = Seq2Seq(max_output_length=3, beam_width=40, **FAST).fit(X, y)
    src = model._check_X(X, reset=False)
    s = model._summary(src, False)
    # 2 tokens, up to 3 of them: 15 outputs; a beam of 40 keeps them all, so it must return
    # the most probable output, found here by brute force
    ids = [model.target_vocabulary_[t] for t in ("a", "b")]
    for i in range(len(X)):
        candidates = [c for n in range(4) for c in itertools.product(ids, repeat=n)]
        scores = [_sequence_log_prob(model, s[i : i + 1], c) for c in candidates]
        best = candidates[int(np.argmax(scores))]
        assert model._beam(s[i : i + 1])[0].tolist() == list(best)
    # a beam of width 1 is greedy decoding
    model.set_params(beam_width=1)
    for i in range(len(X)):
        assert model._beam(s[i : i + 1])[0].tolist() == model._greedy(s[i : i + 1])[0].tolist()


def test_outputs_respect_max_output_length_and_form():
    model = Seq2Seq(max_output_length=2, **FAST).fit(["a", "b"], ["xyz", "zyx"])
    assert all(len(p) <= 2 for p in model.predict(["a", "b"]))
    assert all(isinstance(p, str) for p in model.predict(["a", "b"]))
    words = Seq2Seq(target_analyzer="word", **FAST).fit(["a", "b"], ["x y", "y"])
    assert all(isinstance(p, str) for p in words.predict(["a"]))
    tokens = Seq2Seq(**FAST).fit(["a", "b"], [["x", "y"], ["y"]])
    assert isinstance(tokens.predict(["a"])[0], list)
    default = Seq2Seq(**FAST).fit(["a", "b"], ["xyz", "z"])
    assert default.max_output_length_ == 8  # 2 * longest + 2


def test_language_model_sampling_controls():
    text = "the cat sat on the mat. " * 20
    lm = RNNLanguageModel(tbptt=16, **{**FAST, "max_epochs": 5}).fit(text)
    a = lm.sample(30, prompt="the ", random_state=3)
    assert a.startswith("the ") and len(a) <= 34
    assert a == lm.sample(30, prompt="the ", random_state=3)
    assert lm.sample(30, prompt="the ", temperature=0) == lm.sample(
        30, prompt="the ", top_k=1, random_state=9
    )
    assert lm.sample(0, prompt="xyz") == "xyz"
    assert set(lm.sample(50, random_state=0)) <= set(text)
    assert lm.sample(5, prompt=["t", "h"], random_state=0)[:2] == ["t", "h"]
    assert lm.perplexity(text[:50]) == pytest.approx(2 ** -lm.score(text[:50]))
    for bad in (dict(n=-1), dict(temperature=-0.5), dict(top_k=0)):
        with pytest.raises(ValueError):
            lm.sample(**bad)
    words = RNNLanguageModel(analyzer="word", tbptt=4, **FAST).fit(["a b c", "a b d"])
    assert words.sample(3, prompt="a", temperature=0).startswith("a ")


def test_language_model_partial_fit_and_early_stopping():
    text = "abcd" * 100
    lm = RNNLanguageModel(tbptt=8, **FAST)
    lm.partial_fit(text).partial_fit(text + "zz")
    assert lm.n_iter_ == 2 and "z" not in lm.vocabulary_
    stopped = RNNLanguageModel(
        tbptt=8, early_stopping=True, n_iter_no_change=1, tol=100.0, **{**FAST, "max_epochs": 10}
    ).fit(text)
    assert stopped.n_iter_ == 2 and len(stopped.validation_scores_) == 2


def test_language_model_score_is_the_mean_over_all_tokens():
    texts = ["abc abd", "abd", "a", "", "bcd abc abd abc"]
    lm = RNNLanguageModel(tbptt=4, **FAST).fit(texts * 5)
    # n_i + 1 predictions per text (its tokens and its end), pooled over texts
    per_text = [(lm.score([t]), len(t) + 1) for t in texts]
    pooled = sum(s * n for s, n in per_text) / sum(n for _, n in per_text)
    assert lm.score(texts) == pytest.approx(pooled, rel=1e-12)
    # a text longer than one scoring piece (4096 steps): the state is carried across pieces
    long = "abc abd bcd " * 500
    ids = np.concatenate([[1], lm._ids(list(long)), [1]])
    out, _ = lm.network_.forward(lm.embedding_.forward(ids[:-1, None], False), training=False)
    logits = lm._logits(out)[:, 0]
    logp = (
        logits
        - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True))
        - logits.max(1, keepdims=True)
    )
    direct = -logp[np.arange(len(ids) - 1), ids[1:]].mean() / np.log(2)
    assert -lm.score(long) == pytest.approx(direct, rel=1e-6)
