"""Run exported text models outside pyrnn: numpy + onnxruntime (no pyrnn, no scikit-learn).

``to_onnx(model, "m.onnx")`` on a ``Seq2Seq`` or ``RNNLanguageModel`` writes
``m.encoder.onnx``, ``m.decoder.onnx`` and ``m.vocab.json``; with ``doc =
json.load(open("m.vocab.json"))`` and ``onnxruntime.InferenceSession`` objects for the two
graphs:

* ``seq2seq_predict(encoder, decoder, doc, X)`` gives what ``Seq2Seq.predict(X)`` gives with
  ``beam_width=1`` (greedy decoding: at each step the most probable token, fed back, until
  the end token or ``max_output_length`` tokens);
* ``lm_sample(encoder, decoder, doc, n, prompt, temperature, top_k, random_state)`` gives
  what ``RNNLanguageModel.sample`` gives with the same arguments (the same random draws).

The decoders are stateless: the recurrent state is an input and an output of every step.
This file is meant to be read, and copied into a service that has no pyrnn.
"""
import numpy as np

__all__ = ["tokenize", "seq2seq_predict", "lm_sample"]


def tokenize(texts, analyzer):
    """Texts -> token lists: 'char' splits characters, 'word' whitespace; token lists pass."""
    out = []
    for text in texts:
        if not isinstance(text, str):
            out.append(list(text))
        elif analyzer == "char":
            out.append(list(text))
        elif analyzer == "word":
            out.append(text.split())
        else:
            raise ValueError("the model was fitted with a custom analyzer: pass token lists")
    return out


def _ids(token_lists, vocabulary):
    """Token lists -> padded ids (N, T) int64 (0 = unknown token) and lengths (N,)."""
    lengths = np.array([len(t) for t in token_lists], np.int64)
    ids = np.zeros((len(token_lists), max(int(lengths.max(initial=1)), 1)), np.int64)
    for i, tokens in enumerate(token_lists):
        ids[i, :len(tokens)] = [vocabulary.get(t, 0) for t in tokens]
    return ids, lengths


def _feed(session, values):
    """The inputs ``session`` declares, taken from ``values`` by name."""
    return {i.name: values[i.name] for i in session.get_inputs()}


def _step(decoder, token, state, **extra):
    """One decoder step: (first output, new state list)."""
    names = ("h", "c")[:len(state)]
    outputs = decoder.run(None, _feed(decoder, {"token": token, **dict(zip(names, state)),
                                                **extra}))
    return outputs[0], outputs[1:]


def seq2seq_predict(encoder, decoder, doc, X, lengths=None):
    """Greedy decoding of exported Seq2Seq graphs, as ``Seq2Seq.predict`` with beam_width=1.

    X: texts / token lists (text sources), or a float32 array (N, T, F) / (N, F) for numeric
    sources (``lengths`` (N,) if the encoder has that input). Returns one output per source:
    a str (tokens joined by '' for character targets, ' ' for words) or a token list.
    """
    values = {"lengths": lengths}
    if "vocabulary" in doc:
        values["X"], values["lengths"] = _ids(tokenize(X, doc["analyzer"]), doc["vocabulary"])
    else:
        values["X"] = np.asarray(X, np.float32)
    summary, *state = encoder.run(None, _feed(encoder, values))
    ids = doc["special_ids"]
    M, B = doc["max_output_length"], len(summary)
    tokens = np.full(B, ids["start"], np.int64)
    out = np.zeros((B, M), np.int64)
    ends = np.full(B, M)  # each output's length
    done = np.zeros(B, bool)
    for t in range(M + 1):
        log_probs, state = _step(decoder, tokens, state, summary=summary)
        tokens = log_probs.argmax(axis=1)
        ended = ~done & (tokens == ids["end"])
        ends[ended], done = t, done | ended
        if done.all() or t == M:
            break
        out[:, t] = tokens
    words = {i: w for w, i in doc["target_vocabulary"].items()}
    results = [[words[i] for i in out[b, :ends[b]].tolist()] for b in range(B)]
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


def lm_sample(encoder, decoder, doc, n=200, prompt="", temperature=1.0, top_k=None,
              random_state=None):
    """Continue ``prompt`` with up to ``n`` tokens drawn from exported language-model graphs,
    as ``RNNLanguageModel.sample`` (same arguments; an int or RandomState ``random_state``
    gives the same draws). Returns the prompt plus the generated text (a token list when
    ``prompt`` is a list)."""
    rng = random_state if isinstance(random_state, np.random.RandomState) \
        else np.random.RandomState(random_state)
    tokens = tokenize([prompt], doc["analyzer"])[0]
    end = doc["special_ids"]["end"]
    words = {i: w for w, i in doc["vocabulary"].items()}
    ids = [end] + [doc["vocabulary"].get(t, 0) for t in tokens]
    logits, *state = encoder.run(None, _feed(encoder, {"X": np.array([ids], np.int64),
                                                       "lengths": np.array([len(ids)])}))
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
