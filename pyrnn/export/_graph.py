"""A small ONNX graph builder over ``onnx.helper``: unique names, constants, one call per op.

Every graph pyrnn writes is built with it, at opset 17 / IR version 8 (read by every
ONNX Runtime since 1.14 and by ``onnx.checker``).
"""

import numpy as np

OPSET = 17
IR_VERSION = 8


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError(
            "ONNX export needs the 'onnx' package: pip install \"pyrnn-cpu[onnx]\""
        ) from None
    return onnx


class Graph:
    """Nodes, initializers, inputs and outputs of one ONNX graph under construction."""

    def __init__(self, name):
        self.onnx = _onnx()
        self.name = name
        self.nodes, self.initializers, self.inputs, self.outputs = [], [], [], []
        self._count = 0

    def fresh(self, hint):
        """A new unique value name."""
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, array, hint="const"):
        """An initializer holding ``array``; returns its name."""
        name = self.fresh(hint)
        array = np.asarray(array)
        if array.dtype.kind in "UO":
            tensor = self.onnx.helper.make_tensor(
                name,
                self.onnx.TensorProto.STRING,
                array.shape,
                [str(v).encode("utf-8") for v in array.ravel()],
            )
        else:
            tensor = self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), name)
        self.initializers.append(tensor)
        return name

    def ints(self, values, hint="axes"):
        return self.const(np.asarray(values, np.int64), hint)

    def op(self, op_type, inputs, outputs=1, name=None, **attrs):
        """Add one node; ``outputs`` is a count (fresh names) or a list of names.
        Returns the output name (one output) or the list of names."""
        if isinstance(outputs, int):
            outputs = [
                name if (name and outputs == 1) else self.fresh(op_type.lower())
                for _ in range(outputs)
            ]
        self.nodes.append(
            self.onnx.helper.make_node(
                op_type, list(inputs), list(outputs), name=self.fresh("n_" + op_type), **attrs
            )
        )
        return outputs[0] if len(outputs) == 1 else outputs

    def input(self, name, elem, shape):
        """Declare a graph input; ``elem`` is a numpy dtype, ``shape`` ints or dim names."""
        self.inputs.append(self._value_info(name, elem, shape))
        return name

    def output(self, value, name, elem, shape):
        """Expose ``value`` as the graph output ``name`` (an Identity renames it)."""
        if value != name:
            self.op("Identity", [value], [name])
        self.outputs.append(self._value_info(name, elem, shape))

    def _value_info(self, name, elem, shape):
        elem_type = (
            self.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(elem))
            if np.dtype(elem).kind not in "UO"
            else self.onnx.TensorProto.STRING
        )
        return self.onnx.helper.make_tensor_value_info(name, elem_type, list(shape))

    def model(self, doc="", metadata=None):
        """The finished ``onnx.ModelProto`` (producer pyrnn, opset 17, IR version 8)."""
        from .. import __version__

        helper = self.onnx.helper
        graph = helper.make_graph(
            self.nodes, self.name, self.inputs, self.outputs, self.initializers, doc_string=doc
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="pyrnn",
            producer_version=__version__,
            ir_version=IR_VERSION,
        )
        for key, value in (metadata or {}).items():
            model.metadata_props.add(key=key, value=value)
        return model
