"""WHT1D: the block Walsh-Hadamard layer over channels that replaces a 1x1 convolution."""

import tensorflow as tf

from keras_wht import _checks, ops
from keras_wht._keras import register
from keras_wht.initializers import RandomSign
from keras_wht.layers.binary_layer import BinaryLayer
from keras_wht.ops.fwht import fitted_block_size, padded_length, shape_target


# The default scale's magnitude: with the smooth threshold's tanh, 2 learned faster than 1
# (benchmarks/learning.py).
SCALE_MAGNITUDE = 2.0


@register
class WHT1D(BinaryLayer):
    """Block WHT over the channel axis, smooth thresholding, inverse block WHT.

    Replaces a 1x1 convolution with 2 * block_size parameters instead of C_in * C_out.
    The channels are cut into contiguous blocks of `block_size`; each block is transformed
    with the orthonormal WHT, every coefficient k is smooth-thresholded with `scale[k]` and
    `threshold[k]` (shared by all blocks and pixels) and transformed back. With default
    arguments on 2**k channels the layer computes exactly
    `fwht(S(fwht(x, -1)), -1)`, S the smooth threshold.

    Args:
        units: output channels (default: the input's). Fewer channels average groups of
            C_in // units adjacent input channels first; more take ceil(units /
            block_size) windows of `block_size` input channels at evenly spaced offsets
            (overlapping when needed), as the authors' code does. Parameter-free.
        block_size: the WHT block, a power of two (default: the channel count the
            transform sees, rounded up to a power of two; channels are zero-padded to a
            multiple of it and the padding cropped).
        strides: int or pair: spatial subsampling `x[:, ::s, ::s, :]` before the layer.
        residual: add the (subsampled) input to the output; needs units == C_in.
        order: coefficient order of the transform, "hadamard" (natural) or "sequency".
        scale_initializer: of the SmoothThreshold's scale. Default: random signs of
            magnitude 2 (`RandomSign(2.0)`), keras-wht's; "ones" is the authors'. With
            every scale 1 the layer starts as the identity on its channels (it mixes
            none), and networks learn far more slowly; docs/MODELS.md has the numbers.
        threshold_initializer, scale_regularizer, threshold_regularizer: of the
            SmoothThreshold (default threshold: the authors' ramp
            T_k = k / (10 * block_size)).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Attributes:
        scale, threshold: trainable weights of shape (block_size,).

    Call arguments:
        inputs: float tensor (batch, height, width, channels); channels must be known.

    Input shape:
        (batch, height, width, channels).

    Output shape:
        (batch, ceil(height / s), ceil(width / s), units).

    Example:
        >>> layer = WHT1D(units=32)
        >>> layer(tf.zeros((2, 8, 8, 16))).shape
        TensorShape([2, 8, 8, 32])
        >>> layer.count_params()
        32

    References:
        Pan, Badawi and Cetin, "Block Walsh-Hadamard Transform Based Binary Layers in
        Deep Neural Networks", ACM TECS 2022 (arXiv 2201.02711).
    """

    def __init__(
        self,
        units=None,
        *,
        block_size=None,
        strides=1,
        residual=False,
        order="hadamard",
        scale_initializer=None,
        threshold_initializer=None,
        scale_regularizer=None,
        threshold_regularizer=None,
        **kwargs,
    ):
        super().__init__(
            strides=strides,
            residual=residual,
            order=order,
            scale_initializer=RandomSign(SCALE_MAGNITUDE) if scale_initializer is None else scale_initializer,
            threshold_initializer=threshold_initializer,
            scale_regularizer=scale_regularizer,
            threshold_regularizer=threshold_regularizer,
            threshold_axis=-1,
            **kwargs,
        )
        self.units = _checks.positive_int("units", units, allow_none=True)
        self.block_size = _checks.power_of_two("block_size", block_size, allow_none=True)

    def build(self, input_shape):
        shape = self._checked_input_shape(input_shape, spatial=False)
        c_in = shape[-1]
        units = self.units or c_in
        self._check_residual(c_in, units, "units")
        if units > c_in:
            # Grow: whole windows of one block each, cropped to `units` after the transform.
            block = fitted_block_size(units, self.block_size or _checks.next_power_of_two(c_in),
                                      where="`units`")
            channels = padded_length(units, block)
        else:
            block = fitted_block_size(units, self.block_size, where="the channels")
            channels = units
        self._c_in, self._units, self._block, self._channels = c_in, units, block, channels
        padded = padded_length(channels, block)
        self.smooth_threshold.build((None, None, None, padded // block, block))
        super().build(input_shape)

    def call(self, inputs):
        x = inputs
        if self.strides != (1, 1):
            x = x[:, :: self.strides[0], :: self.strides[1], :]
        if self._c_in < self._units and self._c_in <= self._block:
            # Growing from at most one block: every window is the same (zero-padded) input,
            # and blocks are transformed alike, so the layer runs on one and copies it.
            y = self.core(ops.change_channels(x, self._block, window=self._block))
            y = ops.change_channels(y, self._channels, window=self._block)
        else:
            y = self.core(ops.change_channels(x, self._channels, window=self._block))
        return ops.crop(y, self._units)

    def core(self, x):
        y = ops.fwht(x, -1, block_size=self._block, order=self.order)
        blocks = tf.reshape(y, shape_target(y, last=(y.shape[-1] // self._block, self._block)))
        y = tf.reshape(self.smooth_threshold(blocks), shape_target(y))
        y = ops.fwht(y, -1, block_size=self._block, order=self.order)
        if y.shape[-1] != x.shape[-1]:  # the zero padding up to a whole block
            y = ops.crop(y, x.shape[-1])
        return y + x if self.residual else y  # residual needs units == C_in, so x is the input

    def compute_output_shape(self, input_shape):
        shape = self._checked_input_shape(input_shape, spatial=False)
        return (shape[0], *self._output_spatial(shape[1], shape[2]), self.units or shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, block_size=self.block_size)
        return config
