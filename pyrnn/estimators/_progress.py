"""The per-epoch progress bar of ``verbose`` estimators: tqdm when installed, else plain text."""

import sys
import time


class _TextBar:
    """A plain progress bar on stderr for when tqdm is not installed."""

    def __init__(self, total, desc, unit):
        self.total, self.desc, self.unit = total, desc, unit
        self.done = 0
        self.start = time.perf_counter()
        self.postfix = ""

    def set_postfix_str(self, text):
        self.postfix = text

    def update(self, n):
        self.done += n
        self._draw("\r")

    def _draw(self, end):
        frac = self.done / self.total if self.total else 1.0
        filled = int(round(20 * frac))
        speed = self.done / max(time.perf_counter() - self.start, 1e-9)
        sys.stderr.write(
            f"{end}{self.desc} [{'#' * filled}{'.' * (20 - filled)}] "
            f"{100 * frac:3.0f}% {self.postfix} {speed:,.0f} {self.unit}/s"
        )
        sys.stderr.flush()

    def close(self):
        self._draw("\r")
        sys.stderr.write("\n")
        sys.stderr.flush()


class _NoBar:
    """What a quiet estimator updates: nothing."""

    def set_postfix_str(self, text):
        pass

    def update(self, n):
        pass

    def close(self):
        pass


def progress_bar(total, desc, unit, show=True):
    """A bar over ``total`` units: tqdm when installed, else a plain one; both show loss and
    speed. ``show=False`` gives a bar that draws nothing."""
    if not show:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _TextBar(total, desc, unit)
    return tqdm(total=total, desc=desc, unit=unit, leave=True, file=sys.stderr, dynamic_ncols=True)
