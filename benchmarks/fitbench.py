"""Whole fits: ``pyrnn.RNNClassifier.fit`` vs a plain PyTorch training loop of the same model.

The model and settings are the estimator's: a 1-layer LSTM (``HIDDEN`` units, uni- or
bidirectional) whose final hidden state of the last layer (both directions concatenated) feeds
a linear head; softmax cross-entropy (mean over the batch), Adam (lr 0.005, betas (0.9, 0.999),
eps 1e-8), batches of 32 in a fresh random order each epoch, the global gradient norm clipped
to 5.0 (``clip_norm`` default, same rule as ``torch.nn.utils.clip_grad_norm_``), a fixed number
of epochs, no early stopping, no validation split, float32, 1 thread. The PyTorch loop also
reads each batch's loss (``loss.item()``), as the estimator keeps its loss curve.

Tasks (``TASKS``): ``digits`` is ``pyrnn.datasets.load_digits_sequences`` (1797 images read as
T = 8 rows of 8 pixels, 10 classes); ``long`` is generated here: 256 univariate series of
T = 150 steps, noisy sines whose class is the frequency (2 classes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HIDDEN, LR, BATCH, CLIP = 64, 0.005, 32, 5.0


@dataclass(frozen=True)
class Task:
    name: str
    epochs: int


TASKS = {t.name: t for t in (Task("digits", 2), Task("long", 2))}


def load_task(name):
    """``(X (n, T, F) float32, y (n,) int64)`` of a task."""
    if name == "digits":
        from pyrnn.datasets import load_digits_sequences

        X, y = load_digits_sequences()
        return X.astype(np.float32), y
    rng = np.random.default_rng(0)
    n, T = 256, 150
    y = rng.integers(0, 2, n)
    t = np.arange(T)
    freq = np.where(y == 1, 0.08, 0.05)[:, None]
    X = np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi, (n, 1)))
    X += 0.3 * rng.standard_normal((n, T))
    return X[:, :, None].astype(np.float32), y.astype(np.int64)


def pyrnn_fit(task, bidirectional):
    """A callable fitting a fresh ``RNNClassifier`` on the task; returns its loss curve."""
    from pyrnn import RNNClassifier

    X, y = load_task(task)

    def run():
        est = RNNClassifier(
            cell="lstm",
            hidden_size=HIDDEN,
            bidirectional=bidirectional,
            learning_rate=LR,
            batch_size=BATCH,
            clip_norm=CLIP,
            max_epochs=TASKS[task].epochs,
            early_stopping=False,
            verbose=0,
            n_threads=1,
            random_state=0,
        )
        return est.fit(X, y).loss_curve_

    return run


def torch_fit(task, bidirectional):
    """A callable training the same model with a plain PyTorch loop; returns its loss curve."""
    import torch

    X, y = load_task(task)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    n_classes = int(y.max()) + 1
    D = 2 if bidirectional else 1

    def run():
        torch.manual_seed(0)
        rnn = torch.nn.LSTM(X.shape[2], HIDDEN, batch_first=True, bidirectional=bidirectional)
        head = torch.nn.Linear(D * HIDDEN, n_classes)
        params = list(rnn.parameters()) + list(head.parameters())
        opt = torch.optim.Adam(params, lr=LR, betas=(0.9, 0.999), eps=1e-8)
        loss_fn = torch.nn.CrossEntropyLoss()
        rng = np.random.default_rng(0)
        curve = []
        for _ in range(TASKS[task].epochs):
            order = torch.from_numpy(rng.permutation(len(X)))
            total = 0.0
            for start in range(0, len(X), BATCH):
                idx = order[start : start + BATCH]
                _, (h_n, _) = rnn(Xt[idx])
                loss = loss_fn(head(torch.cat(list(h_n[-D:]), dim=1)), yt[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, CLIP)
                opt.step()
                total += loss.item() * len(idx)
            curve.append(total / len(X))
        return curve

    return run
