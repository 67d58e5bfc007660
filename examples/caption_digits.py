"""Vector to sequence: write the name of a handwritten digit from its 64 pixels.

With ``source="vector"`` the decoder is conditioned on a fixed vector (here a flattened 8x8
image) instead of an encoded sequence, as in image captioning.
"""

from sklearn.model_selection import train_test_split

from pyrnn import Seq2Seq
from pyrnn.datasets import load_digits_sequences

X, y = load_digits_sequences()
names = "zero one two three four five six seven eight nine".split()
vectors, words = X.reshape(len(X), 64), [names[d] for d in y]
X_train, X_test, w_train, w_test = train_test_split(vectors, words, test_size=0.25, random_state=0)

model = Seq2Seq(
    source="vector", hidden_size=64, max_epochs=15, learning_rate=0.01, random_state=0, verbose=1
)
model.fit(X_train, w_train)

print(f"exact match: {model.score(X_test, w_test):.3f}")
print(list(zip(w_test[:6], model.predict(X_test[:6]))))
