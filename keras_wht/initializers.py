"""The authors' threshold initialisation for the smooth threshold."""

import numbers

import numpy as np
import tensorflow as tf

from keras_wht._keras import keras, register


@register
class ThresholdRamp(keras.initializers.Initializer):
    """Thresholds that grow with the coefficient index: T = step * sum_k i_k / n_k.

    For a 1-D transform of n points, T_k = step * k / n; for a square N x N 2-D
    transform, T[i, j] = step * (i + j) / N. With the default step of 0.1 this is the
    initialisation of Pan, Badawi and Cetin: k / (10 n).

    Args:
        step: the threshold at the end of each ramped axis (approached, not reached).
        axes: the axes of the weight that ramp (default: all); the others repeat the
            ramp, e.g. a per-channel threshold of shape (N_h, N_w, C) with axes=(0, 1).

    Example:
        >>> ThresholdRamp()((4,)).numpy().tolist()
        [0.0, 0.02500..., 0.05000..., 0.07500...]
    """

    def __init__(self, step=0.1, axes=None):
        if isinstance(step, bool) or not isinstance(step, numbers.Real) or step < 0:
            raise ValueError(f"`step` must be a non-negative number, got {step!r}.")
        self.step = float(step)
        self.axes = None if axes is None else tuple(int(a) for a in axes)

    def __call__(self, shape, dtype=None, **kwargs):
        shape = tuple(int(d) for d in shape)
        axes = range(len(shape)) if self.axes is None else self.axes
        ramp = np.zeros(shape)
        for a in axes:
            index_shape = [1] * len(shape)
            index_shape[a] = shape[a]
            ramp = ramp + np.arange(shape[a]).reshape(index_shape) / shape[a]
        return tf.constant(self.step * ramp, dtype=dtype or "float32")

    def get_config(self):
        return {"step": self.step, "axes": None if self.axes is None else list(self.axes)}
