import numpy as np
import pytest

from keras_wht import tflite
from keras_wht._keras import keras
from keras_wht.layers import WHT2D


@pytest.fixture(scope="module")
def content():
    return tflite.convert(keras.Sequential([keras.Input((8, 8, 2)), WHT2D()]))


@pytest.mark.parametrize("runtime", tflite.runtimes())
def test_the_tf_lite_interface_passes_through(content, runtime, rng):
    it = tflite.Interpreter(model_content=content, num_threads=1, runtime=runtime)
    assert it.runtime == runtime
    x = rng.standard_normal((1, 8, 8, 2)).astype(np.float32)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    raw = it.get_tensor(it.get_output_details()[0]["index"])
    np.testing.assert_array_equal(it.predict(x, progress=False), raw)


def test_predict_in_batches_with_a_ragged_end(content, rng):
    it = tflite.Interpreter(model_content=content)
    x = rng.standard_normal((10, 8, 8, 2)).astype(np.float32)
    whole = it.predict(x, batch_size=10, progress=False)
    np.testing.assert_allclose(it.predict(x, batch_size=4, progress=True), whole, atol=1e-6)


def test_model_path(content, tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(content)
    assert tflite.Interpreter(model_path=path).get_input_details()[0]["shape"].tolist() == [1, 8, 8, 2]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(), ValueError, "Interpreter needs exactly one of `model_path` and `model_content`"),
        (dict(model_path="/no/such.tflite"), FileNotFoundError, "`model_path` '/no/such.tflite' does not exist"),
        (dict(model_content=b"not a model at all"), ValueError, "`model_content` must be the bytes of a TFLite model"),
        (dict(num_threads=0), ValueError, "`num_threads` must be a positive integer or None, got 0"),
        (dict(runtime="onnx"), ValueError, "`runtime` must be None or one of ai_edge_litert, tensorflow, tflite_runtime, got 'onnx'"),
    ],
)
def test_errors(kwargs, error, message, content):
    if "num_threads" in kwargs or "runtime" in kwargs:
        kwargs = {"model_content": content, **kwargs}
    with pytest.raises(error) as info:
        tflite.Interpreter(**kwargs)
    assert message in str(info.value)


def test_a_file_that_is_not_tflite(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"PK\x03\x04 a zip, not a flatbuffer")
    with pytest.raises(ValueError, match="is not a TFLite model"):
        tflite.Interpreter(model_path=path)


def test_no_runtime_installed(monkeypatch):
    from keras_wht.tflite.runtime import runtimes as runtime

    monkeypatch.setattr(runtime, "available", lambda: [])
    with pytest.raises(ImportError, match="No TFLite runtime is installed: pip install ai-edge-litert"):
        runtime.interpreter_class()


def test_runtime_versions(monkeypatch):
    import importlib.metadata

    from keras_wht.tflite.runtime import runtimes

    assert runtimes.version("ai_edge_litert") == importlib.metadata.version("ai-edge-litert")
    assert runtimes.version("tensorflow") == importlib.metadata.version("tensorflow")
    monkeypatch.setattr(runtimes, "available", lambda: ["ai_edge_litert"])
    assert runtimes.version("tensorflow") is None
    with pytest.raises(ValueError, match="`name` must be one of ai_edge_litert, tensorflow, tflite_runtime, got 'litert'"):
        runtimes.version("litert")


def test_predict_errors(content):
    it = tflite.Interpreter(model_content=content)
    with pytest.raises(ValueError, match="The model has 1 input"):
        it.predict([np.zeros((1, 8, 8, 2)), np.zeros((1, 8, 8, 2))])
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer, got 0"):
        it.predict(np.zeros((1, 8, 8, 2), np.float32), batch_size=0)


def test_a_missing_runtime_says_how_to_install_it(content):
    # The workstation environment has no tflite_runtime (the device pass tests it).
    assert "tflite_runtime" not in tflite.runtimes()
    with pytest.raises(ImportError, match=r"`runtime`='tflite_runtime' is not installed: pip install tflite-runtime"):
        tflite.Interpreter(model_content=content, runtime="tflite_runtime")


def test_tflite_runtime_after_tensorflow_is_detected(monkeypatch):
    # TensorFlow >= 2.20 in the process before tflite_runtime breaks tflite_runtime
    # ("vector::reserve"); the check reads the import order, so fake an installed
    # tflite_runtime imported after TensorFlow, and one imported before it.
    import sys
    import types

    from keras_wht.tflite.runtime import runtimes as runtime

    assert "tensorflow" in sys.modules
    monkeypatch.setattr(runtime, "available", lambda: ["tflite_runtime"])
    monkeypatch.delitem(sys.modules, "tflite_runtime.interpreter", raising=False)
    with pytest.raises(ImportError, match=r"imported TensorFlow before it.*runtime='ai_edge_litert'"):
        runtime.interpreter_class("tflite_runtime")
    # The order is read from sys.modules, which keeps import order.
    modules = {name: module for name, module in sys.modules.items() if name != "tensorflow"}
    before = {"tflite_runtime.interpreter": types.ModuleType("tflite_runtime.interpreter"),
              "tensorflow": sys.modules["tensorflow"], **modules}
    monkeypatch.setattr(sys, "modules", before)
    assert not runtime._tensorflow_first()
    after = {**modules, "tensorflow": before["tensorflow"], "tflite_runtime.interpreter": before["tflite_runtime.interpreter"]}
    monkeypatch.setattr(sys, "modules", after)
    assert runtime._tensorflow_first()


def test_resizing_gives_the_outputs_of_a_model_made_at_that_size():
    # With these weights, an int8 model resized after its first allocation gave wrong
    # outputs through XNNPACK; Interpreter resizes on a fresh runtime interpreter.
    from keras_wht._keras import keras
    from keras_wht.layers import WHT2D

    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((8, 8, 6)), keras.layers.Conv2D(4, 1), WHT2D(block_size=4)])
    x = np.random.default_rng(1234).standard_normal((64, 8, 8, 6)).astype(np.float32)
    content = tflite.convert(model, quantize="int8", representative_data=x)
    want = np.asarray(model(x))
    for runtime in tflite.runtimes():
        it = tflite.Interpreter(model_content=content, runtime=runtime)
        got = it.predict(x, batch_size=64, progress=False)
        step = it.get_output_details()[0]["quantization"][0] or 0.05
        assert np.abs(got - want).max() < 4 * step, runtime
        it.resize_tensor_input(0, [3, 8, 8, 6])
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x[:3])
        it.invoke()
        assert np.abs(it.get_tensor(it.get_output_details()[0]["index"]) - want[:3]).max() < 4 * step, runtime


def test_a_rejected_resize_leaves_the_interpreter_usable(content):
    it = tflite.Interpreter(model_content=content)
    with pytest.raises(ValueError, match=r"`input_index` must be one of the model's input tensors \[0\], got 10000"):
        it.resize_tensor_input(10_000, [2, 8, 8, 2])
    with pytest.raises(RuntimeError, match="ResizeInputTensorStrict only allows mutating unknown dimensions"):
        it.resize_tensor_input(0, [2, 8, 8, 3], strict=True)
    it.resize_tensor_input(it.get_input_details()[0]["index"], [2, 8, 8, 2])
    it.allocate_tensors()
    assert list(it.get_input_details()[0]["shape"]) == [2, 8, 8, 2]
