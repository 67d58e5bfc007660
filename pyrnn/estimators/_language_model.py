"""RNNLanguageModel: a character- or word-level language model, trained with truncated BPTT."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
from numpy.typing import DTypeLike, NDArray
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..functional import softmax
from ..losses import softmax_cross_entropy
from ._base import COMMON_PARAMS, TEXT_PARAMS, BaseRNN, Param, store_hyper_parameters
from ._data import UNKNOWN, analyze, as_text_input, fit_vocabulary
from ._threads import threads

EOS = 1  # end of text; it also starts every text. Token ids start at 2 (0 is unknown).
_LN2 = np.log(2.0)

if TYPE_CHECKING:
    from typing_extensions import Self


def _texts(X):
    """X (a str, or a list of texts / token lists) -> list of texts or token lists."""
    if isinstance(X, str):
        return [X]
    if X is not None and hasattr(X, "__len__") and len(X) == 0:
        raise ValueError("X is empty: pass at least one text (a str or a token list)")
    texts = as_text_input(X)
    if texts is None:
        if X is not None and len(X) and all(isinstance(t, (list, tuple)) and not t for t in X):
            return [[] for _ in X]
        raise TypeError(
            "X must be a str, a list of texts (str) or a list of token lists "
            f"(lists of str); got {type(X).__name__}"
        )
    return texts


class RNNLanguageModel(BaseRNN):
    """A recurrent language model: predicts each token from the ones before it, and samples.

    The texts are joined into one token stream, each text preceded by an end-of-text token
    (which also ends the previous text). The stream is cut into ``batch_size`` parallel
    streams read in chunks of ``tbptt`` steps: the hidden state is carried from one chunk to
    the next, the gradient is not (truncated backpropagation through time). Each epoch starts
    the chunks at a random offset.

    Parameters
    ----------
    cell, hidden_size, num_layers, dropout, optimizer, learning_rate, clip_norm,
    early_stopping, validation_fraction, n_iter_no_change, tol, warm_start, random_state,
    verbose, dtype, n_threads, lr_schedule, warmup_epochs :
        As in :class:`RNNClassifier` (defaults: hidden_size=128, learning_rate=0.005,
        n_iter_no_change=10, lr_schedule='constant', warmup_epochs=0; same stopping rule and
        best-epoch restore). There is no ``bidirectional``: a language model reads left to
        right.
    batch_size : int, default=32
        Parallel streams.
    max_epochs : int, default=20
    tbptt : int, default=64
        Steps per chunk of truncated BPTT. Memory: a training step keeps, per layer, about
        (G+3)·T·B·H numbers (G = 1 for rnn, 3 for gru, 4 for lstm; T = tbptt, B = batch_size,
        H = hidden_size), linear in each; more than the machine has free raises
        ``MemoryError`` naming the size up front: lower ``batch_size`` or ``tbptt``.
    analyzer : {'char', 'word'} or callable, default='char'
        Character- or word-level model.
    embedding_dim : int, default=32
    min_frequency : int, default=1
        Tokens seen fewer times in ``fit`` become the unknown token.

    How the defaults were checked: on the shipped text (``load_python_text()``, 131k
    characters; the last 10,000 held out), the defaults learn from the first epoch: the
    training loss falls every epoch, 3.05 -> 1.27 nats per character in the 20 epochs
    (no stall, no early stop), held-out 2.57 bits per character (283 s on one thread of a
    shared 2-core VM, 2026-11-26). More epochs would still lower the loss; 20 keeps a
    default fit within minutes.

    Attributes
    ----------
    vocabulary_ : dict token -> id (ids from 2; 0 unknown, 1 end of text)
    loss_curve_ : list of float
        Mean training cross-entropy per token (nats) of each epoch.
    validation_scores_ : list of float or None
        With early stopping (the last ``validation_fraction`` of the stream held out): the
        ``score`` (minus bits per token) of the held-out part after each epoch.
    gradient_norms_ : list of ndarray (tbptt,)
        Per epoch, mean ||dL/dh_t|| of the first layer at each step of a chunk.
    embedding_, network_, head_, optimizer_ : the trained pieces.

    Examples
    --------
    >>> from pyrnn import RNNLanguageModel
    >>> from pyrnn.datasets import load_python_text
    >>> text = load_python_text(max_chars=3000)
    >>> lm = RNNLanguageModel(max_epochs=1, random_state=0).fit(text)
    >>> len(lm.sample(20, prompt="Beautiful", random_state=0)) <= len("Beautiful") + 20
    True
    """

    _params = {
        **{k: v for k, v in COMMON_PARAMS.items() if k != "bidirectional"},
        **TEXT_PARAMS,
        "tbptt": Param("int", 1),
    }
    _unit = "tok"

    def __init__(
        self,
        cell: str = "lstm",
        hidden_size: int = 128,
        num_layers: int = 1,
        dropout: float = 0.0,
        optimizer: str = "adam",
        learning_rate: float = 0.005,
        batch_size: int = 32,
        max_epochs: int = 20,
        clip_norm: float | None = 5.0,
        tbptt: int = 64,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
        warm_start: bool = False,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
        dtype: DTypeLike = "float32",
        n_threads: int | None = None,
        analyzer: str | Callable[[str], list[str]] = "char",
        embedding_dim: int = 32,
        min_frequency: int = 1,
        lr_schedule: str = "constant",
        warmup_epochs: int = 0,
    ) -> None:
        store_hyper_parameters(self, locals())

    # ------------------------------------------------------------ data

    def _token_lists(self, X):
        return analyze(_texts(X), self.analyzer)

    def _ids(self, tokens):
        return np.array([self.vocabulary_.get(t, UNKNOWN) for t in tokens], dtype=np.int64)

    def _stream(self, token_lists):
        """[EOS, text 1 ..., EOS, text 2 ..., EOS] as one id array."""
        parts = []
        for tokens in token_lists:
            parts.append(np.array([EOS], np.int64))
            parts.append(self._ids(tokens))
        parts.append(np.array([EOS], np.int64))
        return np.concatenate(parts)

    # ------------------------------------------------------------ model

    def _build(self, rng):
        self.embedding_ = self._new_embedding(len(self.vocabulary_) + 2, rng)
        self.network_ = self._new_network(self.embedding_dim, rng, bidirectional=False)
        self.head_ = self._new_linear(self.hidden_size, len(self.vocabulary_) + 2, rng)
        self.optimizer_ = self._new_optimizer()

    def _modules(self):
        return [self.embedding_, self.network_, self.head_]

    def _epoch_size(self, train):
        return len(train[0]) - 1

    def _batches(self, stream_pair, rng):
        """Chunks (x (k, B), y (k, B), first) of B parallel streams, from a random offset."""
        stream = stream_pair[0]
        n = len(stream) - 1  # prediction pairs
        B = max(1, min(self.batch_size, n // 2))
        offset = int(rng.randint(0, min(self.tbptt, max(n // B - 1, 1))))
        per = (n - offset) // B
        if per < 1:
            B, per, offset = 1, n, 0
        base = offset + per * np.arange(B)
        inputs = stream[base[None, :] + np.arange(per)[:, None]]  # (per, B)
        targets = stream[base[None, :] + np.arange(per)[:, None] + 1]
        for start in range(0, per, self.tbptt):
            x = np.ascontiguousarray(inputs[start : start + self.tbptt])
            y = np.ascontiguousarray(targets[start : start + self.tbptt])
            yield x.size, (x, y, start == 0)

    def _forward_backward(self, batch, rng):
        x, y, first = batch
        state = None if first else self._carry
        out, state = self.network_.forward(self.embedding_.forward(x), state=state)
        self._carry = state  # carried to the next chunk as values: no gradient across chunks
        loss, dlogits = softmax_cross_entropy(self._head_forward(out, rng), y)
        self.embedding_.backward(self.network_.backward(self._head_backward(dlogits)))
        return loss, y.size

    def _validation_score(self, valid):
        return -self._bits(valid[0][None, :])

    # ------------------------------------------------------------ fitting

    def fit(self, X: str | Sequence[Any], y: None = None) -> Self:
        """Train on ``X``: one text (str), a list of texts, or a list of token lists.
        ``y`` is ignored. Returns self."""
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X: str | Sequence[Any], y: None = None) -> Self:
        """One pass over ``X``, continuing from the current model (the vocabulary is fixed
        by the first call; new tokens become the unknown token). Returns self."""
        return self._fit(X, y, incremental=True)

    def _fit(self, X, y, incremental):
        try:
            return super()._fit(X, y, incremental)
        finally:
            self._carry = None  # the last chunk's state is not part of the model

    def _prepare_data(self, X, y, first):
        tokens = self._token_lists(X)
        if first:
            self.vocabulary_ = fit_vocabulary(tokens, self.min_frequency, reserved=2)
            if not self.vocabulary_:
                raise ValueError("X holds no tokens to learn from")
        stream = self._stream(tokens)
        if len(stream) < 2:
            raise ValueError("X must hold at least one token")
        return (stream,)

    def _hold_out(self, data, rng):
        """The last ``validation_fraction`` of the token stream."""
        stream = data[0]
        n_valid = int(np.ceil(self.validation_fraction * len(stream)))
        if len(stream) - n_valid < 3 or n_valid < 2:
            raise ValueError(
                f"X has {len(stream)} tokens: too few to hold out "
                f"validation_fraction={self.validation_fraction} of them"
            )
        return (stream[:-n_valid],), (stream[-n_valid:],)

    # ------------------------------------------------------------ scoring and sampling

    def _bits(self, ids):
        """Mean bits per prediction over one long sequence ``ids`` (1, N) predicting ids[:, 1:].

        It goes through in pieces of 4096 steps, the state carried from one to the next.
        """
        total, count = 0.0, 0
        state = None
        for start in range(0, ids.shape[1] - 1, 4096):
            x = np.ascontiguousarray(ids[:, start : start + 4096].T)
            y = np.ascontiguousarray(ids[:, start + 1 : start + 4097].T)
            out, state = self.network_.forward(
                self.embedding_.forward(x[: len(y)], False), state=state, training=False
            )
            loss, _ = softmax_cross_entropy(self._logits(out), y)
            total += loss * y.size
            count += y.size
        return total / max(count, 1) / _LN2

    def score(self, X: str | Sequence[Any], y: None = None) -> float:
        """Minus the cross-entropy in bits per token (higher is better) of the texts ``X``.

        Every token of every text is predicted from the ones before it (the first from the
        start-of-text), and so is each text's end, counted as one more token. For
        ``analyzer='char'`` this is minus the bits-per-character; see also :meth:`perplexity`.
        """
        check_is_fitted(self)
        with threads(self.n_threads):
            seqs = [np.concatenate([[EOS], self._ids(t), [EOS]]) for t in self._token_lists(X)]
            total, count = 0.0, 0
            long = [s for s in seqs if len(s) > 4096]
            for ids in long:
                total += self._bits(ids[None, :]) * (len(ids) - 1)
                count += len(ids) - 1
            short = sorted((s for s in seqs if len(s) <= 4096), key=len)
            for start in range(0, len(short), 64):  # similar lengths batched together
                batch = short[start : start + 64]
                lengths = np.array([len(s) - 1 for s in batch])
                T = int(lengths.max())
                ids = np.zeros((T + 1, len(batch)), np.int64)
                for b, s in enumerate(batch):
                    ids[: len(s), b] = s
                x, y = np.ascontiguousarray(ids[:-1]), ids[1:]
                mask = np.arange(T)[:, None] < lengths[None, :]
                out, _ = self.network_.forward(
                    self.embedding_.forward(x, False), lengths=lengths, training=False
                )
                loss, _ = softmax_cross_entropy(self._logits(out), y, mask)
                total += loss / _LN2 * mask.sum()
                count += int(mask.sum())
        return -total / count

    def score_samples(self, X: str | Sequence[Any]) -> NDArray[np.float64]:
        """Log-probability (natural log) of each text: the sum over its tokens, and its end,
        of log p(token | the tokens before it), the first predicted from the start-of-text
        (as :meth:`score` counts them). ndarray (n_texts,); a texts's bits are
        ``-score_samples / ln 2``."""
        check_is_fitted(self)
        out = []
        with threads(self.n_threads):
            for tokens in self._token_lists(X):
                ids = np.concatenate([[EOS], self._ids(tokens), [EOS]])[None, :]
                out.append(-self._bits(ids) * _LN2 * (ids.shape[1] - 1))
        return np.array(out, dtype=np.float64)

    def perplexity(self, X: str | Sequence[Any]) -> float:
        """Perplexity of the texts ``X``: 2 ** (bits per token), lower is better."""
        return float(2.0 ** -self.score(X))

    def sample(
        self,
        n: int = 200,
        prompt: str | Sequence[str] = "",
        temperature: float = 1.0,
        top_k: int | None = None,
        random_state: int | np.random.RandomState | None = None,
    ) -> str | list[str]:
        """Generate text: continue ``prompt`` with up to ``n`` sampled tokens.

        Parameters
        ----------
        n : int >= 0
            Tokens to generate; generation also stops when the end-of-text token is drawn.
        prompt : str or list of str
            Text to continue (split by ``analyzer``), or a token list; '' starts a new text.
            Tokens not in the vocabulary are read as the unknown token.
        temperature : float >= 0
            Divides the scores before the softmax: < 1 is more conservative, > 1 more
            random; 0 always takes the most probable token.
        top_k : int or None
            Draw only among the ``top_k`` most probable tokens.
        random_state : int, RandomState or None

        Returns
        -------
        str
            The prompt followed by the generated tokens (joined by '' for ``analyzer='char'``,
            by ' ' otherwise); a list of tokens when ``prompt`` is a list.
        """
        check_is_fitted(self)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be an int >= 0, got {n!r}")
        if not (
            isinstance(temperature, (int, float, np.floating))
            and temperature >= 0
            and np.isfinite(temperature)
        ):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
        if top_k is not None and (
            isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1
        ):
            raise ValueError(f"top_k must be None or an int >= 1, got {top_k!r}")
        if isinstance(prompt, str):
            prompt_tokens = analyze([prompt], self.analyzer)[0]
        elif isinstance(prompt, (list, tuple)) and all(isinstance(t, str) for t in prompt):
            prompt_tokens = list(prompt)
        else:
            raise TypeError("prompt must be a str or a list of str tokens")
        rng = check_random_state(random_state)
        id_to_token = {i: t for t, i in self.vocabulary_.items()}
        generated = []
        with threads(self.n_threads):
            ids = np.concatenate([[EOS], self._ids(prompt_tokens)])[:, None]
            out, state = self.network_.forward(self.embedding_.forward(ids, False), training=False)
            h = out[-1]
            for _ in range(n):
                logits = self._logits(h)
                logits[:, UNKNOWN] = -np.inf  # has no surface form
                token = self._draw(logits[0], temperature, top_k, rng)
                if token == EOS:
                    break
                generated.append(id_to_token[token])
                h, state = self.network_.step(
                    self.embedding_.forward(np.array([token]), False), state
                )
        if isinstance(prompt, (list, tuple)):
            return prompt_tokens + generated
        if self.analyzer == "char":
            return prompt + "".join(generated)
        return " ".join(([prompt] if prompt else []) + generated)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # X is text: a str, texts or token lists
        tags.input_tags.string = True
        tags.target_tags.required = False  # unsupervised: y is ignored
        return tags

    @staticmethod
    def _draw(logits, temperature, top_k, rng):
        if top_k is not None and top_k < np.isfinite(logits).sum():
            cut = np.sort(logits)[-top_k]
            logits = np.where(logits >= cut, logits, -np.inf)
        if temperature == 0:
            return int(np.argmax(logits))
        with np.errstate(over="ignore"):  # a tiny temperature: -inf, never inf - inf
            z = (logits - logits.max()) / temperature
        return int(rng.choice(len(logits), p=softmax(z)))
