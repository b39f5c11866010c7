"""The layers' gradients (input, scale, threshold) against finite differences of the
NumPy references, in float64: the hand-written gradients and the reordered graph (a growing
WHT2D transforms the input's channels and copies them after the pooling) compute the
derivative of the paper's layer."""

import numpy as np
import pytest
import tensorflow as tf

from keras_wht.layers import WHT1D, WHT2D
from tests import reference


def directional_check(layer, function, x, rng, *, step=1e-6):
    """<gradient, direction> from the layer against the central difference of `function`
    (the NumPy reference of x, scale, threshold) along a random direction."""
    layer.build(x.shape)
    scale = rng.uniform(0.5, 2.0, layer.scale.shape)
    threshold = rng.uniform(0.0, 0.5, layer.threshold.shape)
    layer.scale.assign(scale)
    layer.threshold.assign(threshold)
    dy = rng.standard_normal(layer.compute_output_shape(x.shape))
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(layer(xt) * dy)
    grads = [g.numpy() for g in tape.gradient(loss, [xt, layer.scale, layer.threshold])]
    point = (x, scale, threshold)
    for _ in range(3):
        direction = [rng.standard_normal(a.shape) for a in point]
        plus = function(*(a + step * d for a, d in zip(point, direction)))
        minus = function(*(a - step * d for a, d in zip(point, direction)))
        numeric = np.sum((plus - minus) * dy) / (2 * step)
        analytic = sum(np.sum(g * d) for g, d in zip(grads, direction))
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "config, shape",
    [
        (dict(), (2, 8, 8, 3)),
        (dict(filters=7, strides=2), (2, 8, 8, 3)),  # grow: transform 3 channels, copy after pooling
        (dict(filters=7, per_channel=True), (2, 8, 8, 3)),
        (dict(filters=2, strides=2), (2, 7, 6, 5)),  # shrink, padded 7x6 -> 8x8 and cropped
        (dict(block_size=(2, 4), residual=True), (2, 8, 8, 3)),
    ],
    ids=str,
)
def test_wht2d_gradient(config, shape, rng):
    x = rng.standard_normal(shape)
    layer = WHT2D(dtype="float64", **config)
    block = config.get("block_size")

    def function(x, scale, threshold):
        return reference.wht2d(x, scale, threshold, filters=config.get("filters"), block=block,
                               strides=config.get("strides", 1), residual=config.get("residual", False))

    directional_check(layer, function, x, rng)


@pytest.mark.parametrize(
    "config, shape",
    [
        (dict(), (2, 3, 3, 8)),
        (dict(units=20), (2, 3, 3, 6)),  # grow from one block: the layer on one window, copied
        (dict(units=20, block_size=4), (2, 3, 3, 6)),  # windows at different offsets
        (dict(units=3), (2, 3, 3, 10)),  # shrink: groups of 3, the tenth channel dropped
        (dict(units=6, block_size=4), (2, 3, 3, 6)),  # padded to two blocks of 4, cropped
        (dict(residual=True, strides=2), (2, 4, 4, 8)),
    ],
    ids=str,
)
def test_wht1d_gradient(config, shape, rng):
    x = rng.standard_normal(shape)
    layer = WHT1D(dtype="float64", **config)

    def function(x, scale, threshold):
        return reference.wht1d(x, scale, threshold, units=config.get("units"), block=config.get("block_size"),
                               strides=config.get("strides", 1), residual=config.get("residual", False))

    directional_check(layer, function, x, rng)
