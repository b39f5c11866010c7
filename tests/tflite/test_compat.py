"""Each private TensorFlow or Keras interface the conversion uses (conversion/compat.py):
there in the installed versions and doing what the hook needs, and a clear error when not."""

import os
import re
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

from keras_wht._keras import LEGACY, keras
from keras_wht.tflite.conversion import compat

MISSING = r"keras-wht's conversion hook '{}' uses .*, which TensorFlow .* does not have; keras-wht is tested with " \
          r"TensorFlow 2\.21"


def _converter(model):
    return tf.lite.TFLiteConverter.from_keras_model(model)


@pytest.fixture(scope="module")
def dense():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])


def test_every_hook_is_listed_with_its_reason():
    hooks = {name for name in dir(compat) if name in compat.HOOKS}
    assert hooks == set(compat.HOOKS)
    assert all(callable(getattr(compat, name)) and len(why) > 40 for name, why in compat.HOOKS.items())


def test_quantize_after_sees_the_float_model_before_calibration(dense):
    converter = _converter(dense)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([np.ones((1, 4), np.float32)] for _ in range(4))
    seen = []

    def transform(content):
        seen.append(bytes(content))
        return content

    compat.quantize_after(converter, transform)
    content = compat.quietly(converter.convert)
    assert len(seen) == 1 and seen[0][4:8] == b"TFL3" and content[4:8] == b"TFL3"
    assert seen[0] != content  # it saw the model before quantization


def test_quantize_after_missing():
    with pytest.raises(RuntimeError, match=MISSING.format("quantize_after")):
        compat.quantize_after(types.SimpleNamespace(), lambda c: c)


def test_calibrate_with_custom_ops(dense):
    converter = _converter(dense)
    registerers = [lambda address: None]
    compat.calibrate_with_custom_ops(converter, registerers)
    assert converter.target_spec._experimental_custom_op_registerers is registerers
    with pytest.raises(RuntimeError, match=MISSING.format("calibrate_with_custom_ops")):
        compat.calibrate_with_custom_ops(types.SimpleNamespace(target_spec=types.SimpleNamespace()), registerers)


def test_schema_has_the_object_api(dense):
    schema = compat.schema()
    content = compat.quietly(_converter(dense).convert)
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    assert len(model.subgraphs) == 1 and len(model.subgraphs[0].inputs) == 1


def test_schema_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow.lite.python.schema_py_generated", None)
    with pytest.raises(RuntimeError, match=MISSING.format("schema")):
        compat.schema()


def test_functional_class():
    inputs = keras.Input((4,))
    functional = keras.Model(inputs, keras.layers.Dense(2)(inputs))

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    assert isinstance(functional, compat.functional_class())
    assert not isinstance(Subclassed(), compat.functional_class()) or LEGACY  # tf_keras: every Model


def test_input_layer_name():
    named, unnamed = keras.Input((4,), name="bee"), keras.Input((4,))
    assert compat.input_layer_name(named) == "bee"
    assert re.fullmatch(r"input(_layer)?(_\d+)?", compat.input_layer_name(unnamed))  # Keras 3, tf_keras
    assert compat.input_layer_name(np.zeros(3)) is None  # not a Keras tensor
    broken = types.SimpleNamespace(_keras_history=types.SimpleNamespace())
    with pytest.raises(RuntimeError, match=MISSING.format("input_layer_name")):
        compat.input_layer_name(broken)


def test_quiet_native_logs_silences_file_descriptor_2(capfd):
    with compat.quiet_native_logs():
        os.write(2, b"from C++\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_quietly_swallows_stdout(capsys):
    assert compat.quietly(lambda: print("endpoints") or 7) == 7
    assert capsys.readouterr().out == ""


def test_layer_nodes_finds_a_layers_tensors_by_name_scope(dense):
    from keras_wht.tflite.runtime import flatbuffer

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, name="second")(keras.layers.Dense(5, name="first")(inputs)))
    names = flatbuffer.tensor_names(compat.quietly(_converter(model).convert))
    first = compat.layer_nodes(names, ["first"])
    assert first and all("first" in n for n in first) and not any("second" in n for n in first)
    assert compat.layer_nodes(names, []) == []
    with pytest.raises(RuntimeError, match=MISSING.format("layer_nodes")):
        compat.layer_nodes(names, ["third"])


def _calibrated(model):
    """`model` converted with calibrate_only, calibrated on two inputs: all -2, all 3."""
    converter = _converter(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([np.full((1, 4), v, np.float32)] for v in (-2.0, 3.0))
    compat.calibrate_only(converter)
    calibrated = compat.quietly(converter.convert)
    return calibrated


def test_calibrate_only_gives_the_calibrated_float_model_and_quantize_calibrated_quantizes_it(dense):
    from keras_wht.tflite.conversion import rewrite

    calibrated = _calibrated(dense)
    schema = compat.schema()
    graph = schema.ModelT.InitFromPackedBuf(bytearray(calibrated), 0).subgraphs[0]
    assert graph.tensors[int(graph.inputs[0])].type == schema.TensorType.FLOAT32
    assert rewrite.calibrated_ranges(calibrated)[int(graph.inputs[0])] == (-2.0, 3.0)  # what was fed
    quantized = compat.quantize_calibrated(calibrated)
    types = {t.type for t in schema.ModelT.InitFromPackedBuf(bytearray(quantized), 0).subgraphs[0].tensors}
    assert schema.TensorType.INT8 in types


def test_quantize_calibrated_keeps_the_nodes_named_in_float():
    from keras_wht.tflite.runtime import flatbuffer

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, name="second")(keras.layers.Dense(5, name="first")(inputs)))
    calibrated = _calibrated(model)
    schema = compat.schema()

    def output_types(content):
        graph = schema.ModelT.InitFromPackedBuf(bytearray(content), 0).subgraphs[0]
        return [graph.tensors[int(op.outputs[0])].type for op in graph.operators
                if "first" in graph.tensors[int(op.outputs[0])].name.decode()]

    first = compat.layer_nodes(flatbuffer.tensor_names(calibrated), ["first"])
    assert output_types(compat.quantize_calibrated(calibrated)) == [schema.TensorType.INT8]
    assert output_types(compat.quantize_calibrated(calibrated, first)) == [schema.TensorType.FLOAT32]


def test_calibrate_only_and_quantize_calibrated_missing(monkeypatch):
    with pytest.raises(RuntimeError, match=MISSING.format("calibrate_only")):
        compat.calibrate_only(types.SimpleNamespace())
    import importlib

    monkeypatch.setattr(importlib.import_module("tensorflow.lite.python"), "convert", types.ModuleType("convert"))
    with pytest.raises(RuntimeError, match=MISSING.format("quantize_calibrated")):
        compat.quantize_calibrated(b"")
