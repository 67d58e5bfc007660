"""``to_onnx``: one entry point for networks and fitted estimators."""

from __future__ import annotations

import json
import os
from typing import Any

from ..network import GRU, LSTM, RNN
from ._import import META_KEY, from_onnx, from_torch, network_config
from ._rnn import network_model

__all__ = ["to_onnx", "from_onnx", "from_torch"]


def to_onnx(
    obj: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    lengths: bool = False,
    initial_state: bool = False,
) -> Any:
    """Export a network or a fitted estimator to ONNX.

    Parameters
    ----------
    obj : pyrnn.RNN / LSTM / GRU, or a fitted RNNClassifier, RNNRegressor, RNNTagger,
        Seq2Seq or RNNLanguageModel
    path : str or os.PathLike, optional
        Where to write: ``path`` itself for one graph; for Seq2Seq and RNNLanguageModel
        (two graphs) ``<stem>.encoder.onnx`` and ``<stem>.decoder.onnx`` beside it. Text
        estimators also write their vocabulary as ``<stem>.vocab.json``.
    lengths : bool
        Add an int64 input ``lengths`` (B,) (ONNX ``sequence_lens``): steps past a
        sequence's length give zeros and its final state is taken at its own last step.
    initial_state : bool
        Networks only: add inputs ``h0`` (and ``c0`` for LSTM), (num_layers*D, B, H), so a
        model can stream chunk by chunk (feed ``h_n``/``c_n`` back).

    Returns
    -------
    onnx.ModelProto, or for Seq2Seq / RNNLanguageModel a dict ``{"encoder": ..., "decoder": ...}``.

    Graphs are float32 (ONNX Runtime's recurrent kernels are float32 only; a float64 model
    is exported with float32 weights) with symbolic time and batch dimensions. A network's
    graph has inputs ``x`` (T, B, I) ((B, T, I) with ``batch_first``) [, ``lengths``,
    ``h0``, ``c0``] and outputs ``y``, ``h_n`` [, ``c_n``], as ``net.forward``. Estimator
    graphs are described in :mod:`pyrnn.export._estimators`.
    """
    if isinstance(obj, (RNN, LSTM, GRU)):
        model = network_model(obj, lengths=lengths, initial_state=initial_state)
        model.metadata_props.add(key=META_KEY, value=json.dumps(network_config(obj)))
        models, extra = model, None
    else:
        from ._estimators import estimator_models

        if initial_state:
            raise ValueError(
                "initial_state applies to networks; the decoder graphs of "
                "Seq2Seq and RNNLanguageModel take their states as inputs"
            )
        models, extra = estimator_models(obj, lengths=lengths)
    if path is not None:
        _write(models, extra, os.fspath(path))
    return models


def _stem(path):
    return path[:-5] if path.endswith(".onnx") else path


def _write(models, extra, path):
    import onnx

    if isinstance(models, dict):
        for part, model in models.items():
            onnx.save(model, f"{_stem(path)}.{part}.onnx")
    else:
        onnx.save(models, path)
    if extra is not None:
        with open(f"{_stem(path)}.vocab.json", "w", encoding="utf-8") as f:
            json.dump(extra, f, ensure_ascii=False, indent=1, sort_keys=True)
