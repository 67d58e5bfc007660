"""Small sequence datasets for the classic recurrent-network problems.

Everything here is generated or read from files already installed (scikit-learn's bundled
digits, the Python standard library's own source): nothing is ever downloaded. Every generator
takes ``random_state`` and returns the same data for the same seed.

=========================  ==========================================  ======================
function                   X                                           y
=========================  ==========================================  ======================
load_digits_sequences      (1797, 8, 8) float: 8 rows of 8 pixels      (1797,) int 0-9
make_waveforms             list of (L_i, 1) float, L_i varies          (n,) str wave name
make_puzzle_moves          list of lists of move names                 lists of tile numbers
make_number_words          list of str "three hundred forty two"       list of str "342"
make_dates                 list of str "march 5, 1994", ...            list of str "1994-03-05"
load_python_text           one str (docstrings of stdlib modules)      --
make_price_series          (n_steps,) float prices                     --
make_forecasting_windows   (n, window, 1) float returns in percent     (n,) float percent
=========================  ==========================================  ======================
"""

from __future__ import annotations

from typing import Sequence

import ast
import codecs
import datetime
import importlib.util

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.utils import check_random_state

__all__ = [
    "load_digits_sequences",
    "make_waveforms",
    "make_puzzle_moves",
    "make_number_words",
    "number_to_words",
    "make_dates",
    "load_python_text",
    "make_price_series",
    "make_forecasting_windows",
]


def _check_positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


# ---------------------------------------------------------------- classification


def load_digits_sequences() -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """scikit-learn's bundled 8x8 handwritten digits, read row by row as sequences.

    Each image becomes a sequence of T = 8 steps (its rows) of 8 features (the pixels of the
    row), scaled to [0, 1]. Read from the copy shipped inside scikit-learn.

    Returns
    -------
    X : ndarray of shape (1797, 8, 8), float64
        ``X[n, t, f]`` is pixel ``f`` of row ``t`` of image ``n``.
    y : ndarray of shape (1797,), int64
        The digit, 0 to 9.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = digits.images.astype(np.float64) / 16.0
    y = digits.target.astype(np.int64)
    return X, y


WAVEFORMS = ("sine", "square", "triangle", "sawtooth")


def _waveform(kind, phase):
    """Unit-amplitude periodic waveform evaluated at ``phase`` measured in periods."""
    frac = phase - np.floor(phase)
    if kind == "sine":
        return np.sin(2.0 * np.pi * phase)
    if kind == "square":
        return np.where(frac < 0.5, 1.0, -1.0)
    if kind == "triangle":
        return 4.0 * np.abs(frac - 0.5) - 1.0
    return 2.0 * frac - 1.0  # sawtooth


def make_waveforms(
    n_samples: int = 600,
    min_length: int = 20,
    max_length: int = 60,
    noise: float = 0.1,
    random_state: int | np.random.RandomState | None = None,
) -> tuple[list[NDArray[np.float64]], NDArray[np.str_]]:
    """Noisy periodic signals of different lengths, labelled by their shape.

    Each sample is one of ``sine``, ``square``, ``triangle``, ``sawtooth`` with a random period
    (8 to 20 steps), phase, amplitude (0.5 to 2) and offset (-1 to 1), plus Gaussian noise of
    standard deviation ``noise``. Classes are balanced (``n_samples // 4`` each, the remainder
    spread over the first classes) and shuffled.

    Returns
    -------
    X : list of n_samples ndarrays, each of shape (L_i, 1), float64
        ``min_length <= L_i <= max_length``.
    y : ndarray of shape (n_samples,), dtype str
        The waveform name.
    """
    n_samples = _check_positive_int(n_samples, "n_samples")
    min_length = _check_positive_int(min_length, "min_length")
    max_length = _check_positive_int(max_length, "max_length")
    if max_length < min_length:
        raise ValueError(f"max_length ({max_length}) must be >= min_length ({min_length})")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = check_random_state(random_state)
    labels = np.array([WAVEFORMS[i % len(WAVEFORMS)] for i in range(n_samples)])
    labels = labels[rng.permutation(n_samples)]
    X = []
    for kind in labels:
        length = rng.randint(min_length, max_length + 1)
        period = rng.uniform(8.0, 20.0)
        phase = rng.uniform(0.0, 1.0) + np.arange(length) / period
        signal = rng.uniform(0.5, 2.0) * _waveform(kind, phase) + rng.uniform(-1.0, 1.0)
        signal = signal + noise * rng.standard_normal(length)
        X.append(signal.reshape(length, 1))
    return X, labels


# ---------------------------------------------------------------- tagging

PUZZLE_MOVES = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}


def make_puzzle_moves(
    n_samples: int = 1000,
    min_moves: int = 5,
    max_moves: int = 15,
    size: int = 4,
    random_state: int | np.random.RandomState | None = None,
) -> tuple[list[list[str]], list[list[int]]]:
    """Random games of the sliding 15-puzzle: tag each move with the tile that moved.

    Every game starts from the solved board (tiles ``1 .. size*size-1`` in reading order, the
    blank in the bottom-right corner) and makes ``min_moves`` to ``max_moves`` random legal
    moves. A move is named by the direction the tile slides into the blank: ``"up"`` means the
    tile just below the blank slides up. The tag of a move is the number on that tile, which a
    model can only know by tracking the board through all the previous moves.

    Returns
    -------
    X : list of n_samples lists of str
        The move names of each game, lengths ``min_moves`` to ``max_moves``.
    y : list of n_samples lists of int
        ``y[n][t]`` is the tile moved at step ``t`` of game ``n`` (1 to size*size-1).
    """
    n_samples = _check_positive_int(n_samples, "n_samples")
    min_moves = _check_positive_int(min_moves, "min_moves")
    max_moves = _check_positive_int(max_moves, "max_moves")
    size = _check_positive_int(size, "size", minimum=2)
    if max_moves < min_moves:
        raise ValueError(f"max_moves ({max_moves}) must be >= min_moves ({min_moves})")
    rng = check_random_state(random_state)
    names = list(PUZZLE_MOVES)
    X, y = [], []
    for _ in range(n_samples):
        board = np.arange(1, size * size + 1).reshape(size, size)
        board[-1, -1] = 0
        row, col = size - 1, size - 1  # the blank
        moves, tiles = [], []
        for _ in range(rng.randint(min_moves, max_moves + 1)):
            # the tile moving "up" sits below the blank, and so on
            legal = [
                m
                for m in names
                if 0 <= row - PUZZLE_MOVES[m][0] < size and 0 <= col - PUZZLE_MOVES[m][1] < size
            ]
            move = legal[rng.randint(len(legal))]
            tile_row, tile_col = row - PUZZLE_MOVES[move][0], col - PUZZLE_MOVES[move][1]
            moves.append(move)
            tiles.append(int(board[tile_row, tile_col]))
            board[row, col] = board[tile_row, tile_col]
            board[tile_row, tile_col] = 0
            row, col = tile_row, tile_col
        X.append(moves)
        y.append(tiles)
    return X, y


# ---------------------------------------------------------------- translation

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _words_below_1000(n):
    words = []
    if n >= 100:
        words += [_ONES[n // 100], "hundred"]
        n %= 100
        if n == 0:
            return words
    if n >= 20:
        words.append(_TENS[n // 10])
        if n % 10:
            words.append(_ONES[n % 10])
    else:
        words.append(_ONES[n])
    return words


def number_to_words(n: int) -> str:
    """Spell out an integer ``0 <= n < 1_000_000`` in English words, without "and".

    >>> number_to_words(342)
    'three hundred forty two'
    >>> number_to_words(120005)
    'one hundred twenty thousand five'
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if not 0 <= n < 1_000_000:
        raise ValueError(f"n must be in [0, 999999], got {n}")
    n = int(n)
    if n < 1000:
        return " ".join(_words_below_1000(n))
    words = _words_below_1000(n // 1000) + ["thousand"]
    if n % 1000:
        words += _words_below_1000(n % 1000)
    return " ".join(words)


def make_number_words(
    n_samples: int = 2000,
    max_value: int = 9999,
    random_state: int | np.random.RandomState | None = None,
) -> tuple[list[str], list[str]]:
    """Numbers spelled out in words, paired with their digits: a small translation task.

    The numbers are drawn *without replacement* from ``0 .. max_value``, so any split of the
    result into train and test sets tests on numbers never seen in training.

    Returns
    -------
    X : list of n_samples str, e.g. ``"three thousand forty two"``
    y : list of n_samples str, e.g. ``"3042"``
    """
    n_samples = _check_positive_int(n_samples, "n_samples")
    max_value = _check_positive_int(max_value, "max_value", minimum=0)
    if max_value >= 1_000_000:
        raise ValueError(f"max_value must be < 1000000, got {max_value}")
    if n_samples > max_value + 1:
        raise ValueError(
            f"n_samples ({n_samples}) cannot exceed the {max_value + 1} distinct "
            f"numbers 0..{max_value}"
        )
    rng = check_random_state(random_state)
    numbers = rng.choice(max_value + 1, size=n_samples, replace=False)
    return [number_to_words(int(v)) for v in numbers], [str(int(v)) for v in numbers]


_MONTHS = (
    "january february march april may june july august september october november december"
).split()
_DAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_DATE_FORMATS = (
    lambda d: f"{_MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{d.day} {_MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{_MONTHS[d.month - 1][:3]} {d.day:02d} {d.year}",
    lambda d: f"{_DAYS[d.weekday()]}, {_MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    lambda d: f"{d.month}/{d.day}/{d.year}",
)


def make_dates(
    n_samples: int = 2000, random_state: int | np.random.RandomState | None = None
) -> tuple[list[str], list[str]]:
    """Dates written in six human formats, paired with their ISO 8601 form.

    Dates are uniform over 1950-01-01 .. 2049-12-31; formats are chosen uniformly among
    ``"march 5, 1994"``, ``"5 march 1994"``, ``"mar 05 1994"``, ``"saturday, march 5, 1994"``,
    ``"05.03.1994"`` (day.month) and ``"3/5/1994"`` (month/day).

    Returns
    -------
    X : list of n_samples str
    y : list of n_samples str, ``"YYYY-MM-DD"``
    """
    n_samples = _check_positive_int(n_samples, "n_samples")
    rng = check_random_state(random_state)
    start = datetime.date(1950, 1, 1).toordinal()
    span = datetime.date(2049, 12, 31).toordinal() - start + 1
    X, y = [], []
    for _ in range(n_samples):
        date = datetime.date.fromordinal(start + rng.randint(span))
        X.append(_DATE_FORMATS[rng.randint(len(_DATE_FORMATS))](date))
        y.append(date.isoformat())
    return X, y


# ---------------------------------------------------------------- text for language models

#: Standard-library modules whose docstrings make up :func:`load_python_text`'s default text.
#: Chosen for long, prose-like docstrings and for being present in every Python >= 3.9.
PYTHON_TEXT_MODULES = (
    "this",
    "heapq",
    "bisect",
    "textwrap",
    "statistics",
    "fractions",
    "shelve",
    "cmd",
    "sched",
    "copy",
    "timeit",
    "fileinput",
    "argparse",
    "configparser",
    "socketserver",
    "difflib",
    "string",
    "random",
)


def _zen_of_python(path):
    """The Zen of Python, decoded from the source of the ``this`` module without importing it."""
    tree = ast.parse(_read(path))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and getattr(node.targets[0], "id", None) == "s"
            and isinstance(node.value, ast.Constant)
        ):
            return codecs.decode(node.value.value, "rot13")
    raise ValueError(f"could not find the Zen of Python in {path}")


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _docstrings(path):
    """All docstrings (module, classes, functions) of a source file, in source order."""
    tree = ast.parse(_read(path))
    nodes = [tree] + [
        node
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    ]
    nodes.sort(key=lambda node: getattr(node, "lineno", 0))
    texts = [ast.get_docstring(node) for node in nodes]
    return [text for text in texts if text]


def load_python_text(
    modules: Sequence[str] = PYTHON_TEXT_MODULES, max_chars: int | None = None
) -> str:
    """English text read from the Python standard library installed with this interpreter.

    The text is the Zen of Python (module ``this``, decoded from its source) followed by every
    docstring of the other ``modules``, in the order given and in source order within a module,
    separated by blank lines. Modules are read from their source files with :mod:`ast`, never
    imported. The result is deterministic for a given Python installation (it changes only
    when the standard library's docstrings do).

    Parameters
    ----------
    modules : sequence of str
        Names of pure-Python standard-library modules (``"this"`` gives the Zen of Python).
    max_chars : int or None
        Keep only the first ``max_chars`` characters.

    Returns
    -------
    text : str
    """
    if isinstance(modules, str):
        raise TypeError("modules must be a sequence of module names, not a str")
    parts = []
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            raise ValueError(f"module {name!r} has no Python source file in this installation")
        if name == "this":
            parts.append(_zen_of_python(spec.origin))
        else:
            parts.extend(_docstrings(spec.origin))
    text = "\n\n".join(parts) + "\n"
    if max_chars is not None:
        text = text[: _check_positive_int(max_chars, "max_chars")]
    return text


# ---------------------------------------------------------------- forecasting


def make_price_series(
    n_steps: int = 3000, random_state: int | np.random.RandomState | None = None
) -> NDArray[np.float64]:
    """A synthetic, positive, price-like series with changing cycles, mean reversion and noise.

    ``log p_t = log 100 + a_t sin(phi_t) + u_t + w_t`` where

    * ``phi_t = phi_{t-1} + 2 pi / P_t``: a cycle whose period ``P_t`` (10, 25 or 50 steps) and
      amplitude ``a_t`` (0.02, 0.04 or 0.08) each switch to a random new value with
      probability 1/150 per step (regimes that a model must recognise from recent data);
    * ``u_t = 0.9 u_{t-1} + N(0, 0.005^2)``: mean-reverting deviations;
    * ``w_t``: a random walk with steps ``N(0, 0.002^2)``: unpredictable drift.

    Part of each future move is predictable from the past (the cycle of the current regime and
    the mean reversion), part is not (the noise, the random walk, regime switches).

    Returns
    -------
    prices : ndarray of shape (n_steps,), float64, all positive
    """
    n_steps = _check_positive_int(n_steps, "n_steps")
    rng = check_random_state(random_state)
    periods, amplitudes = (10.0, 25.0, 50.0), (0.02, 0.04, 0.08)
    switch_period = rng.random_sample(n_steps) < 1.0 / 150
    switch_amplitude = rng.random_sample(n_steps) < 1.0 / 150
    new_period = rng.randint(len(periods), size=n_steps)
    new_amplitude = rng.randint(len(amplitudes), size=n_steps)
    phi = np.empty(n_steps)
    amplitude = np.empty(n_steps)
    phase, p, a = (
        rng.uniform(0.0, 2.0 * np.pi),
        periods[new_period[0]],
        amplitudes[new_amplitude[0]],
    )
    for t in range(n_steps):
        if switch_period[t]:
            p = periods[new_period[t]]
        if switch_amplitude[t]:
            a = amplitudes[new_amplitude[t]]
        phase += 2.0 * np.pi / p
        phi[t], amplitude[t] = phase, a
    shocks = 0.005 * rng.standard_normal(n_steps)
    u = np.empty(n_steps)
    u[0] = shocks[0] / np.sqrt(1.0 - 0.81)
    for t in range(1, n_steps):
        u[t] = 0.9 * u[t - 1] + shocks[t]
    w = np.cumsum(0.002 * rng.standard_normal(n_steps))
    return 100.0 * np.exp(amplitude * np.sin(phi) + u + w)


def make_forecasting_windows(
    prices: ArrayLike, window: int = 40, horizon: int = 5
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Cut a price series into (past returns, future return) pairs for forecasting T+horizon.

    With ``r_t = 100 * (log p_t - log p_{t-1})`` (percent log-returns), sample ``n`` looks at
    the ``window`` returns ending at time ``t = window + n`` and targets the return from ``t``
    to ``t + horizon``: ``100 * (log p_{t+horizon} - log p_t)``. Predicting 0 is the
    "tomorrow looks like today" (persistence) forecast, so R^2 > 0 means beating persistence.
    Samples are in time order: split them chronologically, never shuffled, to test honestly.

    Returns
    -------
    X : ndarray of shape (len(prices) - window - horizon, window, 1), float64
    y : ndarray of shape (len(prices) - window - horizon,), float64
    """
    prices = np.asarray(prices, dtype=np.float64)
    if prices.ndim != 1:
        raise ValueError(f"prices must be 1-D, got shape {prices.shape}")
    if not np.all(np.isfinite(prices)) or np.any(prices <= 0):
        raise ValueError("prices must be finite and positive")
    window = _check_positive_int(window, "window")
    horizon = _check_positive_int(horizon, "horizon")
    n = len(prices) - window - horizon
    if n < 1:
        raise ValueError(
            f"a series of {len(prices)} prices is too short for window={window} "
            f"and horizon={horizon}"
        )
    logp = np.log(prices)
    returns = 100.0 * np.diff(logp)  # returns[s] is the return from s to s + 1
    ends = np.arange(window, window + n)  # t, the last price of each window
    X = np.stack([returns[t - window : t] for t in ends])[:, :, None]
    y = 100.0 * (logp[ends + horizon] - logp[ends])
    return X, y
