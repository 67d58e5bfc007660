"""The scikit-learn estimator contract, checked by scikit-learn's own test suite.

2-D X is read as univariate sequences (columns = time steps). Small networks and few epochs
keep the ~50 checks per estimator fast while still passing the checks' quality bars
(training accuracy > 0.83, R^2 > 0.5).
"""
import pytest

pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from pyrnn.estimators import RNNClassifier, RNNRegressor  # noqa: E402

SMALL = dict(hidden_size=16, max_epochs=30, learning_rate=0.02, batch_size=32,
             random_state=0, n_threads=1)


@parametrize_with_checks([RNNClassifier(**SMALL), RNNRegressor(**SMALL)])
def test_sklearn_contract(estimator, check):
    check(estimator)
