"""The public API keeps its type hints: every public function, and every public method of a
public class (inherited ones from pyrnn's own base classes included), annotates each of its
parameters and its return value (``__init__`` may leave out ``-> None``).

Public means: what ``pyrnn.__all__`` names, and the ``__all__`` (else the names without a
leading underscore) of the modules below. Only what pyrnn defines is checked, not what a
module re-exports from scikit-learn or numpy. Annotations are read, never evaluated.
"""

import importlib
import inspect
import os
import types

import pytest

import pyrnn

MODULES = [
    "pyrnn",
    "pyrnn.engine",
    "pyrnn.network",
    "pyrnn.init",
    "pyrnn.losses",
    "pyrnn.optim",
    "pyrnn.heads",
    "pyrnn.clip",
    "pyrnn.train",
    "pyrnn.functional",
    "pyrnn.parameters",
    "pyrnn.serialization",
    "pyrnn.estimators",
    "pyrnn.callbacks",
    "pyrnn.datasets",
    "pyrnn.plotting",
    "pyrnn.preprocessing",
    "pyrnn.forecasting",
    "pyrnn.conv",
    "pyrnn.export",
    "pyrnn.export.decode",
    "pyrnn.dask",
]
OPTIONAL = {"pyrnn.dask": "distributed"}  # modules that import an optional package


def _public_names(module):
    names = getattr(module, "__all__", None)
    return list(names) if names is not None else [n for n in dir(module) if not n[0] == "_"]


def _own(obj):
    return str(getattr(obj, "__module__", "")).startswith("pyrnn")


def _methods(cls):
    """(qualified name, function) of the public methods of cls and of its pyrnn bases."""
    for klass in cls.__mro__:
        if not _own(klass):
            continue
        for name, attr in vars(klass).items():
            if name.startswith("_") and name != "__init__":
                continue
            if isinstance(attr, (staticmethod, classmethod)):
                attr = attr.__func__
            elif isinstance(attr, property):
                attr = attr.fget
            if inspect.isfunction(attr):
                yield f"{klass.__module__}.{klass.__qualname__}.{name}", attr


def public_callables(module):
    """(qualified name, function) of every public function and method the module offers."""
    for name in _public_names(module):
        obj = getattr(module, name)
        if isinstance(obj, types.ModuleType) or not _own(obj):
            continue
        if inspect.isclass(obj):
            yield from _methods(obj)
        elif inspect.isfunction(obj):
            yield f"{obj.__module__}.{obj.__qualname__}", obj


def missing_annotations(qualname, fn):
    """What of fn's signature has no annotation: parameter names, and '->' for the return."""
    sig = inspect.signature(fn)
    missing = [
        p.name
        for p in sig.parameters.values()
        if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty
    ]
    if sig.return_annotation is inspect.Signature.empty and not qualname.endswith(".__init__"):
        missing.append("->")
    return missing


@pytest.mark.parametrize("module_name", MODULES)
def test_public_api_is_annotated(module_name):
    if module_name in OPTIONAL:
        pytest.importorskip(OPTIONAL[module_name])
    module = importlib.import_module(module_name)
    found = dict(public_callables(module))
    assert found, f"{module_name}: no public function or method found"
    missing = {q: m for q, fn in found.items() if (m := missing_annotations(q, fn))}
    assert not missing, "public API without type hints: " + "; ".join(
        f"{q} {m}" for q, m in sorted(missing.items())
    )


def test_the_check_sees_an_unannotated_function():
    def f(x, y: int = 0):
        return x

    def g(x: int) -> int:
        return x

    assert missing_annotations("m.f", f) == ["x", "->"]
    assert missing_annotations("m.g", g) == []
    names = dict(public_callables(pyrnn))
    assert "pyrnn.network.LSTM.__init__" in names  # methods of __all__'s classes are walked
    assert "pyrnn.network._RecurrentNetwork.backward" in names  # and those of their bases
    assert "pyrnn.estimators._sequence._ClassWeighted.partial_fit" in names


def test_core_stub_lists_every_function_of_the_extension():
    """pyrnn/_core.pyi (what type checkers see of the compiled module) names every public
    function and class of ``pyrnn._core``, and nothing it does not have."""
    import ast

    from pyrnn import _core

    stub = os.path.join(os.path.dirname(pyrnn.__file__), "_core.pyi")
    with open(stub) as f:
        tree = ast.parse(f.read())
    in_stub = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    in_core = {n for n in dir(_core) if not n.startswith("_")}
    assert in_stub == in_core
