"""Sequence classification: handwritten digits read row by row by an LSTM.

Each 8x8 image of scikit-learn's digits data set becomes a sequence of 8 steps (the rows) of 8
features (the pixels of a row). The classifier reads the sequence and names the digit.
"""

from sklearn.model_selection import train_test_split

from pyrnn import RNNClassifier
from pyrnn.datasets import load_digits_sequences

X, y = load_digits_sequences()  # X: (1797, 8, 8), y: (1797,)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)

clf = RNNClassifier(
    cell="lstm", hidden_size=64, max_epochs=20, learning_rate=0.01, random_state=0, verbose=1
)
clf.fit(X_train, y_train)

print(f"test accuracy: {clf.score(X_test, y_test):.3f}")
print("first test digits:", clf.predict(X_test[:10]), "true:", y_test[:10])
print("class probabilities of the first:", clf.predict_proba(X_test[:1]).round(3))
