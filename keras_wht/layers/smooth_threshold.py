"""SmoothThreshold: the trainable nonlinearity the WHT layers apply in the transform domain."""

import numbers

import tensorflow as tf

from keras_wht import _checks, ops
from keras_wht._keras import keras, register
from keras_wht.initializers import RandomSign, ThresholdRamp


@register
class SmoothThreshold(keras.layers.Layer):
    """Smooth thresholding with a trainable scale and threshold per coefficient.

    Computes `tanh(z) * relu(|z| - threshold)` with `z = inputs * scale`: soft
    thresholding whose sign is smoothed by tanh. `scale` and `threshold` have one entry
    per position along `axis` and are shared across all other axes; thresholds are kept
    non-negative by a `NonNeg` constraint.

    Args:
        axis: int or tuple of ints: the input axes with their own scale and threshold.
        scale_initializer: initializer of `scale` (default "ones", as the authors).
        threshold_initializer: initializer of `threshold` (default `ThresholdRamp()`:
            T_k = k / (10 n), as the authors).
        scale_regularizer: optional regularizer of `scale`.
        threshold_regularizer: optional regularizer of `threshold`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a float tensor; its dimensions along `axis` must be known.

    Input shape:
        Any; output shape: the same.

    Example:
        >>> layer = SmoothThreshold(axis=-1)
        >>> layer(tf.ones((2, 8))).shape
        TensorShape([2, 8])

    References:
        Pan, Badawi and Cetin, "Fast Walsh-Hadamard Transform and Smooth-Thresholding
        Based Binary Layers in Deep Neural Networks", CVPR Workshops 2021.
    """

    def __init__(
        self,
        axis=-1,
        *,
        scale_initializer="ones",
        threshold_initializer=None,
        scale_regularizer=None,
        threshold_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_float_policy(self)
        given = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
        if not given or any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in given):
            raise ValueError(f"`axis` must be an integer or a tuple of integers, got {axis!r}.")
        self.axis = given if isinstance(axis, (tuple, list)) else given[0]
        self.scale_initializer = _initializer(scale_initializer)
        self.threshold_initializer = (
            ThresholdRamp() if threshold_initializer is None else _initializer(threshold_initializer)
        )
        self.scale_regularizer = keras.regularizers.get(scale_regularizer)
        self.threshold_regularizer = keras.regularizers.get(threshold_regularizer)

    def build(self, input_shape):
        shape = tuple(tf.TensorShape(input_shape).as_list())
        axes = sorted(_checks.axes(self.axis, len(shape)))
        unknown = [a for a in axes if shape[a] is None]
        if unknown:
            raise ValueError(
                f"{type(self).__name__} needs the input's size along `axis`={self.axis!r}, "
                f"but axis {unknown[0]} of input shape {shape} is unknown."
            )
        self._broadcast_shape = [shape[a] if a in axes else 1 for a in range(len(shape))]
        weight_shape = tuple(shape[a] for a in axes)
        self.scale = self.add_weight(
            name="scale",
            shape=weight_shape,
            initializer=self.scale_initializer,
            regularizer=self.scale_regularizer,
            trainable=True,
        )
        self.threshold = self.add_weight(
            name="threshold",
            shape=weight_shape,
            initializer=self.threshold_initializer,
            regularizer=self.threshold_regularizer,
            constraint=keras.constraints.NonNeg(),
            trainable=True,
        )
        super().build(input_shape)

    def call(self, inputs):
        scale = tf.reshape(self.scale, self._broadcast_shape)
        threshold = tf.reshape(self.threshold, self._broadcast_shape)
        return ops.smooth_threshold(inputs, scale, threshold)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            axis=list(self.axis) if isinstance(self.axis, tuple) else self.axis,
            scale_initializer=keras.initializers.serialize(self.scale_initializer),
            threshold_initializer=keras.initializers.serialize(self.threshold_initializer),
            scale_regularizer=keras.regularizers.serialize(self.scale_regularizer),
            threshold_regularizer=keras.regularizers.serialize(self.threshold_regularizer),
        )
        return config


def _check_float_policy(layer):
    if not tf.as_dtype(layer.compute_dtype).is_floating:
        raise ValueError(
            f"{type(layer).__name__} computes in floating point; `dtype` must be a float type "
            f"or a mixed-precision policy, got {layer.compute_dtype!r}."
        )


# keras-wht's initializers are registered as "keras_wht>Name"; tf_keras' legacy loading
# (.h5 files, QAT models) looks a config up by its class name alone, so it finds them here.
_OWN_INITIALIZERS = {"RandomSign": RandomSign, "ThresholdRamp": ThresholdRamp}


def _initializer(identifier):
    with keras.utils.custom_object_scope(_OWN_INITIALIZERS):
        return keras.initializers.get(identifier)
