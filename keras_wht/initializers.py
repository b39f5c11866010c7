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


@register
class RandomSign(keras.initializers.Initializer):
    """Entries +1 or -1 with equal probability, times `magnitude`.

    The default scale of WHT1D. With every scale 1 (the authors' initialisation) the
    layer starts as the identity on its channels, W S(W x) ~ x: it mixes no channels,
    and a network whose 1x1 convolutions became WHT1D learns that mixing slowly (the
    diagnosis in docs/MODELS.md). Random signs make W diag(+-1) W a random orthogonal
    mixing of each block from the first step, still without a multiplication.

    Args:
        magnitude: the absolute value of every entry (default 1).
        seed: optional integer seed, as Keras' random initializers take it.

    Example:
        >>> sorted(set(RandomSign(seed=1)((64,)).numpy().tolist()))
        [-1.0, 1.0]
    """

    def __init__(self, magnitude=1.0, seed=None):
        if isinstance(magnitude, bool) or not isinstance(magnitude, numbers.Real) or not magnitude > 0:
            raise ValueError(f"`magnitude` must be a positive number, got {magnitude!r}.")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"`seed` must be None or an integer, got {seed!r}.")
        self.magnitude = float(magnitude)
        self.seed = None if seed is None else int(seed)
        self._uniform = keras.initializers.RandomUniform(-1.0, 1.0, seed=self.seed)

    def __call__(self, shape, dtype=None, **kwargs):
        dtype = dtype or "float32"
        uniform = tf.convert_to_tensor(self._uniform(shape, dtype="float32"))
        return tf.cast(tf.where(uniform < 0.0, -self.magnitude, self.magnitude), dtype)

    def get_config(self):
        return {"magnitude": self.magnitude, "seed": self.seed}
