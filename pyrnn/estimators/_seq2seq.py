"""Seq2Seq: encoder-decoder networks for sequence -> sequence and vector -> sequence.

The encoder reads the source; its summary ``s`` (the last layer's final hidden state, both
directions when bidirectional; or the input vector itself with ``source='vector'``) gives the
decoder its initial state ``h0 = tanh(W s + b)`` (one per layer; LSTM cells start at zero) and
is also fed to the decoder at every step next to the embedding of the previous output token.
Training uses teacher forcing (the decoder reads the true previous token); prediction decodes
greedily or with beam search, up to a maximum output length.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import numbers

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray
from sklearn.utils.validation import check_is_fitted, validate_data

from ..functional import log_softmax
from ..losses import softmax_cross_entropy
from ._base import COMMON_PARAMS, TEXT_PARAMS, BaseRNN, Param, store_hyper_parameters
from ._data import FLOAT_DTYPES, analyze, as_text_input, check_sequences, encode, take_rows
from ._threads import threads

UNK, BOS, EOS = 0, 1, 2  # special target ids; target tokens start at 3
_PREDICT_CHUNK = 256

if TYPE_CHECKING:
    from typing_extensions import Self


class Seq2Seq(BaseRNN):
    """Sequence-to-sequence model (translation, transduction, captioning-style vector input).

    Parameters
    ----------
    cell, hidden_size, num_layers, dropout, optimizer, learning_rate, batch_size, max_epochs,
    clip_norm, early_stopping, validation_fraction, n_iter_no_change, tol, warm_start,
    random_state, verbose, dtype, n_threads, lr_schedule, warmup_epochs :
        As in :class:`RNNClassifier` (defaults: hidden_size=128, learning_rate=0.005,
        max_epochs=50, n_iter_no_change=10, lr_schedule='constant', warmup_epochs=0). The
        encoder and the decoder both have ``num_layers`` layers of ``hidden_size`` units.
        The stopping rule (counted once the loss fell 10% below its start) and the
        best-epoch restore are the same as the classifier's.
    bidirectional : bool, default=False
        Bidirectional encoder (the decoder always runs forward).
    source : {'sequence', 'vector'}, default='sequence'
        'sequence': X holds sequences (arrays, lists or text), read by the encoder.
        'vector': X is a 2-D array (n_samples, n_features) of fixed vectors that condition
        the decoder directly (no encoder): vector -> sequence.
    analyzer : {'word', 'char'} or callable, default='word'
        How source texts are split into tokens.
    target_analyzer : {'char', 'word'} or callable, default='char'
        How target texts are split into tokens. Predictions come back in the form the targets
        had in ``fit``: strings joined by '' ('char') or ' ' (otherwise), or token lists.
    embedding_dim : int, default=32
        Size of the source and target token embeddings.
    min_frequency : int, default=1
        Source tokens seen fewer times map to the unknown token.
    max_output_length : int or None, default=None
        Most tokens a prediction may have; None: twice the longest target seen in ``fit``
        plus 2 (``max_output_length_``). Longer outputs are cut there.
    beam_width : int, default=1
        1 decodes greedily; k > 1 keeps the k most probable partial outputs (beam search,
        ranked by total log-probability).

    How the defaults were checked: on the shipped number-words data
    (``make_number_words(2500, max_value=9999, random_state=0)``, 2,000 to train and 500
    unseen numbers to test, ``analyzer='word'``, ``target_analyzer='char'``, everything else
    default) the model reaches an exact-match score of 0.998 on the test numbers; the loss
    falls from the first epoch (1.41, then 0.34 nats per token), so neither a warm-up nor
    a schedule was needed, and the stopping rule ended the fit after 24 of the 50 epochs
    (190 s on one thread of a shared 2-core VM, 2026-11-26).

    Attributes
    ----------
    target_vocabulary_ : dict token -> id (ids from 3; 0 unknown, 1 start, 2 end)
    max_output_length_ : int
    vocabulary_ : dict, source token ids (text sources only)
    validation_scores_ : list of float or None
        With early stopping: minus the mean per-token cross-entropy on the validation set
        (teacher forcing), higher is better.
    gradient_norms_ : list of ndarray (T,)
        Per epoch, mean ||dL/dh_t|| of the encoder's first layer (the decoder's with
        ``source='vector'``).
    embedding_, encoder_, bridge_, target_embedding_, decoder_, head_, optimizer_ :
        The trained pieces (``embedding_``/``encoder_`` None where unused).
    Others as :class:`RNNClassifier`.

    Examples
    --------
    >>> from pyrnn import Seq2Seq
    >>> from pyrnn.datasets import make_number_words
    >>> X, y = make_number_words(300, max_value=999, random_state=0)
    >>> model = Seq2Seq(max_epochs=2, random_state=0).fit(X, y)  # "forty two" -> "42"
    >>> isinstance(model.predict(["forty two"])[0], str)
    True
    """

    _params = {
        **COMMON_PARAMS,
        **TEXT_PARAMS,
        "source": Param("options", options=("sequence", "vector")),
        "target_analyzer": Param("analyzer"),
        "max_output_length": Param("int", 1, none=True),
        "beam_width": Param("int", 1),
    }

    def __init__(
        self,
        cell: str = "lstm",
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        optimizer: str = "adam",
        learning_rate: float = 0.005,
        batch_size: int = 32,
        max_epochs: int = 50,
        clip_norm: float | None = 5.0,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
        warm_start: bool = False,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
        dtype: DTypeLike = "float32",
        n_threads: int | None = None,
        source: str = "sequence",
        analyzer: str | Callable[[str], list[str]] = "word",
        target_analyzer: str | Callable[[str], list[str]] = "char",
        embedding_dim: int = 32,
        min_frequency: int = 1,
        max_output_length: int | None = None,
        beam_width: int = 1,
        lr_schedule: str = "constant",
        warmup_epochs: int = 0,
    ) -> None:
        store_hyper_parameters(self, locals())

    # ------------------------------------------------------------ inputs and targets

    def _check_X(self, X, reset):
        if self.source == "sequence":
            return check_sequences(self, X, reset=reset)
        if as_text_input(X) is not None:
            raise TypeError(
                "source='vector' takes a 2-D array (n_samples, n_features) of vectors, got text"
            )
        a = validate_data(self, X, reset=reset, dtype=FLOAT_DTYPES)
        if reset:
            self.input_kind_ = "vectors"
            self.input_size_ = a.shape[1]
        return a.astype(self._float)

    def _target_tokens(self, y):
        texts = as_text_input(y)
        if texts is None:
            if y is not None and len(y) and all(isinstance(t, (list, tuple)) and not t for t in y):
                texts = [[] for _ in y]  # every target empty
            else:
                raise TypeError(
                    "y must be a list of target texts (str) or of token lists (lists of str)"
                )
        return texts, analyze(texts, self.target_analyzer)

    def _prepare_targets(self, y, n, first):
        if y is None:
            raise ValueError("Seq2Seq requires y to be passed, but the target y is None.")
        texts, tokens = self._target_tokens(y)
        if len(tokens) != n:
            raise ValueError(
                f"Found input variables with inconsistent numbers of samples: [{n}, {len(tokens)}]"
            )
        if first:
            self._target_form = (
                "tokens"
                if not isinstance(texts[0], str)
                else ("char" if self.target_analyzer == "char" else "word")
            )
            vocab = sorted({t for seq in tokens for t in seq})
            self.target_vocabulary_ = {t: i + 3 for i, t in enumerate(vocab)}
            self._target_tokens_by_id = [None, None, None] + vocab
            longest = max(len(seq) for seq in tokens)
            self.max_output_length_ = (
                self.max_output_length if self.max_output_length else 2 * longest + 2
            )
        unseen = sorted({t for seq in tokens for t in seq} - set(self.target_vocabulary_))
        if unseen:
            raise ValueError(f"y contains target tokens not seen in the first fit: {unseen[:10]}")
        return encode(tokens, self.target_vocabulary_, allow_empty=True, name="y")

    # ------------------------------------------------------------ model

    def _summary_size(self):
        if self.source == "vector":
            return self.input_size_
        return self.encoder_.output_size

    def _build(self, rng):
        self.embedding_ = self.encoder_ = None
        if self.source == "sequence":
            if self.input_kind_ == "tokens":
                self.embedding_ = self._new_embedding(self.input_size_, rng)
            self.encoder_ = self._new_network(self._net_input_size(), rng)
        S = self._summary_size()
        L, H = self.num_layers, self.hidden_size
        self.bridge_ = self._new_linear(S, L * H, rng)
        self.target_embedding_ = self._new_embedding(len(self.target_vocabulary_) + 3, rng)
        self.decoder_ = self._new_network(self.embedding_dim + S, rng, bidirectional=False)
        self.head_ = self._new_linear(H, len(self.target_vocabulary_) + 3, rng)
        self.optimizer_ = self._new_optimizer()

    def _modules(self):
        return [
            m
            for m in (
                self.embedding_,
                self.encoder_,
                self.bridge_,
                self.target_embedding_,
                self.decoder_,
                self.head_,
            )
            if m is not None
        ]

    def _grad_norm_network(self):
        return self.encoder_ if self.encoder_ is not None else self.decoder_

    def _summary(self, src, training):
        """Source -> summary s (B, S)."""
        if self.source == "vector":
            return src
        x, lengths = src.time_major()
        _, state = self.encoder_.forward(
            self._embed(x, training), lengths=lengths, training=training, outputs=False
        )
        return self._last_layer_state(self.encoder_, state)

    def _initial_state(self, s, training):
        """Decoder initial state from the summary: h0 = tanh(bridge(s)) (L, B, H)."""
        B, L, H = s.shape[0], self.num_layers, self.hidden_size
        h0 = np.tanh(self.bridge_.forward(s, training))
        h0 = np.ascontiguousarray(h0.reshape(B, L, H).transpose(1, 0, 2))
        state = (h0, np.zeros_like(h0)) if self.cell == "lstm" else h0
        return h0, state

    # ------------------------------------------------------------ training

    def _forward_backward(self, batch, rng):
        src, tgt = batch
        ids, tgt_len = tgt.time_major()  # (T, B) target ids, lengths (B,) may be 0
        T, B = ids.shape
        # decoder reads [BOS, y_1 .. y_n] and predicts [y_1 .. y_n, EOS]
        dec_len = tgt_len + 1
        inputs = np.zeros((T + 1, B), np.int64)
        inputs[0] = BOS
        inputs[1:] = ids
        targets = np.zeros((T + 1, B), np.int64)
        targets[:T] = ids
        targets[dec_len - 1, np.arange(B)] = EOS
        mask = np.arange(T + 1)[:, None] < dec_len[None, :]

        s = self._summary(src, True)
        h0, state = self._initial_state(s, True)
        E = self.embedding_dim
        x = np.concatenate(
            [self.target_embedding_.forward(inputs), np.broadcast_to(s, (T + 1,) + s.shape)], axis=2
        )
        out, _ = self.decoder_.forward(x, lengths=dec_len, state=state)
        loss, dlogits = softmax_cross_entropy(self._head_forward(out, rng), targets, mask)

        dx = self.decoder_.backward(self._head_backward(dlogits))
        dh0 = self.decoder_.state_grad[0] if self.cell == "lstm" else self.decoder_.state_grad
        self.target_embedding_.backward(dx[:, :, :E])
        ds = dx[:, :, E:].sum(axis=0)
        dpre = dh0.transpose(1, 0, 2).reshape(B, -1) * (
            1 - h0.transpose(1, 0, 2).reshape(B, -1) ** 2
        )
        ds = ds + self.bridge_.backward(dpre)
        if self.source == "sequence":
            dsrc = self.encoder_.backward(
                None,
                self._last_layer_state_grad(self.encoder_, ds),
                input_grad=self.embedding_ is not None,
            )
            self._unembed(dsrc)
        return loss, int(mask.sum())

    def _validation_score(self, valid):
        src, tgt = valid
        total, count = 0.0, 0
        for start in range(0, len(tgt), _PREDICT_CHUNK):
            idx = np.arange(start, min(start + _PREDICT_CHUNK, len(tgt)))
            loss, n = self._teacher_forced_loss(take_rows(src, idx), tgt.take(idx))
            total += loss * n
            count += n
        return -total / max(count, 1)

    def _teacher_forced(self, src, tgt):
        """Inference with the targets fed in: (logits (T+1, B, V) float64, targets
        (T+1, B) ending in EOS, mask (T+1, B) of the real steps)."""
        ids, tgt_len = tgt.time_major()
        T, B = ids.shape
        dec_len = tgt_len + 1
        inputs = np.concatenate([np.full((1, B), BOS, np.int64), ids])
        targets = np.concatenate([ids, np.zeros((1, B), np.int64)])
        targets[dec_len - 1, np.arange(B)] = EOS
        mask = np.arange(T + 1)[:, None] < dec_len[None, :]
        s = self._summary(src, False)
        _, state = self._initial_state(s, False)
        x = np.concatenate(
            [self.target_embedding_.forward(inputs, False), np.broadcast_to(s, (T + 1,) + s.shape)],
            axis=2,
        )
        out, _ = self.decoder_.forward(x, lengths=dec_len, state=state, training=False)
        return self._logits(out), targets, mask

    def _teacher_forced_loss(self, src, tgt):
        logits, targets, mask = self._teacher_forced(src, tgt)
        loss, _ = softmax_cross_entropy(logits, targets, mask)
        return loss, int(mask.sum())

    def fit(self, X: ArrayLike, y: Sequence[Any]) -> Self:
        """Train on sources ``X`` and target sequences ``y``.

        Parameters
        ----------
        X : sequences (array (n, T, F), (n, T), list of arrays, texts or token lists), or with
            ``source='vector'`` a 2-D array (n, n_features)
        y : list of n target texts (split by ``target_analyzer``) or token lists; a target
            may be empty

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X: ArrayLike, y: Sequence[Any]) -> Self:
        """One pass over (X, y), continuing from the current model. The target vocabulary
        is fixed by the first call: later targets may only use tokens it saw."""
        return self._fit(X, y, incremental=True)

    def _prepare_data(self, X, y, first):
        src = self._check_X(X, reset=first)
        return src, self._prepare_targets(y, len(src), first)

    # ------------------------------------------------------------ decoding

    def _step_logits(self, tokens, s, state):
        """One decoder step for tokens (N,) -> log-probabilities (N, V) float64, new state."""
        x = np.concatenate([self.target_embedding_.forward(tokens, False), s], axis=1)
        out, state = self.decoder_.step(x, state)
        logits = self._logits(out)
        logits[:, [UNK, BOS]] = -np.inf  # never emitted
        return log_softmax(logits), state

    def _greedy(self, s):
        B = s.shape[0]
        _, state = self._initial_state(s, False)
        tokens = np.full(B, BOS, np.int64)
        out = np.zeros((B, self.max_output_length_), np.int64)
        lengths = np.full(B, self.max_output_length_, np.int64)
        done = np.zeros(B, bool)
        for t in range(self.max_output_length_ + 1):
            logp, state = self._step_logits(tokens, s, state)
            tokens = logp.argmax(axis=1)
            ended = ~done & (tokens == EOS)
            lengths[ended] = t
            done |= ended
            if done.all() or t == self.max_output_length_:
                break
            out[:, t] = tokens
        return [out[b, : lengths[b]] for b in range(B)]

    def _beam(self, s, width=None, all_beams=False):
        """Beam search; the best output per row, or with ``all_beams`` every beam as
        (token ids, log-probability) pairs, best first."""
        K, B, M = width or self.beam_width, s.shape[0], self.max_output_length_
        s_k = np.repeat(s, K, axis=0)  # row b*K + k
        _, state = self._initial_state(s_k, False)
        tokens = np.full(B * K, BOS, np.int64)
        scores = np.full((B, K), -np.inf)
        scores[:, 0] = 0.0  # one live beam at the start, so beams do not duplicate
        seqs = np.zeros((B, K, M), np.int64)
        lengths = np.full((B, K), M, np.int64)
        done = np.zeros((B, K), bool)
        for t in range(M + 1):
            logp, state = self._step_logits(tokens, s_k, state)
            V = logp.shape[1]
            logp = logp.reshape(B, K, V)
            # a finished beam only "continues" with EOS at no cost, keeping its score
            logp[done] = -np.inf
            logp[done, EOS] = 0.0
            if t == M:  # out of room: every beam must end here
                keep = logp[:, :, EOS].copy()
                logp[:] = -np.inf
                logp[:, :, EOS] = keep
            cand = (scores[:, :, None] + logp).reshape(B, K * V)
            best = np.argsort(-cand, axis=1, kind="stable")[:, :K]
            parent, token = best // V, best % V
            scores = np.take_along_axis(cand, best, axis=1)
            seqs = np.take_along_axis(seqs, parent[:, :, None], axis=1)
            lengths = np.take_along_axis(lengths, parent, axis=1)
            was_done = np.take_along_axis(done, parent, axis=1)
            ended = ~was_done & (token == EOS)
            lengths[ended] = t
            done = was_done | ended
            live = ~done
            if t < M:
                seqs[:, :, t][live] = token[live]
            rows = (np.arange(B)[:, None] * K + parent).ravel()
            state = tuple(a[:, rows] for a in state) if isinstance(state, tuple) else state[:, rows]
            tokens = token.ravel()
            if done.all():
                break
        if all_beams:
            order = np.argsort(-scores, axis=1, kind="stable")
            return [
                [
                    (seqs[b, k, : lengths[b, k]], float(scores[b, k]))
                    for k in order[b]
                    if np.isfinite(scores[b, k])
                ]
                for b in range(B)
            ]
        top = np.argmax(scores, axis=1)
        return [seqs[b, top[b], : lengths[b, top[b]]] for b in range(B)]

    def _source_summaries(self, X):
        """The sources' summaries (B, S), chunk by chunk (inference)."""
        check_is_fitted(self)
        with threads(self.n_threads):
            src = self._check_X(X, reset=False)
            for start in range(0, len(src), _PREDICT_CHUNK):
                idx = np.arange(start, min(start + _PREDICT_CHUNK, len(src)))
                yield self._summary(take_rows(src, idx), False)

    def _predict_tokens(self, X):
        """Decoded output tokens for each source: a list of lists of tokens."""
        results = []
        for s in self._source_summaries(X):
            ids = self._greedy(s) if self.beam_width == 1 else self._beam(s)
            results.extend([self._target_tokens_by_id[i] for i in seq.tolist()] for seq in ids)
        return results

    def _as_output(self, tokens):
        if self._target_form == "char":
            return "".join(tokens)
        if self._target_form == "word":
            return " ".join(tokens)
        return tokens

    def predict_nbest(self, X: ArrayLike, n: int = 3) -> list[list[tuple[Any, float]]]:
        """The ``n`` best outputs of beam search (width ``max(beam_width, n)``) for each
        source, with their scores: a list (one per source) of up to n ``(output,
        log_probability)`` pairs, best first. The log-probability (natural log) is the
        model's probability of the output including its end, as :meth:`score_samples`."""
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        results = []
        for s in self._source_summaries(X):
            for beams in self._beam(s, width=max(self.beam_width, n), all_beams=True):
                results.append(
                    [
                        (
                            self._as_output([self._target_tokens_by_id[i] for i in ids.tolist()]),
                            score,
                        )
                        for ids, score in beams[:n]
                    ]
                )
        return results

    def score_samples(self, X: ArrayLike, y: Sequence[Any]) -> NDArray[np.float64]:
        """Log-probability (natural log) of each target sequence ``y[i]`` given its source
        ``X[i]``, end included: ndarray (n,). Tokens the model never emits (unknown, start)
        have probability 0 (-inf), as in decoding."""
        check_is_fitted(self)
        with threads(self.n_threads):
            src = self._check_X(X, reset=False)
            tgt = self._prepare_targets(y, len(src), False)
            out = [
                self._target_log_probs(take_rows(src, idx), tgt.take(idx))
                for idx in np.array_split(
                    np.arange(len(src)), max(1, -(-len(src) // _PREDICT_CHUNK))
                )
            ]
        return np.concatenate(out) if out else np.zeros(0)

    def predict_proba(self, X: ArrayLike, y: Sequence[Any] | None = None) -> NDArray[np.float64]:
        """Probability of each target sequence ``y[i]`` given its source: ``exp(score_samples)``,
        ndarray (n,); without ``y``, of the decoded outputs ``predict(X)``."""
        return np.exp(self.score_samples(X, self.predict(X) if y is None else y))

    def _target_log_probs(self, src, tgt):
        """Per-row log-probability (B,) of the targets under teacher forcing."""
        logits, targets, mask = self._teacher_forced(src, tgt)
        logits[..., [UNK, BOS]] = -np.inf
        logp = np.take_along_axis(log_softmax(logits), targets[..., None], axis=-1)[..., 0]
        return np.where(mask, logp, 0.0).sum(axis=0)

    def predict(self, X: ArrayLike) -> list[Any]:
        """Decode an output sequence for each source.

        Returns
        -------
        list of n outputs, each a str (when the targets in ``fit`` were texts: tokens joined
        by '' for ``target_analyzer='char'``, else by ' ') or a list of tokens
        """
        return [self._as_output(t) for t in self._predict_tokens(X)]

    def score(self, X: ArrayLike, y: Sequence[Any]) -> float:
        """Exact-match accuracy: the fraction of outputs equal to their target, token for token."""
        pred = self._predict_tokens(X)
        _, true = self._target_tokens(y)
        if len(true) != len(pred):
            raise ValueError(
                f"Found input variables with inconsistent numbers of samples: "
                f"[{len(pred)}, {len(true)}]"
            )
        return float(np.mean([p == list(t) for p, t in zip(pred, true)]))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = self.source == "sequence"
        tags.target_tags.required = True
        return tags
