"""What WHT1D and WHT2D share: a transform, a SmoothThreshold, the inverse transform."""

import tensorflow as tf

from keras_wht import _checks
from keras_wht._keras import keras
from keras_wht.initializers import ThresholdRamp
from keras_wht.layers.smooth_threshold import SmoothThreshold, _check_float_policy
from keras_wht.ops.hadamard import ORDERS


class BinaryLayer(keras.layers.Layer):
    """Base of the paper's "binary" layers: fwht -> SmoothThreshold -> fwht on NHWC inputs.

    Subclasses say which axes the thresholds cover (`threshold_axis`, counted in the
    transform-domain tensor the subclass builds) and implement build, call and `core`.
    """

    def __init__(
        self,
        *,
        strides,
        residual,
        order,
        scale_initializer,
        threshold_initializer,
        scale_regularizer,
        threshold_regularizer,
        threshold_axis,
        ramp_axes=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_float_policy(self)
        self.strides = _checks.int_pair("strides", strides, _checks.positive_int)
        if not isinstance(residual, bool):
            raise ValueError(f"`residual` must be True or False, got {residual!r}.")
        self.residual = residual
        self.order = _checks.one_of("order", order, ORDERS)
        self.smooth_threshold = SmoothThreshold(
            axis=threshold_axis,
            scale_initializer=scale_initializer,
            threshold_initializer=(
                ThresholdRamp(axes=ramp_axes) if threshold_initializer is None else threshold_initializer
            ),
            scale_regularizer=scale_regularizer,
            threshold_regularizer=threshold_regularizer,
            dtype=self.dtype_policy,
            name="smooth_threshold",
        )
        self._default_ramp = threshold_initializer is None

    @property
    def scale(self):
        """The trainable scale w of the smooth threshold (transform-domain shape)."""
        return self.smooth_threshold.scale

    @property
    def threshold(self):
        """The trainable, non-negative threshold T of the smooth threshold."""
        return self.smooth_threshold.threshold

    def _checked_input_shape(self, input_shape, *, spatial):
        shape = tuple(tf.TensorShape(input_shape).as_list())
        name = type(self).__name__
        if len(shape) != 4:
            raise ValueError(
                f"{name} expects inputs of rank 4 (batch, height, width, channels), got shape {shape}."
            )
        if shape[-1] is None:
            raise ValueError(f"{name} needs a known channel count, got input shape {shape}.")
        if spatial and None in shape[1:3]:
            raise ValueError(
                f"{name} needs a known height and width (the transform runs over them), got input "
                f"shape {shape}: give keras.Input a static spatial shape."
            )
        return shape

    def _check_residual(self, channels_in, channels_out, argument):
        if self.residual and channels_in != channels_out:
            raise ValueError(
                f"`residual=True` adds the input to the output, so `{argument}` must equal the "
                f"input channels ({channels_in}), got {argument}={channels_out}."
            )

    def core(self, x):
        """The paper's binary layer proper on `x`, which has the output's channels: the
        transform, the smooth threshold, the inverse transform, plus `x` when `residual`.
        The output has `x`'s shape. Subclasses compute it; `call` adds what comes before
        (channel change) and after (strides, cropping to the output channels)."""
        raise NotImplementedError

    def _output_spatial(self, height, width):
        return tuple(None if d is None else -(-d // s) for d, s in zip((height, width), self.strides))

    def get_config(self):
        config = super().get_config()
        st = self.smooth_threshold
        config.update(
            strides=list(self.strides),
            residual=self.residual,
            order=self.order,
            scale_initializer=keras.initializers.serialize(st.scale_initializer),
            threshold_initializer=(
                None if self._default_ramp else keras.initializers.serialize(st.threshold_initializer)
            ),
            scale_regularizer=keras.regularizers.serialize(st.scale_regularizer),
            threshold_regularizer=keras.regularizers.serialize(st.threshold_regularizer),
        )
        return config
