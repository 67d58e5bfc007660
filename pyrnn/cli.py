"""The ``pyrnn`` command (also ``python -m pyrnn``).

    pyrnn --version            the version
    pyrnn info                 build and runtime configuration of the engine
    pyrnn demo NAME            train a model on a classic sequence problem and show the result

Demos (data generated or shipped with Python / scikit-learn, never downloaded):

    classify    handwritten digits read row by row          RNNClassifier
    tag         the 15-puzzle: which tile did each move move RNNTagger
    translate   "three thousand forty two" -> "3042"         Seq2Seq
    generate    a character model of Python's docstrings     RNNLanguageModel
    forecast    a price-like series, 5 steps ahead           RNNRegressor
"""

import argparse
import sys
import time
from collections import Counter
from typing import Optional, Sequence

import numpy as np

from . import __version__, engine

# The demos import pyrnn.datasets and the estimators (and so scikit-learn, ~1 s) when they
# run, so that `pyrnn info` and `pyrnn --version` start fast.


def _header(title, text):
    print(f"== {title} ==")
    print(text)


def _fit(model, *data):
    start = time.perf_counter()
    model.fit(*data)
    seconds = time.perf_counter() - start
    print(
        f"trained in {seconds:.1f} s ({model.n_iter_} epochs, final loss "
        f"{model.loss_curve_[-1]:.4f})"
    )
    return model


def _common(args, **settings):
    return dict(
        random_state=args.seed, n_threads=args.threads, verbose=0 if args.quiet else 1, **settings
    )


# ---------------------------------------------------------------- the demos


def _ascii_digit(image):
    shades = " .:-=+*#%@"
    return ["".join(shades[min(int(v * 9.99), 9)] * 2 for v in row) for row in image]


def demo_classify(args):
    """Handwritten digits read row by row (RNNClassifier)."""
    from sklearn.model_selection import train_test_split

    from . import datasets
    from .estimators import RNNClassifier

    X, y = datasets.load_digits_sequences()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=args.seed
    )
    if args.quick:
        X_train, y_train = X_train[:400], y_train[:400]
    _header(
        "classify",
        "scikit-learn's 8x8 handwritten digits, each read as a sequence of 8 "
        f"rows of 8 pixels.\nTraining an LSTM on {len(X_train)} digits, testing on "
        f"{len(X_test)} others.",
    )
    clf = RNNClassifier(
        hidden_size=64, max_epochs=4 if args.quick else 20, **_common(args, learning_rate=0.01)
    )
    _fit(clf, X_train, y_train)
    pred = clf.predict(X_test)
    accuracy = float(np.mean(pred == y_test))
    print(f"test accuracy: {accuracy:.3f} on {len(y_test)} unseen digits (chance: 0.100)")
    wrong = np.flatnonzero(pred != y_test)
    shown = list(range(3)) + list(wrong[:1])  # three test digits, and a mistake if any
    rows = [_ascii_digit(X_test[i]) + [f"predicted {pred[i]}, true {y_test[i]}"] for i in shown]
    for line in zip(*rows):
        print("    ".join(part.ljust(22) for part in line))
    return {"accuracy": accuracy}


def demo_tag(args):
    """The 15-puzzle: which tile did each move move (RNNTagger)."""
    from . import datasets
    from .estimators import RNNTagger

    n_games = 600 if args.quick else 3000
    X, y = datasets.make_puzzle_moves(
        n_games + 500, min_moves=5, max_moves=20, random_state=args.seed
    )
    _header(
        "tag",
        "The sliding 15-puzzle: from the solved board, random moves are made; for "
        "each move,\nthe model must say which tile moved, so it has to keep the board in "
        f"its memory.\nTraining an LSTM tagger on {n_games} games of 5-20 moves, testing "
        "on 500 new games.",
    )
    tagger = RNNTagger(
        hidden_size=128, max_epochs=3 if args.quick else 12, **_common(args, learning_rate=0.01)
    )
    _fit(tagger, X[:n_games], y[:n_games])
    X_test, y_test = X[n_games:], y[n_games:]
    accuracy = tagger.score(X_test, y_test)
    table = {}
    for moves, tiles in zip(X[:n_games], y[:n_games]):
        for step, (move, tile) in enumerate(zip(moves, tiles)):
            table.setdefault((move, step), Counter())[tile] += 1
    hits = [
        table.get((m, i), Counter({0: 1})).most_common(1)[0][0] == t
        for moves, tiles in zip(X_test, y_test)
        for i, (m, t) in enumerate(zip(moves, tiles))
    ]
    print(
        f"test accuracy per move: {accuracy:.3f}   (without memory, best guess from the move "
        f"and its step: {np.mean(hits):.3f})"
    )
    game = max(range(len(X_test)), key=lambda i: len(X_test[i]))
    pred = tagger.predict([X_test[game]])[0]
    print("a test game:")
    print("  move      " + " ".join(f"{m[0].upper():>2}" for m in X_test[game]))
    print("  tile      " + " ".join(f"{t:>2}" for t in y_test[game]))
    print("  predicted " + " ".join(f"{t:>2}" for t in pred))
    return {"accuracy": accuracy, "baseline": float(np.mean(hits))}


def demo_translate(args):
    """Number words to digits, "three thousand forty two" -> "3042" (Seq2Seq)."""
    from . import datasets
    from .estimators import Seq2Seq

    n_train = 600 if args.quick else 3000
    X, y = datasets.make_number_words(n_train + 500, max_value=9999, random_state=args.seed)
    _header(
        "translate",
        "Numbers written in English words -> digits, with an encoder-decoder "
        f"(Seq2Seq).\nTraining on {n_train} numbers below 10000, testing on 500 numbers "
        "never seen in training.",
    )
    model = Seq2Seq(
        hidden_size=128, max_epochs=3 if args.quick else 12, **_common(args, learning_rate=0.005)
    )
    _fit(model, X[:n_train], y[:n_train])
    X_test, y_test = X[n_train:], y[n_train:]
    greedy = model.score(X_test, y_test)
    model.set_params(beam_width=4)
    beam = model.score(X_test, y_test)
    print(f"exact match on unseen numbers: greedy {greedy:.3f}, beam search (4) {beam:.3f}")
    examples = X_test[:4] + ["nine thousand nine hundred ninety nine", "seven thousand seven"]
    for source, output in zip(examples, model.predict(examples)):
        print(f"  {source:45s} -> {output}")
    return {"greedy": greedy, "beam": beam}


def demo_generate(args):
    """A character model of Python's docstrings, then samples (RNNLanguageModel)."""
    from . import datasets
    from .estimators import RNNLanguageModel

    text = datasets.load_python_text()
    n_train = 20000 if args.quick else len(text) - 10000
    train, test = text[:n_train], text[-10000:]
    _header(
        "generate",
        f"A character-level LSTM language model of the Zen of Python and the "
        f"docstrings of\n{len(datasets.PYTHON_TEXT_MODULES) - 1} standard-library modules, "
        f"read from this Python's own files.\nTraining on {len(train):,} characters, "
        "testing on the last 10,000.",
    )
    lm = RNNLanguageModel(
        hidden_size=128,
        tbptt=32,
        batch_size=16,
        max_epochs=1 if args.quick else 5,
        **_common(args, learning_rate=0.01),
    )
    _fit(lm, train)
    counts = Counter(train)
    unigram = -np.mean([np.log2(max(counts[c], 1) / len(train)) for c in test])
    bits = -lm.score(test)
    print(
        f"held-out bits per character: {bits:.2f} (perplexity {2**bits:.1f}); "
        f"a model of letter frequencies alone: {unigram:.2f}"
    )
    for temperature in (0.5, 1.0):
        sample = lm.sample(
            240, prompt="Beautiful is", temperature=temperature, random_state=args.seed
        )
        print(f"--- sample, temperature {temperature} ---")
        print(sample)
    return {"bits_per_char": bits, "unigram": unigram}


def demo_forecast(args):
    """A price-like series, the return 5 steps ahead (RNNRegressor)."""
    from sklearn.linear_model import Ridge

    from . import datasets
    from .estimators import RNNRegressor

    prices = datasets.make_price_series(3000 if args.quick else 6000, random_state=args.seed)
    X, y = datasets.make_forecasting_windows(prices, window=40, horizon=5)
    split = int(0.8 * len(X))
    _header(
        "forecast",
        "A synthetic price series (cycles that change period and size, mean "
        "reversion, noise).\nFrom the last 40 returns, predict the return over the next 5 "
        f"steps. Training on the first {split}\nwindows, testing on the last "
        f"{len(X) - split} (later in time).",
    )
    reg = RNNRegressor(
        hidden_size=64, max_epochs=5 if args.quick else 15, **_common(args, learning_rate=0.005)
    )
    _fit(reg, X[:split], y[:split])
    r2 = reg.score(X[split:], y[split:])
    linear = Ridge().fit(X[:split, :, 0], y[:split]).score(X[split:, :, 0], y[split:])
    persistence = 1 - np.sum(y[split:] ** 2) / np.sum((y[split:] - y[split:].mean()) ** 2)
    print(
        f"test R^2 of the 5-step return: LSTM {r2:.3f}, linear model {linear:.3f}, "
        f"persistence (no change) {persistence:.3f}"
    )
    pred = reg.predict(X[-5:])
    t0 = len(prices) - 5 - 5
    for i in range(5):
        t = t0 + i
        print(
            f"  step {t}: price {prices[t]:7.2f}, 5 steps later {prices[t + 5]:7.2f} "
            f"(actual {y[-5 + i]:+5.2f}%, predicted {pred[i]:+5.2f}%)"
        )
    return {"r2": r2, "linear": linear, "persistence": persistence}


DEMOS = {
    "classify": demo_classify,
    "tag": demo_tag,
    "translate": demo_translate,
    "generate": demo_generate,
    "forecast": demo_forecast,
}


def _int_in(name, lo, hi):
    """An argparse type: an int in [lo, hi], or a usage error that says so."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{name} must be between {lo} and {hi}, got {value}")
        return value

    return parse


BENCH_SHAPES = {
    "small-latency": (50, 1, 64, 128),
    "medium": (100, 64, 128, 256),
    "large": (100, 64, 256, 512),
    "bidir": (200, 32, 64, 128),
}


def _shape(text):
    try:
        dims = tuple(int(v) for v in text.split(","))
    except ValueError:
        dims = ()
    if len(dims) != 4 or min(dims) < 1:
        raise argparse.ArgumentTypeError(
            f"expected T,B,I,H as four positive integers, got {text!r}"
        )
    return dims


def _show_plans(cell, shapes):
    n = engine.get_num_threads()
    print(
        f"  plans ({cell}, float32, given {n} thread{'s' if n > 1 else ''}, under the load above):"
    )
    for T, B, I, H in shapes:
        p = engine.plan(cell, T, B, I, H, num_threads=n)
        print(
            f"    T={T} B={B} I={I} H={H}: forward {p['forward']['split']} "
            f"({p['forward']['threads']}), backward {p['backward']['split']} "
            f"({p['backward']['threads']})"
            + ("; directions at once, one thread each" if p["group_layers"] else "")
            + (
                "; a stack as a wavefront, forward and backward"
                if p["chain_layers"]
                else "; a stack as a wavefront, backward"
                if p["group_layers"]
                else ""
            )
        )


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``pyrnn`` command with ``argv`` (default: the process arguments).

    Returns the exit status (0 on success).
    """
    parser = argparse.ArgumentParser(
        prog="pyrnn",
        description="Fast recurrent neural networks on the CPU.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="demos:\n"
        + "\n".join(f"  {name:10s} {fn.__doc__ or ''}" for name, fn in DEMOS.items()),
    )
    parser.add_argument("--version", action="version", version=f"pyrnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser(
        "info",
        help="show the engine's build and runtime configuration "
        "and how it would run a layer of a given shape",
    )
    info.add_argument(
        "--cell",
        choices=["rnn", "lstm", "gru"],
        default="lstm",
        help="cell of the planned layer (default lstm)",
    )
    info.add_argument(
        "--shape",
        metavar="T,B,I,H",
        type=_shape,
        action="append",
        help="plan a layer of this shape (repeatable; default: the benchmark configurations)",
    )
    demo = commands.add_parser("demo", help="train a model on a classic problem and show it")
    demo.add_argument("name", choices=list(DEMOS), help="which demo")
    demo.add_argument("--quick", action="store_true", help="a smaller, faster run")
    demo.add_argument(
        "--seed",
        type=_int_in("--seed", 0, 2**32 - 1),
        default=0,
        help="random seed, 0 to 2**32-1 (default 0)",
    )
    demo.add_argument(
        "--threads",
        type=_int_in("--threads", 1, engine.max_threads()),
        default=1,
        help="engine threads (default 1: the demo models are small, and extra "
        "threads only pay off on idle cores)",
    )
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.command == "info":
        engine.show_config()
        _show_plans(args.cell, args.shape or list(BENCH_SHAPES.values()))
        return 0
    start = time.perf_counter()
    DEMOS[args.name](args)
    print(f"(demo took {time.perf_counter() - start:.1f} s)")
    sys.stdout.flush()
    return 0
