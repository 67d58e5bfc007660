"""The scikit-learn estimator contract, checked by scikit-learn's own test suite.

2-D X is read as univariate sequences (columns = time steps).

``RNNClassifier`` and ``RNNRegressor`` take one label / value per sample, which is what the
generic checks feed, and pass every check. Small networks and few epochs keep them fast while
still passing the checks' quality bars (training accuracy > 0.83, R^2 > 0.5).

``RNNTagger`` (one label per *step*), ``Seq2Seq`` (a target *sequence* per sample) and
``RNNLanguageModel`` (text, no y) go through the same suite, with tags that say what they take:

* every check that does not fit on a one-label-per-sample y passes (the API checks; empty,
  complex, sparse and 1-D X rejected; missing y rejected; not-fitted errors);
* the checks that fit on y with one label per sample are listed by ``_not_applicable`` with
  the reason, and are expected to fail: strict xfail (pyproject's xfail_strict; an entry
  that starts passing fails the run), and
  ``test_not_applicable_checks_fail_only_on_their_premise`` checks that each fails exactly
  where the estimator rejects that y, so no other failure hides behind the list;
* the language model's tags say it reads text (``two_d_array=False, string=True``) and needs
  no y, so scikit-learn runs none of its numeric-array checks on it; the checks that need no
  data run on it directly (``test_language_model_api_checks``).

What the not-applicable checks would have covered (fit returns self and keeps its parameters,
predict changes nothing, pickling, idempotent and seeded fits, batch-order invariance, input
errors, n_features_in_, dtypes, list input) is checked at the end of this file, with each
estimator's own kind of data, each test naming the scikit-learn checks it stands in for.
"""

import inspect
import pickle
import re
import unittest
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
import joblib  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError, SkipTestWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.utils import estimator_checks as checks  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402
from sklearn.utils.validation import check_is_fitted  # noqa: E402

from pyrnn.estimators import (
    RNNClassifier,
    RNNLanguageModel,
    RNNRegressor,  # noqa: E402
    RNNTagger,
    Seq2Seq,
)

SMALL = dict(
    hidden_size=16, max_epochs=30, learning_rate=0.02, batch_size=32, random_state=0, n_threads=1
)
TINY = dict(
    hidden_size=8, max_epochs=2, learning_rate=0.02, batch_size=16, random_state=0, n_threads=1
)

# ---------------------------------------------------------------- the generic checks

_ONE_LABEL = "fits on y with one {what} per sample"
_TAGGER_Y = _ONE_LABEL.format(what="label") + "; RNNTagger takes one label per step"
_SEQ2SEQ_Y = (
    _ONE_LABEL.format(what="number")
    + "; Seq2Seq takes a target sequence (text or token list) per sample"
)
_REPLACED = " (covered by {test} with per-step labels / target sequences)"

# check name -> the test below that checks the same contract with the estimator's own targets
_STAND_INS = {
    "check_fit_score_takes_y": "test_fit_returns_self_and_keeps_its_parameters",
    "check_estimators_overwrite_params": "test_fit_returns_self_and_keeps_its_parameters",
    "check_dont_overwrite_parameters": "test_fit_returns_self_and_keeps_its_parameters",
    "check_estimators_fit_returns_self": "test_fit_returns_self_and_keeps_its_parameters",
    "check_readonly_memmap_input": "test_pickle_round_trip_and_read_only_input",
    "check_n_features_in_after_fitting": "test_n_features_in",
    "check_n_features_in": "test_n_features_in",
    "check_estimators_dtypes": "test_input_dtypes_and_layouts",
    "check_dtype_object": "test_input_dtypes_and_layouts",
    "check_f_contiguous_array_estimator": "test_input_dtypes_and_layouts",
    "check_pipeline_consistency": "test_fit_is_idempotent_and_seeded",
    "check_estimators_pickle": "test_pickle_round_trip_and_read_only_input",
    "check_array_api_input": "test_input_dtypes_and_layouts",
    "check_methods_sample_order_invariance": "test_predictions_do_not_depend_on_batching",
    "check_methods_subset_invariance": "test_predictions_do_not_depend_on_batching",
    "check_fit2d_1sample": "test_one_sample_and_one_step",
    "check_fit2d_1feature": "test_one_sample_and_one_step",
    "check_dict_unchanged": "test_predict_and_score_change_nothing",
    "check_fit_idempotent": "test_fit_is_idempotent_and_seeded",
    "check_fit_check_is_fitted": "test_not_fitted_errors",
    "check_fit2d_predict1d": "test_bad_input_errors",
    "check_estimators_nan_inf": "test_bad_input_errors",
    "check_positive_only_tag_during_fit": "test_fit_returns_self_and_keeps_its_parameters",
}


# sample-weight checks: the tagger's stand-in uses per-step labels (and per-step weights)
_TAGGER_STAND_INS = {
    **{
        name: "test_tagger_sample_weight"
        for name in (
            "check_sample_weights_pandas_series",
            "check_sample_weights_not_an_array",
            "check_sample_weights_list",
            "check_sample_weights_shape",
            "check_sample_weights_not_overwritten",
            "check_all_zero_sample_weights_error",
        )
    },
    **{
        name: "test_tagger_transform"
        for name in (
            "check_transformer_general",
            "check_transformer_preserve_dtypes",
            "check_transformer_data_not_an_array",
        )
    },
}
# Mini-batch gradient descent on shuffled batches: a weight of 2 is not the same as the
# sample twice (different batches and batch means), as for scikit-learn's MLP.
_NOT_EQUIVALENT = {
    "check_sample_weight_equivalence_on_dense_data": "sample_weight is not equivalent to repeating samples under mini-batch "
    "training (tested on the loss: test_integer_sample_weight_equals_repeating_items)"
}


def _not_applicable(estimator):
    """{check name: why its premise does not hold} for ``estimator`` (see module docstring)."""
    if isinstance(estimator, RNNTagger):
        why = _TAGGER_Y
        stand_ins = {**_STAND_INS, **_TAGGER_STAND_INS}
    elif isinstance(estimator, Seq2Seq):
        why = _SEQ2SEQ_Y
        stand_ins = _STAND_INS
    else:
        return dict(_NOT_EQUIVALENT) if isinstance(estimator, (RNNClassifier, RNNRegressor)) else {}
    return {
        **{name: why + _REPLACED.format(test=test) for name, test in stand_ins.items()},
        **_NOT_EQUIVALENT,
    }


with warnings.catch_warnings():
    # scikit-learn announces that it skips the numeric-array checks of the language model
    # (its tags say it reads text); the checks that apply run in test_language_model_api_checks
    warnings.simplefilter("ignore", SkipTestWarning)
    _GENERIC = parametrize_with_checks(
        [
            RNNClassifier(**SMALL),
            RNNRegressor(**SMALL),
            RNNTagger(**TINY),
            Seq2Seq(**TINY),
            Seq2Seq(source="vector", **TINY),
            RNNLanguageModel(**TINY),
        ],
        expected_failed_checks=_not_applicable,
    )


@_GENERIC
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # tiny random data
def test_sklearn_contract(estimator, check):
    check(estimator)


# what a not-applicable check must fail on: the estimator rejecting the one-label-per-sample y
_PREMISE_ERRORS = {
    RNNTagger: (ValueError, r"must be a sequence of labels \(one per step\)"),
    Seq2Seq: (TypeError, r"y must be a list of target texts"),
}


def _not_applicable_cases():
    for estimator in (RNNTagger(**TINY), Seq2Seq(**TINY), Seq2Seq(source="vector", **TINY)):
        listed = _not_applicable(estimator)
        for est, check in checks.estimator_checks_generator(estimator, legacy=True):
            if check.func.__name__ in listed:
                yield est, check


def _case_id(value):
    if isinstance(value, Seq2Seq):
        return f"Seq2Seq(source={value.source!r})"
    if hasattr(value, "func"):
        keywords = ",".join(f"{k}={v}" for k, v in value.keywords.items())
        return value.func.__name__ + (f"({keywords})" if keywords else "")
    return type(value).__name__


@pytest.mark.parametrize("estimator, check", list(_not_applicable_cases()), ids=_case_id)
def test_not_applicable_checks_fail_only_on_their_premise(estimator, check):
    """Each check listed as not applicable fails where the estimator rejects the one label
    per sample, not anywhere else (a real bug hidden behind the expected failure fails here)."""
    error, message = _PREMISE_ERRORS[type(estimator)]
    try:
        check(estimator)
    except unittest.SkipTest:  # a check scikit-learn skips here (array API not enabled)
        raise
    except Exception as raised:  # any failure: examined below
        exc = raised
    else:
        pytest.fail(f"{check.func.__name__} passes: take it off the not-applicable list")
    chain = []
    while exc is not None and len(chain) < 10:  # the checks may wrap the error
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    assert any(isinstance(e, error) and re.search(message, str(e)) for e in chain), chain


# (check_estimator_cloneable runs for it in test_sklearn_contract)
_DATA_FREE_CHECKS = [
    checks.check_estimator_tags_renamed,
    checks.check_valid_tag_types,
    checks.check_estimator_repr,
    checks.check_no_attributes_set_in_init,
    checks.check_do_not_raise_errors_in_init_or_set_params,
    checks.check_mixin_order,
    checks.check_parameters_default_constructible,
    checks.check_get_params_invariance,
    checks.check_set_params,
]


@pytest.mark.parametrize("check", _DATA_FREE_CHECKS, ids=lambda c: c.__name__)
def test_language_model_api_checks(check):
    check("RNNLanguageModel", RNNLanguageModel(**TINY))


def test_tags_say_what_each_estimator_takes():
    lm = RNNLanguageModel().__sklearn_tags__()
    assert not lm.input_tags.two_d_array and lm.input_tags.string
    assert not lm.target_tags.required
    tagger = RNNTagger().__sklearn_tags__()
    assert tagger.target_tags.required and tagger.target_tags.two_d_labels
    assert tagger.input_tags.three_d_array
    assert Seq2Seq().__sklearn_tags__().target_tags.required
    assert Seq2Seq().__sklearn_tags__().input_tags.three_d_array
    assert not Seq2Seq(source="vector").__sklearn_tags__().input_tags.three_d_array


# ---------------------------------------------------------------- the same contract, own targets


def _signs(row):
    return "".join("+" if v > 0 else "-" for v in row)


def _case(kind, n=20, seed=0):
    """(unfitted estimator, X, y) with the estimator's own kind of target; y None for the LM."""
    rng = np.random.RandomState(seed)
    if kind == "tagger":
        X = rng.standard_normal((n, 6))
        return RNNTagger(**TINY), X, (X > 0).astype(np.int64)  # the sign at every step
    if kind == "seq2seq":
        X = rng.standard_normal((n, 6))
        return Seq2Seq(**TINY), X, [_signs(row[: 1 + i % 3]) for i, row in enumerate(X)]
    if kind == "vector":
        X = rng.standard_normal((n, 4))
        return (
            Seq2Seq(source="vector", **TINY),
            X,
            [_signs(row[: 1 + i % 3]) for i, row in enumerate(X)],
        )
    words = ["the", "cat", "dog", "sat", "ran", "a"]
    texts = [" ".join(rng.choice(words, size=1 + rng.randint(5))) for _ in range(n)]
    return RNNLanguageModel(tbptt=8, **TINY), texts, None


KINDS = ["tagger", "seq2seq", "vector", "lm"]
NUMERIC = ["tagger", "seq2seq", "vector"]


def _fit(est, X, y):
    return est.fit(X) if y is None else est.fit(X, y)


def _outputs(est, X, y):
    """What a fitted estimator says about X: a list of values compared exactly."""
    if isinstance(est, RNNLanguageModel):
        return [est.score(X), est.sample(10, prompt="the", random_state=0)]
    if isinstance(est, RNNTagger):
        return [est.predict_proba(X), est.predict(X), est.score(X, y)]
    return [est.predict(X), est.score(X, y)]


def _weights(est):
    return [m.params.copy() for m in est._modules()]


def _assert_same(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        if isinstance(u, np.ndarray):
            np.testing.assert_array_equal(u, v)
        else:
            assert u == v


@pytest.mark.parametrize("kind", KINDS)
def test_fit_returns_self_and_keeps_its_parameters(kind):
    """check_estimators_fit_returns_self, check_estimators_overwrite_params,
    check_dont_overwrite_parameters, check_fit_score_takes_y."""
    est, X, y = _case(kind)
    for method in ("fit", "partial_fit", "score"):
        assert list(inspect.signature(getattr(est, method)).parameters)[:2] == ["X", "y"]
    params = joblib.hash(est.get_params())
    before = dict(vars(est))
    assert _fit(est, X, y) is est
    assert joblib.hash(est.get_params()) == params
    after = vars(est)
    for key in after:
        if not (key.startswith("_") or key.endswith("_")):
            assert key in before and after[key] is before[key], key


@pytest.mark.parametrize("kind", KINDS)
def test_predict_and_score_change_nothing(kind):
    """check_dict_unchanged (also for score and sample)."""
    est, X, y = _case(kind)
    _fit(est, X, y)
    first = _outputs(est, X, y)
    state = dict(vars(est))
    weights = _weights(est)
    second = _outputs(est, X, y)
    assert vars(est).keys() == state.keys()
    assert all(vars(est)[k] is v for k, v in state.items())
    _assert_same(_weights(est), weights)
    _assert_same(first, second)


@pytest.mark.parametrize("kind", KINDS)
def test_pickle_round_trip_and_read_only_input(kind):
    """check_estimators_pickle (both variants), check_readonly_memmap_input."""
    est, X, y = _case(kind)
    if isinstance(X, np.ndarray):
        X = X.copy()
        X.setflags(write=False)
    if isinstance(y, np.ndarray):
        y = y.copy()
        y.setflags(write=False)
    _fit(est, X, y)
    copy = pickle.loads(pickle.dumps(est))
    _assert_same(_outputs(copy, X, y), _outputs(est, X, y))
    _assert_same(_weights(copy), _weights(est))
    assert copy.get_params() == est.get_params()


@pytest.mark.parametrize("kind", KINDS)
def test_fit_is_idempotent_and_seeded(kind):
    """check_fit_idempotent, check_pipeline_consistency: the same random_state gives the
    same model, whatever was fitted before; another random_state gives another model."""
    est, X, y = _case(kind)
    _, X_other, y_other = _case(kind, n=12, seed=1)
    _fit(est, X, y)
    weights, outputs = _weights(est), _outputs(est, X, y)
    _fit(est, X_other, y_other)
    _fit(est, X, y)
    _assert_same(_weights(est), weights)
    _assert_same(_outputs(est, X, y), outputs)
    again = _fit(clone(est), X, y)
    _assert_same(_weights(again), weights)
    assert again.loss_curve_ == est.loss_curve_
    other = _fit(clone(est).set_params(random_state=1), X, y)
    assert not all(np.array_equal(a, b) for a, b in zip(_weights(other), weights))


@pytest.mark.parametrize("kind", KINDS)
def test_predictions_do_not_depend_on_batching(kind):
    """check_methods_sample_order_invariance, check_methods_subset_invariance."""
    est, X, y = _case(kind)
    _fit(est, X, y)
    order = np.random.RandomState(3).permutation(len(X))
    if kind == "lm":
        shuffled = [X[i] for i in order]
        np.testing.assert_allclose(est.score(shuffled), est.score(X), rtol=1e-9)
        by_text = [est.score([x]) for x in X]
        n_tokens = [len(x) + 1 for x in X]  # characters and the end of text
        np.testing.assert_allclose(np.average(by_text, weights=n_tokens), est.score(X), rtol=1e-9)
        return
    if kind == "tagger":
        full = est.predict_proba(X)
        np.testing.assert_allclose(est.predict_proba(X[order]), full[order], rtol=1e-6, atol=1e-7)
        for start in range(0, len(X), 7):
            np.testing.assert_allclose(
                est.predict_proba(X[start : start + 7]),
                full[start : start + 7],
                rtol=1e-6,
                atol=1e-7,
            )
        return
    full = est.predict(X)
    assert est.predict(X[order]) == [full[i] for i in order]
    assert [est.predict(X[i : i + 1])[0] for i in range(len(X))] == full


@pytest.mark.parametrize("kind", KINDS)
def test_bad_input_errors(kind):
    """check_estimators_nan_inf, check_estimators_empty_data_messages, check_complex_data,
    check_fit1d, check_fit2d_predict1d, check_estimator_sparse_*, check_requires_y_none,
    check_supervised_y_no_nan -- with the estimator's own targets."""
    est, X, y = _case(kind)
    if kind == "lm":
        with pytest.raises(ValueError, match="empty"):
            est.fit([])
        with pytest.raises(ValueError, match="no tokens"):
            est.fit([""])
        with pytest.raises(TypeError, match="list of texts"):
            est.fit(np.zeros((3, 4)))
        with pytest.raises(TypeError, match="list of texts"):
            est.fit(None)
        est.fit(X)
        with pytest.raises(TypeError, match="list of texts"):
            est.score(np.zeros((3, 4)))
        return
    for bad, message in ((np.nan, "NaN"), (np.inf, "infinity")):
        Xb = X.copy()
        Xb[2, 1] = bad
        with pytest.raises(ValueError, match=message):
            est.fit(Xb, y)
    with pytest.raises(ValueError, match="0 sample"):
        est.fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="Complex data not supported"):
        est.fit(X + 1j, y)
    with pytest.raises(ValueError, match="2D array"):
        est.fit(X[:, 0], y)
    with pytest.raises(TypeError, match="dense data is required"):
        est.fit(sp.csr_matrix(X), y)
    with pytest.raises(ValueError, match="requires y to be passed"):
        est.fit(X, None)
    if kind == "tagger":
        for bad in (np.nan, np.inf):
            yb = y.astype(np.float64)
            yb[1, 2] = bad
            with pytest.raises(ValueError, match="y contains NaN or infinity"):
                est.fit(X, yb)
        with pytest.raises(ValueError, match="sequence of labels"):
            est.fit(X, y[:, 0])
    else:
        with pytest.raises(TypeError, match="target texts"):
            est.fit(X, np.arange(len(X)))
    est.fit(X, y)
    Xb = X.copy()
    Xb[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.predict(Xb)
    with pytest.raises(ValueError, match="2D array"):
        est.predict(X[0])
    with pytest.raises(ValueError, match="0 sample"):
        est.predict(X[:0])


@pytest.mark.parametrize("kind", KINDS)
def test_not_fitted_errors(kind):
    """check_estimators_unfitted, check_fit_check_is_fitted."""
    est, X, y = _case(kind)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    methods = {"predict": (X,), "predict_proba": (X,), "score": (X, y), "sample": (5,)}
    for name, args in methods.items():
        if hasattr(est, name):
            with pytest.raises(NotFittedError):
                getattr(est, name)(*args)
    _fit(est, X, y)
    check_is_fitted(est)


@pytest.mark.parametrize("kind", NUMERIC)
def test_n_features_in(kind):
    """check_n_features_in, check_n_features_in_after_fitting,
    check_estimators_partial_fit_n_features."""
    est, X, y = _case(kind)
    assert not hasattr(est, "n_features_in_")
    est.fit(X, y)
    assert est.n_features_in_ == X.shape[1]
    wider = np.hstack([X, X[:, :1]])
    message = (
        f"X has {X.shape[1] + 1} features, but {type(est).__name__} is expecting "
        f"{X.shape[1]} features as input"
    )
    for method in ("predict", "score", "partial_fit"):
        args = (wider,) if method == "predict" else (wider, y)
        with pytest.raises(ValueError, match=message):
            getattr(est, method)(*args)
    if kind != "vector":  # sequences: a 3-D array or a list gives features per step
        est.fit(X[:, :, None].repeat(2, axis=2), y)
        assert est.n_features_in_ == 2
        est.fit(["a b", "b a c"], y[:2] if kind == "seq2seq" else [[0, 1], [1, 0, 1]])
        assert not hasattr(est, "n_features_in_")  # text: no numeric features


def test_language_model_has_no_numeric_features():
    est, X, _ = _case("lm")
    est.fit(X)
    assert not hasattr(est, "n_features_in_")


@pytest.mark.parametrize("kind", NUMERIC)
def test_input_dtypes_and_layouts(kind):
    """check_estimators_dtypes, check_dtype_object, check_f_contiguous_array_estimator,
    check_classifier_data_not_an_array: the same values in any numeric form give the same
    model (X is cast to the working dtype, float32 here)."""
    est, X, y = _case(kind)
    X = np.round(X * 4)  # exactly representable in every dtype below
    reference = clone(est).fit(X.astype(np.float32), y)
    weights = _weights(reference)
    pred = [np.asarray(p) for p in reference.predict(X.astype(np.float32))]
    y_list = y.tolist() if isinstance(y, np.ndarray) else y
    for Xv in (X, X.astype(np.int64), X.astype(object), np.asfortranarray(X), X.tolist()):
        fitted = clone(est).fit(Xv, y_list)
        _assert_same(_weights(fitted), weights)
        _assert_same([np.asarray(p) for p in fitted.predict(Xv)], pred)
    with pytest.raises(TypeError, match="dict"):
        Xb = X.astype(object)
        Xb[0, 0] = {"foo": "bar"}
        clone(est).fit(Xb, y)


@pytest.mark.parametrize("kind", NUMERIC)
def test_one_sample_and_one_step(kind):
    """check_fit2d_1sample, check_fit2d_1feature: one sequence, or sequences of one step."""
    est, X, y = _case(kind)
    if kind == "tagger":
        first = np.flatnonzero([len(set(row)) == 2 for row in y.tolist()])[0]
        est.fit(X[first : first + 1], y[first : first + 1])
        assert est.predict(X).shape == X.shape
        with pytest.raises(ValueError, match="at least 2 distinct labels"):
            clone(est).fit(X[:, :1], np.zeros((len(X), 1), int))
        est.fit(X[:, :1], y[:, :1])
        assert est.predict(X[:, :1]).shape == (len(X), 1)
        return
    est.fit(X[:1], y[:1])
    assert len(est.predict(X)) == len(X)
    est.fit(X[:, :1], y)
    assert est.n_features_in_ == 1 and len(est.predict(X[:, :1])) == len(X)


def test_language_model_ignores_y():
    """Unsupervised (tags: target not required): y is accepted and ignored."""
    est, X, _ = _case("lm")
    with_y = clone(est).fit(X, np.arange(len(X)))
    _assert_same(_weights(with_y), _weights(est.fit(X)))


@pytest.mark.parametrize("kind", KINDS)
def test_model_selection_tools(kind):
    """GridSearchCV and cross_val_score with each estimator's own score."""
    est, X, y = _case(kind)
    data = (X,) if y is None else (X, y)
    search = GridSearchCV(est, {"hidden_size": [4, 8]}, cv=2).fit(*data)
    assert search.best_params_["hidden_size"] in (4, 8)
    scores = cross_val_score(est, *data, cv=2)
    assert scores.shape == (2,) and np.all(np.isfinite(scores))
