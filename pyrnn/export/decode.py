"""Run exported text models outside pyrnn: numpy + onnxruntime (no pyrnn, no scikit-learn).

``to_onnx(model, "m.onnx")`` on a ``Seq2Seq`` or ``RNNLanguageModel`` writes
``m.encoder.onnx``, ``m.decoder.onnx`` and ``m.vocab.json``; with ``doc =
json.load(open("m.vocab.json"))`` and ``onnxruntime.InferenceSession`` objects for the two
graphs:

* ``seq2seq_predict(encoder, decoder, doc, X, beam_width=k)`` gives what
  ``Seq2Seq(beam_width=k).predict(X)`` gives (greedy decoding or beam search);
* ``lm_sample(encoder, decoder, doc, n, prompt, temperature, top_k, random_state)`` gives
  what ``RNNLanguageModel.sample`` gives with the same arguments (the same random draws).

The decoders are stateless: the recurrent state is an input and an output of every step.
This file is meant to be read, and copied into a service that has no pyrnn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

__all__ = ["tokenize", "seq2seq_predict", "lm_sample"]


def tokenize(texts: Sequence[Any], analyzer: str | None) -> list[list[str]]:
    """Texts -> token lists: 'char' splits characters, 'word' whitespace; token lists pass."""
    split = {"char": list, "word": str.split}.get(analyzer)
    if split is None and any(isinstance(t, str) for t in texts):
        raise ValueError("the model was fitted with a custom analyzer: pass token lists")
    return [split(t) if isinstance(t, str) else list(t) for t in texts]


def _ids(token_lists, vocabulary):
    """Token lists -> padded ids (N, T) int64 (0 = unknown token) and lengths (N,)."""
    lengths = np.array([len(t) for t in token_lists], np.int64)
    ids = np.zeros((len(token_lists), max(int(lengths.max(initial=1)), 1)), np.int64)
    for i, tokens in enumerate(token_lists):
        ids[i, : len(tokens)] = [vocabulary.get(t, 0) for t in tokens]
    return ids, lengths


def _feed(session, values):
    """The inputs ``session`` declares, taken from ``values`` by name."""
    return {i.name: values[i.name] for i in session.get_inputs()}


def _step(decoder, token, state, **extra):
    """One decoder step: (first output, new state list)."""
    names = ("h", "c")[: len(state)]
    outputs = decoder.run(
        None, _feed(decoder, {"token": token, **dict(zip(names, state)), **extra})
    )
    return outputs[0], outputs[1:]


def _greedy(decoder, summary, state, ids, M):
    """Greedy decoding: ids (B, M) and each output's length (B,)."""
    B = len(summary)
    tokens = np.full(B, ids["start"], np.int64)
    out = np.zeros((B, M), np.int64)
    ends = np.full(B, M)
    done = np.zeros(B, bool)
    for t in range(M + 1):
        log_probs, state = _step(decoder, tokens, state, summary=summary)
        tokens = log_probs.argmax(axis=1)
        ended = ~done & (tokens == ids["end"])
        ends[ended], done = t, done | ended
        if done.all() or t == M:
            break
        out[:, t] = tokens
    return out, ends


def _pick(a, parent):
    """a (B, K, ...) reordered along axis 1 by parent (B, K)."""
    return np.take_along_axis(a, parent.reshape(parent.shape + (1,) * (a.ndim - 2)), axis=1)


def _beam(decoder, summary, state, ids, M, K):
    """Beam search over K hypotheses per source, ranked by total log-probability (float64):
    ids (B, M) and lengths (B,) of each source's best hypothesis."""
    B, end = len(summary), ids["end"]
    summary = np.repeat(summary, K, axis=0)  # row b*K + k
    state = [np.repeat(a, K, axis=1) for a in state]
    tokens = np.full(B * K, ids["start"], np.int64)
    scores = np.where(np.arange(K) == 0, 0.0, -np.inf) * np.ones((B, 1))  # one live beam
    seqs, ends = np.zeros((B, K, M), np.int64), np.full((B, K), M)
    done = np.zeros((B, K), bool)
    for t in range(M + 1):
        log_probs, state = _step(decoder, tokens, state, summary=summary)
        logp = log_probs.astype(np.float64).reshape(B, K, -1)
        logp[done] = -np.inf
        logp[done, end] = 0.0  # a finished hypothesis carries on with "end" at no cost
        if t == M:  # out of room: every hypothesis ends here
            logp[:, :, np.arange(logp.shape[2]) != end] = -np.inf
        # the K best (hypothesis, token) continuations of each source, ties by position
        cand = (scores[:, :, None] + logp).reshape(B, -1)
        best = np.argsort(-cand, axis=1, kind="stable")[:, :K]
        scores = np.take_along_axis(cand, best, axis=1)
        parent, token = np.divmod(best, logp.shape[2])
        seqs, ends, was_done = (_pick(a, parent) for a in (seqs, ends, done))
        ended = ~was_done & (token == end)
        ends[ended], done = t, was_done | ended
        if t < M:
            seqs[:, :, t][~done] = token[~done]
        rows = (np.arange(B)[:, None] * K + parent).ravel()
        state, tokens = [a[:, rows] for a in state], token.ravel()
        if done.all():
            break
    top = np.argmax(scores, axis=1)
    return seqs[np.arange(B), top], ends[np.arange(B), top]


def seq2seq_predict(
    encoder: InferenceSession,
    decoder: InferenceSession,
    doc: dict[str, Any],
    X: Any,
    lengths: Any = None,
    beam_width: int = 1,
) -> list[Any]:
    """Decode with exported Seq2Seq graphs, as ``Seq2Seq.predict`` with the same
    ``beam_width`` (1: greedy, the most probable token at each step, fed back; k > 1: beam
    search), until the end token or ``max_output_length`` tokens.

    X: texts / token lists (text sources), or a float32 array (N, T, F) / (N, F) for numeric
    sources (``lengths`` (N,) if the encoder has that input). Returns one output per source:
    a str (tokens joined by '' for character targets, ' ' for words) or a token list.
    """
    values = {"lengths": lengths}
    if "vocabulary" in doc:
        values["X"], values["lengths"] = _ids(tokenize(X, doc["analyzer"]), doc["vocabulary"])
        if (
            "lengths" not in {i.name for i in encoder.get_inputs()}
            and len(set(values["lengths"].tolist())) > 1
        ):
            raise ValueError(
                "texts of different lengths need an encoder exported with lengths=True"
            )
    else:
        values["X"] = np.asarray(X, np.float32)
    summary, *state = encoder.run(None, _feed(encoder, values))
    ids, M = doc["special_ids"], doc["max_output_length"]
    if beam_width == 1:
        out, ends = _greedy(decoder, summary, state, ids, M)
    else:
        out, ends = _beam(decoder, summary, state, ids, M, beam_width)
    words = {i: w for w, i in doc["target_vocabulary"].items()}
    results = [[words[i] for i in out[b, : ends[b]].tolist()] for b in range(len(out))]
    join = {"char": "", "word": " "}.get(doc.get("target_form"))
    return results if join is None else [join.join(r) for r in results]


def _draw(logits, temperature, top_k, rng):
    """One token id from float64 logits, as RNNLanguageModel.sample draws it."""
    if top_k is not None and top_k < np.isfinite(logits).sum():
        logits = np.where(logits >= np.sort(logits)[-top_k], logits, -np.inf)
    if temperature == 0:
        return int(np.argmax(logits))
    p = np.exp(logits / temperature - np.max(logits / temperature))
    return int(rng.choice(len(p), p=p / p.sum()))


def lm_sample(
    encoder: InferenceSession,
    decoder: InferenceSession,
    doc: dict[str, Any],
    n: int = 200,
    prompt: str | Sequence[str] = "",
    temperature: float = 1.0,
    top_k: int | None = None,
    random_state: int | np.random.RandomState | None = None,
) -> str | list[str]:
    """Continue ``prompt`` with up to ``n`` tokens drawn from exported language-model graphs,
    as ``RNNLanguageModel.sample`` (same arguments; an int or RandomState ``random_state``
    gives the same draws). Returns the prompt plus the generated text (a token list when
    ``prompt`` is a list)."""
    rng = (
        random_state
        if isinstance(random_state, np.random.RandomState)
        else np.random.RandomState(random_state)
    )
    tokens = tokenize([prompt], doc["analyzer"])[0]
    end = doc["special_ids"]["end"]
    words = {i: w for w, i in doc["vocabulary"].items()}
    ids = [end] + [doc["vocabulary"].get(t, 0) for t in tokens]
    logits, *state = encoder.run(
        None, _feed(encoder, {"X": np.array([ids], np.int64), "lengths": np.array([len(ids)])})
    )
    generated = []
    for _ in range(n):
        token = _draw(logits[0].astype(np.float64), temperature, top_k, rng)
        if token == end:
            break
        generated.append(words[token])
        logits, state = _step(decoder, np.array([token], np.int64), state)
    if not isinstance(prompt, str):
        return tokens + generated
    if doc["analyzer"] == "char":
        return prompt + "".join(generated)
    return " ".join(([prompt] if prompt else []) + generated)
