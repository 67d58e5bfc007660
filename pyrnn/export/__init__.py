"""Deploy pyrnn models: ONNX export and import, PyTorch import.

``to_onnx(obj)`` writes standard ONNX ``RNN``/``LSTM``/``GRU`` nodes (one per layer, both
directions in one node) for a network or a fitted estimator; ``from_onnx`` and ``from_torch``
bring weights back into a ``pyrnn.RNN``/``LSTM``/``GRU``. Needs ``pip install
"pyrnn-cpu[onnx]"`` (onnx, onnxruntime); nothing here is imported by ``import pyrnn``.
"""

from ._api import from_onnx, from_torch, to_onnx

__all__ = ["to_onnx", "from_onnx", "from_torch"]
