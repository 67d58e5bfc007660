"""pyrnn: fast, trustworthy recurrent neural networks (RNN, LSTM, GRU) on the CPU.

Layers, from the bottom up:

- :mod:`pyrnn.engine` — one layer in one direction, forward and BPTT, in C++ (OpenMP, SIMD).
- ``pyrnn.RNN`` / ``LSTM`` / ``GRU`` — deep, bidirectional networks over the engine, with
  :mod:`init`, :mod:`losses`, :mod:`heads`, :mod:`clip`, :mod:`optim`, :mod:`train`;
  :mod:`functional` (softmax, sigmoid, dropout) and :mod:`parameters` (the flat-buffer
  protocol every trainable piece follows).
- ``RNNClassifier``, ``RNNRegressor``, ``RNNTagger``, ``Seq2Seq``, ``RNNLanguageModel`` —
  scikit-learn estimators (:mod:`pyrnn.estimators`, imported on first use), with
  :mod:`callbacks`, :mod:`preprocessing` (``SequenceScaler``), :mod:`conv` (``Conv1d``) and
  ``RNNForecaster`` (:mod:`pyrnn.forecasting`: multi-step forecasts).
"""

from . import engine
from .engine import get_num_threads, set_num_threads, show_config
from .network import RNN, LSTM, GRU
from . import init, losses, optim, heads, clip, train, functional, parameters
from .serialization import save, load

_ESTIMATORS = ("RNNClassifier", "RNNRegressor", "RNNTagger", "Seq2Seq", "RNNLanguageModel")


def __getattr__(name):
    # The estimators need scikit-learn, whose import is ~1 s: load them on first use only, so
    # that the engine and the networks import fast.
    if name in _ESTIMATORS:
        from . import estimators

        return getattr(estimators, name)
    if name == "RNNForecaster":
        from .forecasting import RNNForecaster

        return RNNForecaster
    raise AttributeError(f"module 'pyrnn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_ESTIMATORS) | {"RNNForecaster"})


__version__ = engine.config()["version"]

__all__ = [
    "engine",
    "get_num_threads",
    "set_num_threads",
    "show_config",
    "__version__",
    "RNN",
    "LSTM",
    "GRU",
    "save",
    "load",
    "init",
    "losses",
    "optim",
    "heads",
    "clip",
    "train",
    "functional",
    "parameters",
    "RNNClassifier",
    "RNNRegressor",
    "RNNTagger",
    "Seq2Seq",
    "RNNLanguageModel",
    "RNNForecaster",
]
