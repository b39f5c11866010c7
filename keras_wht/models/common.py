"""What the model builders share: inputs, tops, weights, and conv-or-WHT layer factories."""

import os

from keras_wht import _checks
from keras_wht._keras import keras
from keras_wht.layers import WHT1D, WHT2D
from keras_wht.models import transfer

layers = keras.layers


def make_divisible(value, divisor=8):
    """`value` rounded to a multiple of `divisor`, never below 90% of it (MobileNet's rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def check_arguments(*, include_top, weights, pooling, classes):
    if not isinstance(include_top, bool):
        raise ValueError(f"`include_top` must be True or False, got {include_top!r}.")
    if weights is not None and not (isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights)):
        raise ValueError(
            "`weights` must be None or the path of an existing weights file (keras-wht downloads "
            f"nothing), got {weights!r}."
        )
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"`pooling` must be None, 'avg' or 'max', got {pooling!r}.")
    _checks.positive_int("classes", classes)


def image_input(model, input_shape, input_tensor, *, default_size, min_size):
    """(model inputs, first tensor): a new Input, or `input_tensor` and its sources."""
    if input_tensor is not None:
        shape = tuple(input_tensor.shape[1:])
        if input_shape is not None and tuple(input_shape) != shape:
            raise ValueError(f"`input_shape` {tuple(input_shape)} does not match `input_tensor` of shape {shape}.")
        input_shape = shape
    if input_shape is None:
        input_shape = (default_size, default_size, 3)
    if len(tuple(input_shape)) != 3:
        raise ValueError(f"`input_shape` must be (height, width, channels), got {input_shape!r}.")
    height, width, _ = input_shape
    if any(d is not None and d < min_size for d in (height, width)):
        raise ValueError(
            f"{model} needs inputs of at least {min_size}x{min_size}, got `input_shape`={tuple(input_shape)}."
        )
    if input_tensor is not None:
        return keras.utils.get_source_inputs(input_tensor), input_tensor
    x = keras.Input(shape=tuple(input_shape))
    return x, x


def pointwise(x, filters, *, wht, name, strides=1, use_bias=False):
    """A 1x1 convolution, or the WHT1D that replaces it."""
    if wht:
        return WHT1D(filters, strides=strides, name=name)(x)
    return layers.Conv2D(filters, 1, strides=strides, use_bias=use_bias, name=name)(x)


def spatial(x, filters, kernel, *, wht, name, strides=1, use_bias=False):
    """A kxk "same" convolution, or the WHT2D that replaces it."""
    if wht:
        return WHT2D(filters, strides=strides, name=name)(x)
    return layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=use_bias, name=name)(x)


# The scale a MobileNet's WHT2D starts with, where it replaces a depthwise convolution or
# a squeeze-and-excite block: there its inputs are batch-normalised activations, mostly
# below 1, where the smooth threshold with the authors' scale 1 behaves as z |z| and
# squashes them; at 8 it is a soft threshold from |x| = 0.25 on. MobileNetV3-Large's
# last-third preset learned nothing in 8 digits epochs with scale 1 and as fast as the
# plain network with 8 (docs/MODELS.md, benchmarks/learning.py).
MOBILE_WHT2D_SCALE = 8.0


def mobile_wht2d(name, strides=1):
    """The WHT2D that replaces a MobileNet's depthwise convolution or squeeze-and-excite block."""
    return WHT2D(strides=strides, scale_initializer=keras.initializers.Constant(MOBILE_WHT2D_SCALE), name=name)


def depthwise(x, kernel, strides, *, wht, name):
    """A kxk depthwise convolution as keras.applications pads it, or the WHT2D for it."""
    if wht:
        return mobile_wht2d(name, strides)(x)
    if strides == 2:
        x = layers.ZeroPadding2D(padding=_correct_pad(x.shape[1:3], kernel), name=f"{name}_pad")(x)
    return layers.DepthwiseConv2D(kernel, strides=strides, padding="same" if strides == 1 else "valid",
                                  use_bias=False, name=name)(x)


def _correct_pad(size, kernel):
    # Pads so a "valid" stride-2 kxk conv sees the same window centres as TF's "same".
    adjust = (1, 1) if None in size else (1 - size[0] % 2, 1 - size[1] % 2)
    half = kernel // 2
    return ((half - adjust[0], half), (half - adjust[1], half))


def dense_top(classes, activation, *, pool_name=None):
    """The classifier keras.applications' MobileNetV2 and ResNets end with."""

    def top(x):
        x = layers.GlobalAveragePooling2D(name=pool_name)(x)
        return layers.Dense(classes, activation=activation, name="predictions")(x)

    return top


def finish(inputs, x, *, name, include_top, pooling, weights, head, top, twin=None):
    """Optional WHT2D head, then `top(x)` or pooling, the Model, and its weights.

    `twin(input_shape)` builds the plain network of the same arguments; given (a WHT
    variant), `weights` may be a plain network's: every layer that was not replaced is
    copied from it by name (models.transfer.copy_weights). Without it the file must match
    exactly (model.load_weights)."""
    if head:
        x = WHT2D(name="head_wht2d")(x)
    if include_top:
        x = top(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    model = keras.Model(inputs, x, name=name)
    if weights is not None and twin is None:
        model.load_weights(weights)
    elif weights is not None:
        transfer.copy_weights(model, weights, twin=lambda: twin(tuple(model.inputs[0].shape[1:])))
    return model
