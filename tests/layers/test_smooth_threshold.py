import numpy as np
import pytest
import tensorflow as tf

from keras_wht import ops
from keras_wht._keras import keras
from keras_wht.initializers import ThresholdRamp
from keras_wht.layers import SmoothThreshold
from tests import reference
from tests.layers.helpers import randomize


def test_op_matches_formula(rng):
    x, w, t = rng.standard_normal(50), rng.uniform(0.5, 2, 50), rng.uniform(0, 1, 50)
    np.testing.assert_allclose(ops.smooth_threshold(x, w, t).numpy(), reference.smooth_threshold(x, w, t), atol=1e-12)
    # Zero inside the threshold, odd, and shrinking like soft thresholding far outside it.
    assert ops.smooth_threshold(0.3, 1.0, 0.5).numpy() == 0.0
    assert ops.smooth_threshold(-3.0, 1.0, 0.5).numpy() == pytest.approx(-np.tanh(3.0) * 2.5)


def test_op_rejects_integers():
    with pytest.raises(TypeError, match="`x` must have a floating-point dtype, got int32"):
        ops.smooth_threshold(tf.constant([1, 2]), 1.0, 0.0)


@pytest.mark.parametrize("axis, weight_shape", [(-1, (6,)), ((1, 2), (4, 5)), ((2, 1), (4, 5)), (1, (4,))])
def test_layer_matches_formula(axis, weight_shape, rng):
    layer = SmoothThreshold(axis=axis)
    x = rng.standard_normal((3, 4, 5, 6)).astype(np.float32)
    layer.build(x.shape)
    assert layer.scale.shape == weight_shape and layer.threshold.shape == weight_shape
    w, t = randomize(layer, rng)
    axes = sorted(a % 4 for a in (axis if isinstance(axis, tuple) else (axis,)))
    shape = [x.shape[a] if a in axes else 1 for a in range(4)]
    np.testing.assert_allclose(layer(x).numpy(), reference.smooth_threshold(x, w.reshape(shape), t.reshape(shape)), atol=1e-5)


def test_default_initialisation_is_the_authors():
    layer = SmoothThreshold()
    layer.build((None, 16))
    np.testing.assert_array_equal(layer.scale.numpy(), np.ones(16))
    np.testing.assert_allclose(layer.threshold.numpy(), np.arange(16) / (10 * 16), rtol=1e-6)


def test_threshold_ramp():
    np.testing.assert_allclose(ThresholdRamp()((8, 8)).numpy(), np.add.outer(np.arange(8), np.arange(8)) / 80, rtol=1e-6)
    ramp = ThresholdRamp(step=1.0, axes=(0,))((4, 3)).numpy()
    np.testing.assert_allclose(ramp, np.repeat(np.arange(4)[:, None] / 4, 3, axis=1), rtol=1e-6)
    assert ThresholdRamp.from_config(ThresholdRamp(0.2, (1,)).get_config()).get_config() == {"step": 0.2, "axes": [1]}
    with pytest.raises(ValueError, match="`step` must be a non-negative number, got -1"):
        ThresholdRamp(step=-1)


def test_thresholds_stay_non_negative(rng):
    # Loss -|S(x)| falls as thresholds fall, so plain SGD would take them below zero.
    layer = SmoothThreshold()
    model = keras.Sequential([keras.Input((8,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss=lambda _, y: -tf.reduce_mean(tf.abs(y)))
    x = rng.standard_normal((64, 8)).astype(np.float32)
    model.fit(x, x, epochs=5, verbose=0)
    np.testing.assert_array_equal(layer.threshold.numpy(), np.zeros(8))  # held at the bound


@pytest.mark.parametrize(
    "kwargs, shape, message",
    [
        (dict(axis="last"), (None, 4), "`axis` must be an integer or a tuple of integers, got 'last'"),
        (dict(axis=3), (None, 4), "`axis` must hold integers in [-2, 2) for an input of rank 2, got 3"),
        (dict(axis=(1, -1)), (None, 4), "`axis` names an axis twice: (1, -1)"),
        (dict(axis=0), (None, 4), "needs the input's size along `axis`=0, but axis 0 of input shape (None, 4) is unknown"),
        (dict(dtype="int32"), (None, 4), "`dtype` must be a float type or a mixed-precision policy, got 'int32'"),
    ],
)
def test_errors(kwargs, shape, message):
    with pytest.raises(ValueError) as info:
        SmoothThreshold(**kwargs).build(shape)
    assert message in str(info.value)
