"""WHT2D: the 2-D Walsh-Hadamard layer over the spatial axes that replaces a 3x3
convolution or a squeeze-and-excite block."""

import tensorflow as tf

from keras_wht import _checks, ops
from keras_wht._keras import register
from keras_wht.layers.binary_layer import BinaryLayer
from keras_wht.ops.fwht import fitted_block_size, padded_length


@register
class WHT2D(BinaryLayer):
    """2-D WHT over height and width, smooth thresholding, inverse 2-D WHT.

    Replaces a 3x3 convolution (9 * C_in * C_out parameters) or a squeeze-and-excite
    block with 2 * N_h * N_w parameters (128 for 8x8). Every channel's H x W image is
    zero-padded to N_h x N_w (powers of two, or multiples of `block_size` tiles),
    transformed with the orthonormal 2-D WHT, each coefficient (i, j) smooth-thresholded
    with `scale[i, j]` and `threshold[i, j]` (shared by all channels and tiles),
    transformed back and cropped. With default arguments on 2**k x 2**m inputs the layer
    computes exactly `fwht(S(fwht(x, (1, 2))), (1, 2))`, S the smooth threshold.

    Args:
        filters: output channels (default: the input's). Fewer average groups of
            C_in // filters adjacent channels first; more repeat the input channels
            (the authors' windows, each the whole input). Parameter-free.
        block_size: None (one transform over the whole padded image), a power of two, or
            a pair (b_h, b_w): cut the image into b_h x b_w tiles transformed
            independently (the block WHT), sharing one set of parameters.
        strides: int or pair: s x s average pooling after the layer ("same" padding).
        residual: add the input to the output (before pooling); needs filters == C_in.
        per_channel: separate scale and threshold per channel: shape (N_h, N_w, filters).
        order: coefficient order of the transform, "hadamard" (natural) or "sequency".
        scale_initializer, threshold_initializer, scale_regularizer,
        threshold_regularizer: of the SmoothThreshold (defaults: ones, and the authors'
            ramp T[i, j] = i / (10 N_h) + j / (10 N_w), which is (i + j) / (10 N) square).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Attributes:
        scale, threshold: trainable weights of shape (N_h, N_w) (the tile shape with
            `block_size`), or (N_h, N_w, filters) with `per_channel=True`.

    Call arguments:
        inputs: float tensor (batch, height, width, channels); height, width and
            channels must be known.

    Input shape:
        (batch, height, width, channels).

    Output shape:
        (batch, ceil(height / s), ceil(width / s), filters).

    Example:
        >>> layer = WHT2D()
        >>> layer(tf.zeros((2, 8, 8, 16))).shape
        TensorShape([2, 8, 8, 16])
        >>> layer.count_params()
        128

    References:
        Pan, Badawi and Cetin, "Block Walsh-Hadamard Transform Based Binary Layers in
        Deep Neural Networks", ACM TECS 2022 (arXiv 2201.02711).
    """

    def __init__(
        self,
        filters=None,
        *,
        block_size=None,
        strides=1,
        residual=False,
        per_channel=False,
        order="hadamard",
        scale_initializer="ones",
        threshold_initializer=None,
        scale_regularizer=None,
        threshold_regularizer=None,
        **kwargs,
    ):
        if not isinstance(per_channel, bool):
            raise ValueError(f"`per_channel` must be True or False, got {per_channel!r}.")
        # Transform-domain tensor: (batch, tiles_h, b_h, tiles_w, b_w, channels).
        super().__init__(
            strides=strides,
            residual=residual,
            order=order,
            scale_initializer=scale_initializer,
            threshold_initializer=threshold_initializer,
            scale_regularizer=scale_regularizer,
            threshold_regularizer=threshold_regularizer,
            threshold_axis=(2, 4, 5) if per_channel else (2, 4),
            ramp_axes=(0, 1),
            **kwargs,
        )
        self.filters = _checks.positive_int("filters", filters, allow_none=True)
        self.block_size = (
            None if block_size is None else _checks.int_pair("block_size", block_size, _checks.power_of_two)
        )
        self.per_channel = per_channel

    def build(self, input_shape):
        _, height, width, c_in = self._checked_input_shape(input_shape, spatial=True)
        filters = self.filters or c_in
        self._check_residual(c_in, filters, "filters")
        given = self.block_size or (None, None)
        blocks = (
            fitted_block_size(height, given[0], where="the input height"),
            fitted_block_size(width, given[1], where="the input width"),
        )
        padded = (padded_length(height, blocks[0]), padded_length(width, blocks[1]))
        self._filters, self._blocks, self._size = filters, blocks, (height, width)
        self._tiled_shape = [-1, padded[0] // blocks[0], blocks[0], padded[1] // blocks[1], blocks[1], filters]
        self._padded_shape = [-1, padded[0], padded[1], filters]
        self.smooth_threshold.build((None, *self._tiled_shape[1:]))
        super().build(input_shape)

    def call(self, inputs):
        # Growing copies input channels, and shared parameters treat all channels alike:
        # the layer on the input's channels, copied after the pooling, is the same, cheaper.
        after = self._filters > inputs.shape[-1] and not self.per_channel
        y = self.core(inputs if after else ops.change_channels(inputs, self._filters))
        if self.strides != (1, 1):
            y = tf.nn.avg_pool2d(y, self.strides, self.strides, "SAME")
        return ops.change_channels(y, self._filters) if after else y

    def core(self, x):
        y = ops.fwht(x, (1, 2), block_size=self._blocks, order=self.order)
        channels = [x.shape[-1]]
        y = tf.reshape(self.smooth_threshold(tf.reshape(y, self._tiled_shape[:-1] + channels)),
                       self._padded_shape[:-1] + channels)
        y = ops.fwht(y, (1, 2), block_size=self._blocks, order=self.order)
        y = ops.crop(y, self._size, (1, 2))
        return y + x if self.residual else y  # residual needs filters == C_in, so x is the input

    def compute_output_shape(self, input_shape):
        shape = self._checked_input_shape(input_shape, spatial=True)
        return (shape[0], *self._output_spatial(shape[1], shape[2]), self.filters or shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            block_size=None if self.block_size is None else list(self.block_size),
            per_channel=self.per_channel,
        )
        return config
