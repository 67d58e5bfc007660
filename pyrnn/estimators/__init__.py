"""scikit-learn estimators for the classic sequence problems.

=====================  ====================================  =================================
estimator              problem                               X -> y
=====================  ====================================  =================================
RNNClassifier          sequence -> class                     sequences -> labels
RNNRegressor           sequence -> value(s) (forecasting)    sequences -> floats
RNNTagger              sequence -> label per step            sequences -> label sequences
Seq2Seq                sequence (or vector) -> sequence      sequences/vectors -> token seqs
RNNLanguageModel       text generation                       texts -> (none)
=====================  ====================================  =================================

Sequences are a 3-D array (n, T, F), a 2-D array (n, T) of univariate sequences, a list of
arrays of different lengths, or text (a list of strings or of token lists).
"""

from ._language_model import RNNLanguageModel
from ._seq2seq import Seq2Seq
from ._sequence import RNNClassifier, RNNRegressor, RNNTagger

__all__ = ["RNNClassifier", "RNNRegressor", "RNNTagger", "Seq2Seq", "RNNLanguageModel"]
