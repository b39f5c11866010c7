"""The package's layout rules (../shared/STYLE.md): layers are Keras math only, and the
data path reads one way, ops -> layers -> models -> tflite, with the device side of
keras_wht.tflite free of TensorFlow and of the conversion side."""

import ast
import pathlib
import re

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_wht"


def _imports(path):
    """The modules a file imports (absolute names; relative imports are not used)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


def _files(part):
    return sorted((PACKAGE / part).rglob("*.py"))


def test_layers_hold_no_tflite_term():
    term = re.compile(r"tflite|TFLite|custom.op|igamma|flexbuffer|KerasWht", re.I)
    found = [f"{path.name}:{n}" for path in _files("layers")
             for n, line in enumerate(path.read_text().splitlines(), 1) if term.search(line)]
    assert not found


# Each part may not import the parts after it in the data path.
LATER = {
    "ops": ("keras_wht.layers", "keras_wht.models", "keras_wht.tflite", "keras_wht.training", "keras_wht.bench"),
    "layers": ("keras_wht.models", "keras_wht.tflite", "keras_wht.training", "keras_wht.bench"),
    "models": ("keras_wht.tflite", "keras_wht.training", "keras_wht.bench"),
    "tflite/runtime": ("tensorflow", "keras", "tf_keras", "keras_wht.tflite.conversion", "keras_wht.tflite.verification",
                       "keras_wht.layers", "keras_wht.models", "keras_wht.ops", "keras_wht._keras"),
}


@pytest.mark.parametrize("part", sorted(LATER))
def test_imports_flow_one_way(part):
    files = _files(part)
    assert files
    wrong = {f"{path.relative_to(PACKAGE)} imports {name}" for path in files for name in _imports(path)
             if any(name == later or name.startswith(later + ".") for later in LATER[part])}
    assert not wrong


def test_the_contract_imports_nothing_heavy():
    assert _imports(PACKAGE / "tflite" / "contract.py") <= {"dataclasses", "sys"}
