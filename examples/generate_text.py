"""Text generation: a character-level language model of Python's own docstrings.

The text (the Zen of Python and the docstrings of some standard-library modules) is read from
this Python installation, nothing is downloaded. The model is trained with truncated
backpropagation through time, scored in bits per character, then sampled.
"""

from pyrnn import RNNLanguageModel
from pyrnn.datasets import load_python_text

text = load_python_text()
train, test = text[:-10000], text[-10000:]

lm = RNNLanguageModel(
    analyzer="char",
    hidden_size=128,
    tbptt=32,
    batch_size=16,
    max_epochs=5,
    learning_rate=0.01,
    random_state=0,
    verbose=1,
)
lm.fit(train)

print(f"held-out bits per character: {-lm.score(test):.2f}, perplexity {lm.perplexity(test):.1f}")
for temperature in (0.3, 0.7, 1.0):
    print(f"--- temperature {temperature} ---")
    print(lm.sample(200, prompt="Beautiful is", temperature=temperature, random_state=0))
print("--- top 3 tokens only ---")
print(lm.sample(200, prompt="Return the", top_k=3, random_state=0))
