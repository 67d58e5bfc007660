"""pyrnn.plotting draws what the estimators recorded; without matplotlib it says what to install."""

import sys

import numpy as np
import pytest

from pyrnn import RNNClassifier, plotting

FAST = dict(hidden_size=8, max_epochs=4, learning_rate=0.02, random_state=0, n_threads=1)


def _fitted(**kw):
    rng = np.random.RandomState(0)
    X = [rng.standard_normal((rng.randint(2, 9), 2)) for _ in range(30)]
    y = [int(x.sum() > 0) for x in X]
    return RNNClassifier(**{**FAST, **kw}).fit(X, y)


def test_plots_show_the_recorded_curves():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clf = _fitted(early_stopping=True, validation_fraction=0.3)
    ax = plotting.plot_loss_curve(clf)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), clf.loss_curve_)
    np.testing.assert_array_equal(ax.right_ax.lines[0].get_ydata(), clf.validation_scores_)
    ax = plotting.plot_gradient_norms(clf)
    assert [line.get_label() for line in ax.lines] == ["epoch 1", "epoch 2", "epoch 4"]
    np.testing.assert_array_equal(ax.lines[2].get_ydata(), clf.gradient_norms_[3])
    assert ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="between 1 and 4"):
        plotting.plot_gradient_norms(clf, epochs=[5])
    with pytest.raises(ValueError, match="fit it first"):
        plotting.plot_loss_curve(RNNClassifier())
    plt.close("all")


def test_clear_message_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plotting.plot_loss_curve(_fitted())
