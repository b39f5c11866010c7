"""The smooth threshold's hand-written gradient against the derivative of the NumPy formula."""

import numpy as np
import pytest
import tensorflow as tf

from keras_wht import ops
from tests import reference


def numpy_gradients(x, scale, threshold, dy):
    """d<S(x), dy>/d(x, scale, threshold) from the formula, summed back to each shape."""
    z = x * scale
    t = np.tanh(z)
    outside = (np.abs(z) > threshold).astype(np.float64)
    dz = dy * ((1 - t * t) * np.maximum(np.abs(z) - threshold, 0.0) + t * np.sign(z) * outside)

    def to_shape(g, shape):
        g = g.reshape((1,) * (g.ndim - len(shape)) + g.shape[g.ndim - len(shape):]) if g.ndim < len(shape) else g
        lead = g.ndim - len(shape)
        g = g.sum(axis=tuple(range(lead)))
        return g.sum(axis=tuple(i for i, d in enumerate(shape) if d == 1 and g.shape[i] != 1), keepdims=True)

    return to_shape(dz * scale, x.shape), to_shape(dz * x, scale.shape), to_shape(-dy * t * outside, threshold.shape)


SHAPES = [
    ((4, 1, 8, 1, 8, 5), (1, 1, 8, 1, 8, 1)),  # WHT2D: shared by the channels and tiles
    ((4, 2, 4, 2, 4, 5), (1, 1, 4, 1, 4, 5)),  # WHT2D per channel, 2 x 2 tiles
    ((3, 2, 2, 4, 8), (8,)),  # WHT1D: one scale per coefficient of a block
    ((6,), ()),  # scalars
    ((5,), (3, 1)),  # x broadcast against the weights too
    ((2, 3, 4), (1, 3, 1)),
]


@pytest.mark.parametrize("x_shape, w_shape", SHAPES, ids=str)
def test_gradient_matches_formula(x_shape, w_shape, rng):
    x = rng.standard_normal(x_shape)
    scale = rng.uniform(0.5, 2.0, w_shape)
    threshold = rng.uniform(0.0, 0.8, w_shape)
    dy = rng.standard_normal(np.broadcast_shapes(x_shape, w_shape))
    args = [tf.constant(a) for a in (x, scale, threshold)]
    with tf.GradientTape() as tape:
        tape.watch(args)
        y = ops.smooth_threshold(*args)
        loss = tf.reduce_sum(y * dy)
    got = tape.gradient(loss, args)
    np.testing.assert_allclose(y.numpy(), reference.smooth_threshold(x, scale, threshold), atol=1e-12)
    for g, want, a in zip(got, numpy_gradients(x, scale, threshold, dy), (x, scale, threshold)):
        assert g.shape == a.shape
        np.testing.assert_allclose(g.numpy(), want.reshape(a.shape), rtol=1e-10, atol=1e-12)


def test_gradient_with_unknown_batch(rng):
    x = rng.standard_normal((3, 1, 4, 1, 4, 2))
    scale, threshold = rng.uniform(0.5, 2.0, (1, 1, 4, 1, 4, 1)), rng.uniform(0.0, 0.8, (1, 1, 4, 1, 4, 1))
    dy = rng.standard_normal(x.shape)
    spec = tf.TensorSpec((None, 1, 4, 1, 4, 2), tf.float64)

    @tf.function(input_signature=[spec, tf.TensorSpec(scale.shape, tf.float64), tf.TensorSpec(scale.shape, tf.float64)])
    def gradients(x, scale, threshold):
        with tf.GradientTape() as tape:
            tape.watch([x, scale, threshold])
            loss = tf.reduce_sum(ops.smooth_threshold(x, scale, threshold) * dy)
        return tape.gradient(loss, [x, scale, threshold])

    for g, want in zip(gradients(x, scale, threshold), numpy_gradients(x, scale, threshold, dy)):
        np.testing.assert_allclose(g.numpy(), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_half_precision_gradient_matches_automatic_differentiation(dtype, rng):
    # The formula differentiated by TensorFlow in the same dtype: the same masks, so the
    # gradients differ only by the order of the sums.
    x = rng.standard_normal((8, 1, 8, 1, 8, 4))
    scale = rng.uniform(0.5, 2.0, (1, 1, 8, 1, 8, 1))
    threshold = rng.uniform(0.0, 0.8, scale.shape)
    dy = rng.standard_normal(x.shape)

    def formula(x, scale, threshold):
        z = x * scale
        return tf.tanh(z) * tf.nn.relu(tf.abs(z) - threshold)

    results = []
    for function in (ops.smooth_threshold, formula):
        args = [tf.constant(a, dtype) for a in (x, scale, threshold)]
        with tf.GradientTape() as tape:
            tape.watch(args)
            loss = tf.reduce_sum(function(*args) * tf.constant(dy, dtype))
        grads = tape.gradient(loss, args)
        assert all(g.dtype == dtype for g in grads)
        results.append([tf.cast(g, tf.float64).numpy() for g in grads])
    for got, want in zip(*results):
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-2 * np.abs(want).max())
