"""Sequence to sequence: numbers in English words -> digits, with an encoder-decoder.

The encoder reads the words ("three thousand forty two"), the decoder writes the digits one
character at a time ("3042"). Training uses teacher forcing; prediction decodes greedily or
with beam search. The test numbers never appear in training.
"""

from pyrnn import Seq2Seq
from pyrnn.datasets import make_number_words

X, y = make_number_words(3500, max_value=9999, random_state=0)
X_train, y_train, X_test, y_test = X[:3000], y[:3000], X[3000:], y[3000:]

model = Seq2Seq(
    hidden_size=128,
    max_epochs=12,
    analyzer="word",
    target_analyzer="char",
    random_state=0,
    verbose=1,
)
model.fit(X_train, y_train)

print(f"exact match, greedy: {model.score(X_test, y_test):.3f}")
model.set_params(beam_width=4)
print(f"exact match, beam search of 4: {model.score(X_test, y_test):.3f}")
for words, digits in zip(X_test[:5], model.predict(X_test[:5])):
    print(f"{words!r} -> {digits!r}")
