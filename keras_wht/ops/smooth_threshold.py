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
    return _smooth_threshold(x, tf.cast(scale, x.dtype), tf.cast(threshold, x.dtype))


@tf.custom_gradient
def _smooth_threshold(x, scale, threshold):
    # The gradient written out: TensorFlow's own sums the weights' gradients over all the
    # broadcast axes at once, which took 5x as long as a sum over the channels first.
    z = x * scale
    t = tf.tanh(z)
    r = tf.nn.relu(tf.abs(z) - threshold)

    def grad(dy):
        # dS/dz = (1 - t^2) r + t sign(z) [|z| > threshold]; dS/dthreshold = -t [|z| > threshold].
        outside = tf.raw_ops.ReluGrad(gradients=dy * t, features=r)
        dz = tf.raw_ops.TanhGrad(y=t, dy=dy * r) + outside * tf.sign(z)
        return sum_to_shape(dz * scale, x), sum_to_shape(dz * x, scale), -sum_to_shape(outside, threshold)

    return t * r, grad


def sum_to_shape(t, like):
    """`t` summed over the axes along which `like` was broadcast to it, in `like`'s shape.

    Sums the innermost broadcast axes first: TensorFlow reduces the trailing (contiguous)
    axes and then the leading ones fast, but not both in one reduction."""
    shape = like.shape
    if shape.rank is None or t.shape.rank is None or shape.rank > t.shape.rank:
        axes, _ = tf.raw_ops.BroadcastGradientArgs(s0=tf.shape(like), s1=tf.shape(t))
        return tf.reshape(tf.reduce_sum(t, axes), tf.shape(like))
    rank = t.shape.rank
    dims = [1] * (rank - shape.rank) + shape.as_list()
    axes = [i for i, (d, n) in enumerate(zip(dims, t.shape.as_list())) if d == 1 and n != 1]
    if not axes and rank == shape.rank:
        return t
    trailing = []
    while axes and axes[-1] == rank - 1 - len(trailing):
        trailing.insert(0, axes.pop())
    if trailing and axes:
        t = tf.reduce_sum(t, trailing, keepdims=True)
        trailing = []
    if axes or trailing:
        t = tf.reduce_sum(t, axes + trailing, keepdims=True)
    target = shape.as_list()
    return tf.reshape(t, tf.shape(like) if target.count(None) > 1 else [-1 if d is None else d for d in target])
