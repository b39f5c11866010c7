"""The smooth-thresholding nonlinearity of the WHT layers, as TensorFlow graph ops."""

import tensorflow as tf


def smooth_threshold(x, scale, threshold):
    """S(x) = tanh(z) * relu(|z| - threshold), with z = x * scale.

    Soft thresholding (shrink |z| by the threshold, zero inside it) with the sign smoothed
    by tanh, so the gradient is non-zero on both sides of zero. `scale` and `threshold`
    broadcast against `x`; thresholds are meant to be non-negative.

    Example:
        >>> float(smooth_threshold(2.0, 1.0, 0.5))  # tanh(2) * 1.5
        1.446...
    """
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        raise TypeError(f"`x` must have a floating-point dtype, got {x.dtype.name}.")
    z = x * tf.cast(scale, x.dtype)
    return tf.tanh(z) * tf.nn.relu(tf.abs(z) - tf.cast(threshold, x.dtype))
