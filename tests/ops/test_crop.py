"""crop and take (Slice ops with a constant-padding gradient) against NumPy slicing."""

import numpy as np
import tensorflow as tf

from keras_wht import ops
from keras_wht.ops.fwht import take


def test_take_matches_numpy_and_its_gradient_pads_with_zeros(rng):
    x = rng.standard_normal((2, 5, 6, 7))
    dy = rng.standard_normal((2, 3, 6, 4))
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = take(xt, {1: (1, 4), 3: (2, 6)})
        loss = tf.reduce_sum(y * dy)
    np.testing.assert_array_equal(y.numpy(), x[:, 1:4, :, 2:6])
    want = np.zeros_like(x)
    want[:, 1:4, :, 2:6] = dy
    np.testing.assert_array_equal(tape.gradient(loss, xt).numpy(), want)


def test_nothing_to_cut_returns_the_input():
    x = tf.zeros((2, 4, 3))
    assert ops.crop(x, 3) is x
    assert ops.crop(x, 9) is x  # as slicing, a longer length keeps all
    assert take(x, {1: (0, 4)}) is x


def test_gradient_keeps_the_static_shape_with_an_unknown_batch():
    # TensorFlow's own Slice gradient pads by amounts from tf.shape: every dimension is
    # then unknown to the ops that follow (fwht needs its axes' lengths).
    @tf.function(input_signature=[tf.TensorSpec((None, 4, 4, 8), tf.float32)])
    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(ops.crop(x, (3, 6), (1, 3)))
        g = tape.gradient(loss, x)
        assert g.shape.as_list() == [None, 4, 4, 8]
        return g

    got = gradient(tf.ones((2, 4, 4, 8))).numpy()
    assert got.sum() == 2 * 3 * 4 * 6 and got[:, 3:].sum() == 0 and got[..., 6:].sum() == 0


def test_unknown_length_falls_back_to_slicing(rng):
    x = rng.standard_normal((3, 5))

    @tf.function(input_signature=[tf.TensorSpec((3, None), tf.float64)])
    def cut(t):
        return ops.crop(t, 8, -1)

    np.testing.assert_array_equal(cut(x).numpy(), x)
