"""pyrnn: fast, trustworthy recurrent neural networks (RNN, LSTM, GRU) on the CPU.

Layers, from the bottom up:

- :mod:`pyrnn.engine` — one layer in one direction, forward and BPTT, in C++ (OpenMP, SIMD).
"""
from . import engine
from .engine import get_num_threads, set_num_threads, show_config
from .network import RNN, LSTM, GRU
from . import init, losses, optim, heads, clip, train
from .estimators import RNNClassifier, RNNRegressor, RNNTagger, Seq2Seq, RNNLanguageModel

__version__ = engine.config()["version"]

__all__ = ["engine", "get_num_threads", "set_num_threads", "show_config", "__version__",
           "RNN", "LSTM", "GRU", "init", "losses", "optim", "heads", "clip", "train",
           "RNNClassifier", "RNNRegressor", "RNNTagger", "Seq2Seq", "RNNLanguageModel"]
