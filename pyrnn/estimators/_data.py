"""Input handling shared by the estimators: sequences in, padded arrays + lengths out.

Accepted ``X``:

* a 3-D array ``(n_samples, T, n_features)``;
* a 2-D array ``(n_samples, T)``: univariate sequences, one value per step (the columns are the
  time steps; this is how scikit-learn's own tools see the data, so ``n_features_in_ = T``);
* a list of sequences of different lengths, each ``(L_i, n_features)`` or ``(L_i,)``: padded
  to the longest and length-tracked, nothing truncated;
* text: a list of strings (split by the estimator's ``analyzer``) or a list of token lists
  (lists of strings), encoded with a vocabulary fitted in ``fit``; index 0 is the unknown token.

Everything becomes a :class:`Sequences`: ``values`` ``(n, T_max, F)`` floats or ``(n, T_max)``
token ids, and ``lengths`` ``(n,)``.
"""

from collections import Counter

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

from ._pandas import sequences_from_pandas

FLOAT_DTYPES = (np.float64, np.float32)
UNKNOWN = 0  # token id of every token not in the vocabulary


class Sequences:
    """A batch of padded sequences.

    Attributes
    ----------
    values : ndarray (n, T_max, F) float, or (n, T_max) int64 token ids
        Zero past each sequence's length.
    lengths : ndarray (n,) int64, each in [1, T_max] (or 0 where explicitly allowed)
    """

    __slots__ = ("values", "lengths")

    def __init__(self, values, lengths):
        self.values = values
        self.lengths = lengths

    def __len__(self):
        return len(self.lengths)

    @property
    def is_tokens(self):
        return self.values.ndim == 2

    def take(self, idx):
        """The sub-batch at integer indices ``idx`` (a new Sequences, trimmed to its longest)."""
        lengths = self.lengths[idx]
        t_max = max(int(lengths.max(initial=0)), 1)
        return Sequences(self.values[idx, :t_max], lengths)

    def time_major(self, idx=None):
        """``(x, lengths)`` for the network: x ``(T_b, B, F)`` (or ``(T_b, B)`` ids), C-contiguous.

        ``T_b`` is the longest length among the selected rows, so a batch carries no more
        padding than it needs.
        """
        sub = self if idx is None else self.take(idx)
        t_max = max(int(sub.lengths.max(initial=0)), 1)
        x = np.ascontiguousarray(np.swapaxes(sub.values[:, :t_max], 0, 1))
        return x, sub.lengths


def take_rows(part, idx):
    """Rows ``idx`` of one aligned piece of training data."""
    if isinstance(part, Sequences):
        return part.take(idx)
    if isinstance(part, np.ndarray):
        return part[idx]
    return [part[i] for i in idx]


def pad(arrays, dtype, fill=0):
    """Stack arrays ``(L_i, ...)`` into ``(n, max L_i, ...)``, padding with ``fill``."""
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    t_max = max(int(lengths.max(initial=0)), 1)
    tail = np.shape(arrays[0])[1:] if len(arrays) else ()
    out = np.full((len(arrays), t_max) + tuple(tail), fill, dtype=dtype)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return out, lengths


# ---------------------------------------------------------------- text and tokens


def _is_str_list(X):
    return all(isinstance(x, str) for x in X)


def _is_token_list(x):
    return isinstance(x, (list, tuple)) and all(isinstance(t, str) for t in x)


def as_text_input(X):
    """Return X as a list of texts or of token lists if it is text input, else None.

    Text input is a list/tuple (or 1-D array) whose items are all ``str`` (texts), or whose
    items are all lists/tuples of ``str`` with at least one non-empty (token lists).
    """
    if isinstance(X, str):
        raise TypeError(
            "X must be a list of texts or of token lists, got a single str; "
            "wrap it in a list: [text]"
        )
    if isinstance(X, np.ndarray) and X.ndim == 1 and X.dtype.kind in "OUS":
        items = X.tolist()
    elif isinstance(X, (list, tuple)):
        items = list(X)
    elif (
        hasattr(X, "dtype")
        and hasattr(X, "tolist")
        and np.ndim(X) == 1
        and np.asarray(X).dtype.kind in "OUS"
    ):
        items = X.tolist()  # a pandas Series of strings
    else:
        return None
    if not items:
        return None
    if _is_str_list(items):
        return items
    if all(_is_token_list(x) for x in items) and any(len(x) for x in items):
        return [list(x) for x in items]
    if any(isinstance(x, str) or (_is_token_list(x) and len(x)) for x in items):
        raise TypeError(
            "text input must be all str (texts) or all lists of str (token lists); got a mix"
        )
    return None


def analyze(texts, analyzer):
    """Split each text into tokens: ``'char'`` characters, ``'word'`` whitespace-separated
    words, or a callable ``text -> list of str``. Token lists pass through unchanged."""
    out = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            out.append(list(text))
        elif analyzer == "char":
            out.append(list(text))
        elif analyzer == "word":
            out.append(text.split())
        elif callable(analyzer):
            tokens = list(analyzer(text))
            if not all(isinstance(t, str) for t in tokens):
                raise TypeError(
                    f"analyzer must return a list of str; for X[{i}] it returned "
                    f"{type(tokens[0]).__name__} items"
                )
            out.append(tokens)
        else:
            raise ValueError(f"analyzer must be 'char', 'word' or a callable, got {analyzer!r}")
    return out


def fit_vocabulary(token_lists, min_frequency=1, reserved=1):
    """Map each token seen at least ``min_frequency`` times to an id ``>= reserved``.

    Ids are assigned in sorted token order, so the vocabulary does not depend on the order of
    the samples. Ids below ``reserved`` are for special tokens (0 = unknown).
    """
    counts = Counter(t for tokens in token_lists for t in tokens)
    kept = sorted(t for t, c in counts.items() if c >= min_frequency)
    return {t: i + reserved for i, t in enumerate(kept)}


def encode(token_lists, vocabulary, allow_empty=False, name="X"):
    """Token lists -> :class:`Sequences` of ids (unknown tokens -> 0)."""
    ids = []
    for i, tokens in enumerate(token_lists):
        if not tokens and not allow_empty:
            raise ValueError(
                f"{name}[{i}] is an empty sequence (no tokens); every sequence "
                "needs at least one step"
            )
        ids.append(np.array([vocabulary.get(t, UNKNOWN) for t in tokens], dtype=np.int64))
    values, lengths = (
        pad(ids, np.int64) if ids else (np.zeros((0, 1), np.int64), np.zeros(0, np.int64))
    )
    return Sequences(values, lengths)


# ---------------------------------------------------------------- numeric sequences


def _numeric_kind(X):
    """'tabular' (2-D), 'array' (3-D) or 'ragged' (list of sequences of different shapes)."""
    if sp.issparse(X):
        return "tabular"  # validate_data raises the standard "dense data is required" error
    if isinstance(X, (list, tuple)) or (
        isinstance(X, np.ndarray) and X.dtype == object and X.ndim == 1
    ):
        if len(X) == 0:
            raise ValueError(
                "Found array with 0 sample(s) (shape=(0,)) while a minimum of 1 is required."
            )
        try:
            shapes = {np.shape(x) for x in X}
        except ValueError:  # an item is itself ragged
            raise ValueError(
                "each sequence in X must be a 1-D (L,) or 2-D (L, n_features) array-like"
            ) from None
        if len(shapes) == 1:
            ndim = 1 + len(shapes.pop())
            return "array" if ndim == 3 else "tabular"
        return "ragged"
    ndim = X.ndim if hasattr(X, "ndim") else np.asarray(X).ndim
    return "array" if ndim == 3 else "tabular"


def _check_finite_real(a, name):
    return check_array(
        a, ensure_2d=False, allow_nd=True, dtype=FLOAT_DTYPES, ensure_min_samples=0, input_name=name
    )


def _ragged_sequences(X, dtype):
    seqs = []
    for i, x in enumerate(X):
        a = _check_finite_real(x, f"X[{i}]")
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2:
            raise ValueError(
                f"X[{i}] must be a sequence of shape (L,) or (L, n_features), got shape {a.shape}"
            )
        if a.shape[0] == 0:
            raise ValueError(
                f"X[{i}] is an empty sequence; every sequence needs at least one time step"
            )
        if a.shape[1] == 0:
            raise ValueError(f"X[{i}] has 0 features per step; a minimum of 1 is required")
        if seqs and a.shape[1] != seqs[0].shape[1]:
            raise ValueError(
                f"every sequence in X must have the same number of features per "
                f"step; X[0] has {seqs[0].shape[1]}, X[{i}] has {a.shape[1]}"
            )
        seqs.append(a)
    values, lengths = pad(seqs, dtype)
    return values, lengths


def _array3d(X):
    a = check_array(X, allow_nd=True, dtype=FLOAT_DTYPES, input_name="X")
    if a.ndim != 3:
        raise ValueError(f"expected a 3-D array (n_samples, T, n_features), got shape {a.shape}")
    if a.shape[1] == 0:
        raise ValueError(
            f"Found array with 0 time step(s) (shape={a.shape}) while a minimum of 1 is required."
        )
    if a.shape[2] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={a.shape}) while a minimum of 1 is required."
        )
    return a


def _oriented(a, layout):
    """A 3-D array as (n, T, C) given the estimator's ``layout``; refuses an array whose
    axis order is likely the other one when the layout was not given."""
    if layout == "NCT":
        return np.ascontiguousarray(a.transpose(0, 2, 1))
    if layout is None and a.shape[2] > a.shape[1]:
        raise ValueError(
            f"X has shape {a.shape}: {a.shape[1]} time steps of {a.shape[2]} features, or "
            f"{a.shape[1]} channels of {a.shape[2]} steps as sktime, aeon and tslearn write "
            "them? Say which with layout='NTC' (n_samples, T, n_features) or layout='NCT' "
            "(n_samples, n_channels, T)."
        )
    return a


def _forget_input_attributes(est):
    for name in ("n_features_in_", "feature_names_in_", "vocabulary_"):
        if hasattr(est, name):
            delattr(est, name)


def check_sequences(est, X, *, reset, allow_tokens=True, allow_empty=False):
    """Validate ``X`` for estimator ``est`` and return it as :class:`Sequences`.

    With ``reset=True`` (in ``fit``) this records what the estimator was fitted on:
    ``input_kind_`` ('tabular', 'sequences' or 'tokens'), ``input_size_`` (features per step;
    the vocabulary size + 1 for tokens), ``n_features_in_`` (columns of a 2-D array, features
    per step of a 3-D array or list; not set for text) and ``vocabulary_`` (text). With
    ``reset=False`` it checks ``X`` against them and raises a ValueError on any mismatch.
    The float dtype is ``est.dtype``; token ids are int64.
    """
    if X is None:
        raise ValueError(f"{type(est).__name__} requires X, got None")
    dtype = np.dtype(est.dtype)
    texts = as_text_input(X)
    fitted_kind = None if reset else est.input_kind_

    if texts is not None:
        if not allow_tokens:
            raise TypeError(f"{type(est).__name__} takes numeric sequences, got text")
        if fitted_kind is not None and fitted_kind != "tokens":
            raise ValueError(f"{type(est).__name__} was fitted on numeric sequences, but X is text")
        tokens = analyze(texts, est.analyzer)
        if reset:
            _forget_input_attributes(est)
            est.vocabulary_ = fit_vocabulary(tokens, getattr(est, "min_frequency", 1))
            est.input_kind_ = "tokens"
            est.input_size_ = len(est.vocabulary_) + 1
        return encode(tokens, est.vocabulary_, allow_empty=allow_empty)

    if fitted_kind == "tokens":
        raise ValueError(
            f"{type(est).__name__} was fitted on text (token sequences); X must "
            "be a list of texts or token lists"
        )
    X = sequences_from_pandas(X) or X
    kind = _numeric_kind(X)
    if kind == "tabular":
        if reset or fitted_kind == "tabular":
            if reset:
                _forget_input_attributes(est)
            a = validate_data(est, X, reset=reset, dtype=FLOAT_DTYPES)
        else:
            a = check_array(X, dtype=FLOAT_DTYPES, input_name="X")
            if est.input_size_ != 1:
                raise ValueError(
                    f"X is a 2-D array, read as univariate sequences (one feature per step), "
                    f"but {type(est).__name__} was fitted on {est.input_size_} features per "
                    "step; pass a 3-D array (n_samples, T, n_features) or a list of sequences"
                )
        values = a[:, :, None].astype(dtype)
        lengths = np.full(len(a), a.shape[1], dtype=np.int64)
        n_features = 1
    elif kind == "array":
        # layout is about 3-D arrays; a list holds sequences (L_i, n_features) whatever it is
        layout = "NTC" if isinstance(X, (list, tuple)) else getattr(est, "layout", "NTC")
        a = _oriented(_array3d(X), layout)
        values = a.astype(dtype)
        lengths = np.full(len(a), a.shape[1], dtype=np.int64)
        n_features = a.shape[2]
    else:
        values, lengths = _ragged_sequences(X, dtype)
        n_features = values.shape[2]

    if reset:
        if kind != "tabular":
            _forget_input_attributes(est)
            est.n_features_in_ = n_features
        est.input_kind_ = "tabular" if kind == "tabular" else "sequences"
        est.input_size_ = n_features
    elif n_features != est.input_size_:
        raise ValueError(
            f"X has {n_features} features per time step, but "
            f"{type(est).__name__} is expecting {est.input_size_} features per "
            "time step as input."
        )
    return Sequences(values, lengths)


# ---------------------------------------------------------------- labels


def unique_labels(values):
    """Distinct hashable values, sorted when they can be compared, else in order of appearance.

    Returns a 1-D array (object dtype unless numpy infers a plain one).
    """
    seen = dict.fromkeys(values)
    try:
        labels = sorted(seen)
    except TypeError:
        labels = list(seen)
    out = np.empty(len(labels), dtype=object)
    out[:] = labels
    if labels and all(isinstance(v, (str, np.str_)) for v in labels):
        return np.asarray(labels)
    if labels and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in labels):
        return np.asarray(labels, dtype=np.int64)
    return out


def label_index(classes):
    """dict label -> index for the 1-D array ``classes``."""
    return {c: i for i, c in enumerate(classes.tolist())}


def encode_labels(values, index, name="y"):
    """Map labels to indices with ``index``; unseen labels raise a ValueError naming them."""
    try:
        return np.array([index[v] for v in values], dtype=np.int64)
    except KeyError:
        unseen = [v for v in dict.fromkeys(values) if v not in index]
        raise ValueError(f"{name} contains labels not seen during fit: {unseen[:10]}") from None
    except TypeError as exc:
        raise TypeError(f"{name} must hold hashable labels: {exc}") from None
