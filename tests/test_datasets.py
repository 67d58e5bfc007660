"""pyrnn.datasets: documented shapes, determinism, and that each task is what it says."""

import numpy as np
import pytest

from pyrnn import datasets


def test_digits_sequences_are_image_rows():
    from sklearn.datasets import load_digits

    X, y = datasets.load_digits_sequences()
    assert X.shape == (1797, 8, 8) and y.shape == (1797,)
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(X[5] * 16, load_digits().images[5])
    assert set(y) == set(range(10))


def test_waveforms_variable_lengths_balanced_and_seeded():
    X, y = datasets.make_waveforms(40, min_length=5, max_length=9, random_state=3)
    assert len(X) == 40 and y.shape == (40,)
    lengths = {len(x) for x in X}
    assert lengths <= set(range(5, 10)) and len(lengths) > 1
    assert all(x.shape[1] == 1 for x in X)
    assert {k: int(np.sum(y == k)) for k in datasets.WAVEFORMS} == {
        k: 10 for k in datasets.WAVEFORMS
    }
    X2, y2 = datasets.make_waveforms(40, min_length=5, max_length=9, random_state=3)
    np.testing.assert_array_equal(y, y2)
    for a, b in zip(X, X2):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="max_length"):
        datasets.make_waveforms(10, min_length=5, max_length=4)


def test_waveform_shapes_without_noise():
    # a noiseless square wave takes two values, a sawtooth rises steadily between jumps
    rng = np.random.RandomState(0)
    phase = np.arange(300) / 100.0  # three periods, from 0 to 2.99
    assert len(np.unique(datasets._waveform("square", phase))) == 2
    saw = datasets._waveform("sawtooth", phase)
    assert np.sum(np.diff(saw) < 0) == 2  # drops once per period boundary crossed
    tri = datasets._waveform("triangle", rng.uniform(0, 5, 100))
    assert tri.min() >= -1 and tri.max() <= 1


def _replay(moves, size=4):
    """Independent replay of a puzzle game: the tile that moves into the blank each step."""
    board = {(r, c): r * size + c + 1 for r in range(size) for c in range(size)}
    blank = (size - 1, size - 1)
    board[blank] = 0
    tiles = []
    for m in moves:
        dr, dc = {"up": (1, 0), "down": (-1, 0), "left": (0, 1), "right": (0, -1)}[m]
        src = (blank[0] + dr, blank[1] + dc)  # "up": the tile below the blank moves up
        assert src in board, "illegal move generated"
        tiles.append(board[src])
        board[blank], board[src] = board[src], 0
        blank = src
    return tiles


def test_puzzle_tags_are_the_tiles_that_moved():
    X, y = datasets.make_puzzle_moves(50, min_moves=3, max_moves=12, random_state=0)
    assert len(X) == len(y) == 50
    for moves, tiles in zip(X, y):
        assert 3 <= len(moves) <= 12 and len(tiles) == len(moves)
        assert tiles == _replay(moves)
    assert datasets.make_puzzle_moves(5, random_state=1) == datasets.make_puzzle_moves(
        5, random_state=1
    )


@pytest.mark.parametrize(
    "n, words",
    [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (40, "forty"),
        (42, "forty two"),
        (100, "one hundred"),
        (342, "three hundred forty two"),
        (1000, "one thousand"),
        (1005, "one thousand five"),
        (120005, "one hundred twenty thousand five"),
        (999999, "nine hundred ninety nine thousand nine hundred ninety nine"),
    ],
)
def test_number_to_words(n, words):
    assert datasets.number_to_words(n) == words


def test_number_to_words_rejects_bad_input():
    with pytest.raises(ValueError):
        datasets.number_to_words(1_000_000)
    with pytest.raises(TypeError):
        datasets.number_to_words(3.0)


def test_number_words_distinct_and_consistent():
    X, y = datasets.make_number_words(500, max_value=999, random_state=0)
    assert len(set(y)) == 500  # drawn without replacement
    assert all(datasets.number_to_words(int(d)) == w for w, d in zip(X, y))
    with pytest.raises(ValueError, match="cannot exceed"):
        datasets.make_number_words(11, max_value=9)


def test_dates_parse_back():
    import datetime

    X, y = datasets.make_dates(200, random_state=0)
    months = datasets._MONTHS
    for text, iso in zip(X, y):
        date = datetime.date.fromisoformat(iso)
        assert str(date.year) in text
        if "/" in text:
            assert text == f"{date.month}/{date.day}/{date.year}"
        elif "." in text:
            assert text == f"{date.day:02d}.{date.month:02d}.{date.year}"
        else:
            assert months[date.month - 1][:3] in text


def test_python_text_is_deterministic_and_from_the_stdlib():
    text = datasets.load_python_text()
    assert text.startswith("The Zen of Python, by Tim Peters\n\nBeautiful is better than ugly.")
    assert len(text) > 50_000
    assert text == datasets.load_python_text()
    import heapq

    assert heapq.__doc__.strip()[:40] in text
    assert datasets.load_python_text(max_chars=100) == text[:100]
    with pytest.raises(ValueError, match="no Python source"):
        datasets.load_python_text(["sys"])  # built in, no source file
    with pytest.raises(TypeError):
        datasets.load_python_text("this")


def test_price_series_and_windows():
    p = datasets.make_price_series(500, random_state=0)
    assert p.shape == (500,) and np.all(p > 0)
    np.testing.assert_array_equal(p, datasets.make_price_series(500, random_state=0))
    X, y = datasets.make_forecasting_windows(p, window=20, horizon=5)
    assert X.shape == (475, 20, 1) and y.shape == (475,)
    r = 100 * np.diff(np.log(p))
    # sample n: the 20 returns ending at price t = 20 + n, target the return t -> t + 5
    n = 7
    t = 20 + n
    np.testing.assert_allclose(X[n, :, 0], r[t - 20 : t])
    np.testing.assert_allclose(y[n], 100 * np.log(p[t + 5] / p[t]))
    # the future return is partly predictable from the past ones (the cycles and the mean
    # reversion), and partly not (the noise): a linear model on the window gets in between
    from sklearn.linear_model import Ridge

    X, y = datasets.make_forecasting_windows(datasets.make_price_series(2000, random_state=1))
    r2 = Ridge().fit(X[:1500, :, 0], y[:1500]).score(X[1500:, :, 0], y[1500:])
    assert 0.3 < r2 < 0.99
    with pytest.raises(ValueError, match="too short"):
        datasets.make_forecasting_windows(p[:10], window=8, horizon=5)
    with pytest.raises(ValueError, match="positive"):
        datasets.make_forecasting_windows(-p)
