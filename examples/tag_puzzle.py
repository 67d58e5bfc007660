"""Sequence tagging: for each move of a 15-puzzle game, which tile moved?

Games start from the solved board; a move is named by the direction a tile slides into the
blank ("up", "down", "left", "right"). The tile that moves depends on the whole history of the
game, so the tagger must track the board in its hidden state.
"""

from pyrnn import RNNTagger
from pyrnn.datasets import make_puzzle_moves

X, y = make_puzzle_moves(3500, min_moves=5, max_moves=20, random_state=0)
X_train, y_train, X_test, y_test = X[:3000], y[:3000], X[3000:], y[3000:]
print("a game:", X_train[0])
print("tiles: ", y_train[0])

tagger = RNNTagger(hidden_size=128, max_epochs=12, learning_rate=0.01, random_state=0, verbose=1)
tagger.fit(X_train, y_train)  # lists of token lists in, lists of labels out

print(f"per-move test accuracy: {tagger.score(X_test, y_test):.3f}")
print("moves:    ", X_test[0])
print("true:     ", y_test[0])
print("predicted:", tagger.predict(X_test[:1])[0].tolist())
