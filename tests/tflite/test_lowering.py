"""How the converter lowers WHT layers to custom ops (conversion/lowering.py): the layers
stay pure, the user's model is left as it was, and only WHT layers become custom ops."""

import numpy as np
import pytest
import tensorflow as tf

from keras_wht import tflite
from keras_wht._keras import keras
from keras_wht.layers import WHT1D, WHT2D
from keras_wht.ops.hadamard import natural_order
from keras_wht.tflite.conversion import lowering
from keras_wht.tflite.runtime import custom_ops
from tests.reference import walsh

pytestmark = pytest.mark.skipif(not custom_ops.available(), reason="keras-wht's kernel library is not built")


def _net():
    return keras.Sequential([keras.Input((8, 8, 4)), WHT2D(), WHT1D(units=2)])  # WHT1D narrows


def test_the_model_is_left_as_it_was(rng):
    model = _net()
    x = rng.standard_normal((2, 8, 8, 4)).astype(np.float32)
    before = np.asarray(model(x))
    tflite.convert(model, custom_ops=True)
    assert all("core" not in vars(layer) and "call" not in vars(layer) for layer in model.layers)
    np.testing.assert_array_equal(np.asarray(model(x)), before)


def test_the_model_is_left_as_it_was_when_conversion_fails():
    model = _net()
    with pytest.raises(RuntimeError, match="boom"):
        with lowering.markers(model) as plans:
            assert [type(p.layer) for p in plans] == [WHT2D, WHT1D]
            assert all("core" in vars(p.layer) for p in plans)
            assert all("call" in vars(p.layer) for p in plans), "WHT2D with shared parameters, WHT1D narrowing"
            raise RuntimeError("boom")
    assert all("core" not in vars(layer) and "call" not in vars(layer) for layer in model.layers)


def test_a_subclassed_model_and_a_shared_layer(rng):
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.wht = WHT2D()

        def call(self, x):
            return self.wht(self.wht(x))

    model = Net()
    x = rng.standard_normal((3, 8, 8, 2)).astype(np.float32)
    want = np.asarray(model(x))
    content = tflite.convert(model, custom_ops=True)
    assert tflite.operators(content) == ["KerasWht2D", "KerasWht2D"]
    got = tflite.Interpreter(model_content=content).predict(x, progress=False)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_plans_read_the_block_from_the_weights():
    model = keras.Sequential([keras.Input((6, 12, 3)), WHT2D(block_size=(2, 4), per_channel=True),
                              WHT1D(units=3, block_size=2, residual=True)])
    plans = [lowering.plan(layer) for layer in lowering.wht_layers(model)]
    assert [(p.op.name, p.options) for p in plans] == [
        ("KerasWht2D", {"block_h": 2, "block_w": 4, "per_channel": True, "residual": False}),
        ("KerasWht1D", {"block": 2, "residual": True}),
    ]


def test_sequency_parameters_in_natural_order(rng):
    # A per-coefficient map with parameters p in sequency order equals the same map with
    # natural_order(p) in natural order: checked with SciPy's Hadamard matrices (the
    # smooth threshold acts per coefficient as the product here does).
    h4, h8 = walsh(4), walsh(8)
    s4, s8 = walsh(4, "sequency"), walsh(8, "sequency")
    p = rng.standard_normal(8)
    np.testing.assert_allclose(s8.T @ np.diag(p) @ s8, h8.T @ np.diag(natural_order(p, 1)) @ h8, atol=1e-12)
    x, tile = rng.standard_normal((4, 8)), rng.standard_normal((4, 8))
    want = s4.T @ (tile * (s4 @ x @ s8.T)) @ s8
    got = h4.T @ (natural_order(tile, 2) * (h4 @ x @ h8.T)) @ h8
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_other_ops_tflite_lacks_are_refused_as_in_stock_conversion(rng):
    inputs = keras.Input((8, 8, 4))
    x = WHT2D()(inputs)
    outputs = keras.layers.Lambda(lambda t: tf.math.digamma(tf.abs(t) + 1.0))(x)
    model = keras.Model(inputs, outputs)
    with pytest.raises(ValueError, match=r"custom_ops=True\): the model uses TensorFlow op\(s\) that TFLite has no "
                                         r"builtin operator for: Digamma\. Only the WHT layers"):
        tflite.convert(model, custom_ops=True)
    with pytest.raises(Exception, match="Digamma"):  # TensorFlow's own refusal
        tflite.convert(model)


def test_a_users_own_igamma_is_not_taken_for_a_marker():
    inputs = keras.Input((4, 4, 2))
    outputs = keras.layers.Lambda(lambda t: tf.math.igamma(tf.ones_like(t), tf.abs(t) + 1.0))(WHT1D()(inputs))
    with pytest.raises(ValueError, match="no builtin operator for: Igamma"):
        tflite.convert(keras.Model(inputs, outputs), custom_ops=True)


def test_a_model_not_built():
    with pytest.raises(ValueError, match=r"convert\(custom_ops=True\): layer 'wht2d\w*' is not built, so its "
                                         r"blocks are not known: give the model a keras.Input"):
        tflite.convert(keras.Sequential([WHT2D()]), custom_ops=True)


@pytest.mark.parametrize("custom", [False, True])
def test_every_tensor_shape_is_known_before_running(custom, rng):
    # Channel changes reshape with constant targets: a target computed from the input's
    # shape (SHAPE, PACK) would make the tensors after it dynamic, and XNNPACK skips
    # every operator on dynamic tensors.
    model = keras.Sequential([keras.Input((6, 6, 13)), WHT1D(4), WHT1D(24), WHT2D(8, strides=2), WHT2D(3)])
    content = tflite.convert(model, custom_ops=custom)
    ops = tflite.operators(content)
    assert "SHAPE" not in ops and "PACK" not in ops, ops
    it = tflite.Interpreter(model_content=content)
    x = rng.standard_normal((1, 6, 6, 13)).astype(np.float32)
    np.testing.assert_allclose(it.predict(x, progress=False), np.asarray(model(x)), atol=1e-4)


def test_a_narrowing_op_whose_slice_was_not_folded_is_an_error(monkeypatch):
    # The op narrows its channels itself; left before the slice, it would feed the slice
    # fewer channels than the model says. Conversion refuses rather than write that.
    monkeypatch.setattr(lowering.rewrite, "fold_channel_slices", lambda content, code, key: (content, 0))
    model = keras.Sequential([keras.Input((4, 4, 12)), WHT1D(3)])
    with pytest.raises(RuntimeError, match=r"channel narrowing of layer\(s\) \['wht1d"):
        tflite.convert(model, custom_ops=True)
