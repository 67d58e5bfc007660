"""ONNX graphs of fitted estimators. Everything this module knows about each estimator class
(which fitted attributes it reads, which graphs it writes) is in the table ``GRAPHS``.

Graph inputs (N sequences of T steps, batch-first as the estimators take them):

* ``X``: (N, T, F) float32 for sequences, (N, T) float32 for a 2-D X of univariate
  sequences, (N, T) int64 token ids for text (ids from the vocabulary saved beside the
  model; 0 for unknown tokens), (N, F) float32 for ``Seq2Seq(source="vector")``;
* ``lengths`` (N,) int64 with ``to_onnx(..., lengths=True)``: valid steps per sequence.
  Without it every row runs all T steps: export with lengths for padded batches.

Outputs:

=================  ===================================================================
RNNClassifier      ``label`` (N,) (the fitted ``classes_``), ``probabilities`` (N, C)
RNNRegressor       ``variable`` (N, n_outputs) float32, in the units of y
RNNTagger          ``label`` (N, T), ``probabilities`` (N, T, C); steps past a length are
                   padding (ignore them)
Seq2Seq            encoder: ``summary`` (N, S), ``h0`` (L, N, H) [, ``c0``];
                   decoder (one step): inputs ``token`` (N,) int64, ``summary``, ``h``
                   [, ``c``] -> ``log_probs`` (N, V), ``h_n`` [, ``c_n``]
RNNLanguageModel   encoder (reads a prompt): ``X`` ids (N, T) -> ``logits`` (N, V) of the
                   next token, ``h_n`` [, ``c_n``]; decoder (one step): ``token``, ``h``
                   [, ``c``] -> ``logits``, ``h_n`` [, ``c_n``]
=================  ===================================================================

Decoder logits of tokens never emitted (unknown; Seq2Seq's start token) are -inf, as in
``predict``/``sample``. :mod:`pyrnn.export.decode` has the loops that run the pairs of graphs.
"""

import json

import numpy as np

from ._graph import Graph
from ._rnn import emit_network

# Special token ids of the text estimators (pyrnn/estimators/_seq2seq.py, _language_model.py)
SEQ2SEQ_IDS = {"unknown": 0, "start": 1, "end": 2}
LM_IDS = {"unknown": 0, "end": 1}


# ---------------------------------------------------------------- pieces


def _sequence_input(g, est, lengths):
    """Inputs X [, lengths] -> (time-major x (T, N, F) float32, int32 seq_lens or '', lengths)."""
    kind = getattr(est, "input_kind_", "tokens")  # a language model reads tokens only
    if kind == "tokens":
        x = g.input("X", np.int64, ["N", "T"])
        x = g.op("Gather", [g.const(est.embedding_.weight.astype(np.float32), "embedding"), x])
    elif kind == "tabular":
        x = g.op("Unsqueeze", [g.input("X", np.float32, ["N", "T"]), g.ints([2])])
    else:
        x = g.input("X", np.float32, ["N", "T", est.input_size_])
    x = g.op("Transpose", [x], perm=[1, 0, 2])
    if not lengths:
        return x, "", ""
    len64 = g.input("lengths", np.int64, ["N"])
    return x, g.op("Cast", [len64], to=6), len64


def _last_layer_state(g, net, h_n):
    """(L*D, N, H) -> the last layer's final state, directions concatenated: (N, D*H)."""
    L, D = net.num_layers, net.num_directions
    h = g.op("Slice", [h_n, g.ints([(L - 1) * D]), g.ints([L * D]), g.ints([0])])
    h = g.op("Transpose", [h], perm=[1, 0, 2])
    return g.op("Reshape", [h, g.ints([0, -1])])


def _linear(g, x, head, mask_ids=()):
    """x (..., in) @ weight.T + bias, with -inf at the columns ``mask_ids``."""
    w = g.const(np.ascontiguousarray(head.weight.T, dtype=np.float32), "head_weight")
    bias = (
        np.zeros(head.out_features, np.float32)
        if head.bias is None
        else head.bias.astype(np.float32)
    )
    bias[list(mask_ids)] = -np.inf
    return g.op("Add", [g.op("MatMul", [x, w]), g.const(bias, "head_bias")])


def _labels(g, classes, index):
    """Gather the fitted class labels at ``index``; returns (value, numpy dtype)."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "iub":
        table = classes.astype(np.int64) if classes.dtype.kind != "b" else classes
    elif classes.dtype.kind == "f":
        table = classes.astype(np.float64)
    elif classes.dtype.kind == "U" or all(isinstance(c, str) for c in classes.tolist()):
        table = classes.astype(str)
    else:
        raise ValueError(
            "ONNX labels must be numbers or strings; classes_ holds "
            f"{sorted({type(c).__name__ for c in classes.tolist()})}"
        )
    return g.op("Gather", [g.const(table, "classes"), index], axis=0), table.dtype


def _encode(g, est, net, lengths):
    """Inputs -> network outputs: (y (T, N, F), h_n, c_n)."""
    x, seq_lens, _ = _sequence_input(g, est, lengths)
    return emit_network(g, net, x, seq_lens)


def _state_io(g, net, batch, names=("h", "c")):
    """Decoder state inputs h [, c] (L, N, H)."""
    shape = [net.num_layers, batch, net.hidden_size]
    h = g.input(names[0], np.float32, shape)
    c = g.input(names[1], np.float32, shape) if net.cell == "lstm" else ""
    return h, c


def _state_outputs(g, net, h_n, c_n, batch="N"):
    shape = [net.num_layers * net.num_directions, batch, net.hidden_size]
    g.output(h_n, "h_n", np.float32, shape)
    if c_n is not None:
        g.output(c_n, "c_n", np.float32, shape)


def _one_step(g, net, x_step, h, c):
    """One step of a unidirectional net: x (N, F) -> (y (N, H), h_n, c_n)."""
    x = g.op("Unsqueeze", [x_step, g.ints([0])])
    y, h_n, c_n = emit_network(g, net, x, "", h, c)
    return g.op("Squeeze", [y, g.ints([0])]), h_n, c_n


# ---------------------------------------------------------------- one builder per estimator


def _classifier(est, lengths):
    g = Graph("pyrnn_RNNClassifier")
    _, h_n, _ = _encode(g, est, est.network_, lengths)
    logits = _linear(g, _last_layer_state(g, est.network_, h_n), est.head_)
    proba = g.op("Softmax", [logits], axis=-1)
    label, dtype = _labels(g, est.classes_, g.op("ArgMax", [proba], axis=1, keepdims=0))
    g.output(label, "label", dtype, ["N"])
    g.output(proba, "probabilities", np.float32, ["N", len(est.classes_)])
    return g.model(doc="pyrnn RNNClassifier")


def _regressor(est, lengths):
    g = Graph("pyrnn_RNNRegressor")
    _, h_n, _ = _encode(g, est, est.network_, lengths)
    z = _linear(g, _last_layer_state(g, est.network_, h_n), est.head_)
    y = g.op(
        "Add",
        [
            g.op("Mul", [z, g.const(est.y_scale_.astype(np.float32), "y_scale")]),
            g.const(est.y_mean_.astype(np.float32), "y_mean"),
        ],
    )
    g.output(y, "variable", np.float32, ["N", len(est.y_mean_)])
    return g.model(doc="pyrnn RNNRegressor")


def _tagger(est, lengths):
    g = Graph("pyrnn_RNNTagger")
    y, _, _ = _encode(g, est, est.network_, lengths)
    logits = _linear(g, g.op("Transpose", [y], perm=[1, 0, 2]), est.head_)
    proba = g.op("Softmax", [logits], axis=-1)
    label, dtype = _labels(g, est.classes_, g.op("ArgMax", [proba], axis=2, keepdims=0))
    g.output(label, "label", dtype, ["N", "T"])
    g.output(proba, "probabilities", np.float32, ["N", "T", len(est.classes_)])
    return g.model(doc="pyrnn RNNTagger")


def _seq2seq_encoder(est, lengths):
    g = Graph("pyrnn_Seq2Seq_encoder")
    if est.source == "vector":
        summary = g.input("X", np.float32, ["N", est.input_size_])
    else:
        _, h_n, _ = _encode(g, est, est.encoder_, lengths)
        summary = _last_layer_state(g, est.encoder_, h_n)
    L, H = est.num_layers, est.hidden_size
    h0 = g.op("Tanh", [_linear(g, summary, est.bridge_)])
    h0 = g.op("Transpose", [g.op("Reshape", [h0, g.ints([0, L, H])])], perm=[1, 0, 2])
    g.output(summary, "summary", np.float32, ["N", est.bridge_.in_features])
    g.output(h0, "h0", np.float32, [L, "N", H])
    if est.cell == "lstm":
        g.output(g.op("ConstantOfShape", [g.op("Shape", [h0])]), "c0", np.float32, [L, "N", H])
    return g.model(doc="pyrnn Seq2Seq encoder: source -> decoder initial state")


def _seq2seq_decoder(est):
    g = Graph("pyrnn_Seq2Seq_decoder")
    token = g.input("token", np.int64, ["N"])
    summary = g.input("summary", np.float32, ["N", est.bridge_.in_features])
    h, c = _state_io(g, est.decoder_, "N")
    emb = g.op(
        "Gather",
        [g.const(est.target_embedding_.weight.astype(np.float32), "target_embedding"), token],
    )
    y, h_n, c_n = _one_step(g, est.decoder_, g.op("Concat", [emb, summary], axis=1), h, c)
    logits = _linear(g, y, est.head_, (SEQ2SEQ_IDS["unknown"], SEQ2SEQ_IDS["start"]))
    g.output(
        g.op("LogSoftmax", [logits], axis=1), "log_probs", np.float32, ["N", est.head_.out_features]
    )
    _state_outputs(g, est.decoder_, h_n, c_n)
    return g.model(doc="pyrnn Seq2Seq decoder: one step")


def _lm_encoder(est, lengths):
    g = Graph("pyrnn_RNNLanguageModel_encoder")
    _, h_n, c_n = _encode(g, est, est.network_, lengths)
    last = _last_layer_state(g, est.network_, h_n)  # = the output at each prompt's last step
    logits = _linear(g, last, est.head_, (LM_IDS["unknown"],))
    g.output(logits, "logits", np.float32, ["N", est.head_.out_features])
    _state_outputs(g, est.network_, h_n, c_n)
    return g.model(doc="pyrnn RNNLanguageModel: read a prompt")


def _lm_decoder(est):
    g = Graph("pyrnn_RNNLanguageModel_decoder")
    token = g.input("token", np.int64, ["N"])
    h, c = _state_io(g, est.network_, "N")
    emb = g.op("Gather", [g.const(est.embedding_.weight.astype(np.float32), "embedding"), token])
    y, h_n, c_n = _one_step(g, est.network_, emb, h, c)
    g.output(
        _linear(g, y, est.head_, (LM_IDS["unknown"],)),
        "logits",
        np.float32,
        ["N", est.head_.out_features],
    )
    _state_outputs(g, est.network_, h_n, c_n)
    return g.model(doc="pyrnn RNNLanguageModel: one step")


def _analyzer(value):
    return value if isinstance(value, str) else None  # a callable: the user's own


def _vocab_doc(est, **extra):
    """What a text estimator's graphs need beside them (JSON-ready), or None."""
    doc = {"estimator": type(est).__name__}
    if getattr(est, "input_kind_", None) == "tokens":
        doc.update(analyzer=_analyzer(est.analyzer), vocabulary=est.vocabulary_, unknown_id=0)
    doc.update(extra)
    return doc if len(doc) > 1 else None


def _seq2seq_doc(est):
    form = getattr(est, "_target_form", None)  # how predict joins tokens: 'char', 'word', 'tokens'
    return _vocab_doc(
        est,
        target_vocabulary=est.target_vocabulary_,
        special_ids=SEQ2SEQ_IDS,
        target_analyzer=_analyzer(est.target_analyzer),
        target_form=form,
        max_output_length=int(est.max_output_length_),
    )


def _lm_doc(est):
    return {
        "estimator": "RNNLanguageModel",
        "analyzer": _analyzer(est.analyzer),
        "vocabulary": est.vocabulary_,
        "special_ids": LM_IDS,
    }


# name -> (fitted attribute that says "fitted", graphs builder, vocabulary document)
GRAPHS = {
    "RNNClassifier": ("network_", _classifier, _vocab_doc),
    "RNNRegressor": ("network_", _regressor, _vocab_doc),
    "RNNTagger": ("network_", _tagger, _vocab_doc),
    "Seq2Seq": (
        "decoder_",
        lambda est, lengths: {
            "encoder": _seq2seq_encoder(est, lengths),
            "decoder": _seq2seq_decoder(est),
        },
        _seq2seq_doc,
    ),
    "RNNLanguageModel": (
        "network_",
        lambda est, lengths: {"encoder": _lm_encoder(est, lengths), "decoder": _lm_decoder(est)},
        _lm_doc,
    ),
}


def estimator_models(est, lengths=False):
    """(model or {"encoder", "decoder"} models, vocabulary document or None) for ``est``."""
    entry = next((GRAPHS[c.__name__] for c in type(est).__mro__ if c.__name__ in GRAPHS), None)
    if entry is None:
        raise TypeError(f"to_onnx takes a pyrnn network or estimator, got {type(est).__name__}")
    fitted_attr, build, vocab = entry
    if not hasattr(est, fitted_attr):
        raise ValueError(f"this {type(est).__name__} is not fitted yet: call fit first")
    if getattr(est, "conv_layers", None):
        raise ValueError("to_onnx does not export conv_layers (Conv1d before the network) yet")
    if getattr(est, "layout", None) == "NCT":
        raise ValueError(
            "to_onnx exports estimators that read X as (N, T, C) (layout 'NTC'); "
            "transpose X and refit with layout='NTC'"
        )
    models = build(est, lengths)
    doc = vocab(est)
    if doc is not None:
        for model in models.values() if isinstance(models, dict) else [models]:
            model.metadata_props.add(key="pyrnn.vocabulary", value=json.dumps(doc))
    return models, doc
