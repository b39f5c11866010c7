"""MobileNetV3-Large (Howard et al. 2019) with optional WHT layers, shaped as keras.applications'."""

import functools

from keras_wht.models import common
from keras_wht.models.common import layers
from keras_wht.models.placement import Placement, resolve

# (expansion, output channels, kernel, stride, squeeze-excite, hard-swish) of the 15 blocks.
BLOCKS = (
    (1, 16, 3, 1, False, False),
    (4, 24, 3, 2, False, False), (3, 24, 3, 1, False, False),
    (3, 40, 5, 2, True, False), (3, 40, 5, 1, True, False), (3, 40, 5, 1, True, False),
    (6, 80, 3, 2, False, True), (2.5, 80, 3, 1, False, True), (2.3, 80, 3, 1, False, True),
    (2.3, 80, 3, 1, False, True),
    (6, 112, 3, 1, True, True), (6, 112, 3, 1, True, True),
    (6, 160, 5, 2, True, True), (6, 160, 5, 1, True, True), (6, 160, 5, 1, True, True),
)  # fmt: skip
KINDS = ("expand", "depthwise", "se", "project")

PRESETS = {
    # The paper's placement: the last third of the blocks (10-14); 1x1 convs -> WHT1D,
    # squeeze-and-excite blocks -> WHT2D, and the last 1x1 conv -> WHT1D.
    "last-third": Placement(blocks=range(10, 15), layers=("expand", "se", "project"), last_conv=True),
    "last-third-1x1": Placement(blocks=range(10, 15), layers=("expand", "project")),
}


def MobileNetV3Large(
    input_shape=None,
    *,
    alpha=1.0,
    minimalistic=False,
    include_top=True,
    weights=None,
    input_tensor=None,
    pooling=None,
    classes=1000,
    dropout_rate=0.2,
    classifier_activation="softmax",
    include_preprocessing=True,
    wht=None,
    name=None,
):
    """MobileNetV3-Large, plain or with WHT layers in place of convolutions and SE blocks.

    With `wht=None` this is keras.applications.MobileNetV3Large: the same parameter
    count and weight order. With `wht`, the chosen 1x1 convolutions become `WHT1D`, the
    depthwise convolutions and squeeze-and-excite blocks `WHT2D`.

    Args:
        input_shape: (height, width, channels), at least 32x32 (default 224x224x3).
        alpha, minimalistic, dropout_rate, include_preprocessing: as keras.applications.
        include_top: end with keras.applications' convolutional classifier.
        weights: None, or the path of a weights file to load (nothing is downloaded).
        input_tensor: optional Keras tensor to build on.
        pooling: without the top: None, "avg" or "max".
        classes: number of classes of the top.
        classifier_activation: activation of the top.
        wht: None (plain), a preset name, a `Placement` or a dict of its fields. Blocks
            are numbered 0..14; kinds "expand", "depthwise", "se", "project". Presets:
            - "last-third": blocks 10-14: 1x1 convs -> WHT1D, SE blocks -> WHT2D, and
              the last 1x1 conv (160 -> 960) -> WHT1D.
            - "last-third-1x1": only the 1x1 convs of blocks 10-14.
        name: model name.

    Example:
        >>> model = MobileNetV3Large((32, 32, 3), classes=10, wht="last-third")
        >>> model.output_shape
        (None, 10)
    """
    common.check_arguments(include_top=include_top, weights=weights, pooling=pooling, classes=classes)
    placement = resolve(wht, model="MobileNetV3Large", presets=PRESETS, num_blocks=len(BLOCKS), kinds=KINDS)
    inputs, x = common.image_input("MobileNetV3Large", input_shape, input_tensor, default_size=224, min_size=32)
    bn = dict(epsilon=1e-3, momentum=0.999)
    swish = _relu if minimalistic else _hard_swish

    if include_preprocessing:
        x = layers.Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="conv")(x)
    x = layers.BatchNormalization(**bn, name="conv_bn")(x)
    x = swish(x)
    for index, (expansion, filters, kernel, stride, se, hard) in enumerate(BLOCKS):
        replaced = functools.partial(placement.replaces, index)
        x = _inverted_residual(
            x, index, expansion, common.make_divisible(filters * alpha), 3 if minimalistic else kernel, stride,
            se and not minimalistic, swish if hard else _relu, replaced, bn,
        )

    x = common.pointwise(x, common.make_divisible(x.shape[-1] * 6), wht=placement.last_conv,
                         name="conv_1")
    x = layers.BatchNormalization(**bn, name="conv_1_bn")(x)
    x = swish(x)
    last_point = common.make_divisible(1280 * alpha) if alpha > 1.0 else 1280

    def top(x):
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Conv2D(last_point, 1, padding="same", use_bias=True, name="conv_2")(x)
        x = swish(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate)(x)
        x = layers.Conv2D(classes, 1, padding="same", name="logits")(x)
        x = layers.Flatten()(x)
        return layers.Activation(classifier_activation, name="predictions")(x)

    return common.finish(
        inputs, x, name=name or ("MobileNetV3Large_wht" if wht is not None else "MobileNetV3Large"),
        include_top=include_top, pooling=pooling, weights=weights,
        head=placement.head, top=top,
        twin=None if wht is None else lambda shape: MobileNetV3Large(
            shape, alpha=alpha, minimalistic=minimalistic, include_top=include_top, pooling=pooling,
            classes=classes, dropout_rate=dropout_rate, classifier_activation=classifier_activation,
            include_preprocessing=include_preprocessing),
    )


def _relu(x):
    return layers.ReLU()(x)


def _hard_sigmoid(x):
    return layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def _hard_swish(x):
    return layers.Multiply()([x, _hard_sigmoid(x)])


def _squeeze_excite(inputs, filters, prefix):
    x = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(inputs)
    x = layers.Conv2D(common.make_divisible(filters * 0.25), 1, padding="same", name=f"{prefix}squeeze_excite_conv")(x)
    x = layers.ReLU(name=f"{prefix}squeeze_excite_relu")(x)
    x = layers.Conv2D(filters, 1, padding="same", name=f"{prefix}squeeze_excite_conv_1")(x)
    return layers.Multiply(name=f"{prefix}squeeze_excite_mul")([inputs, _hard_sigmoid(x)])


def _inverted_residual(inputs, index, expansion, filters, kernel, stride, se, activation, replaced, bn):
    channels = inputs.shape[-1]
    prefix = f"expanded_conv_{index}_" if index else "expanded_conv_"
    x = inputs
    expanded = common.make_divisible(channels * expansion)
    if index:
        x = common.pointwise(x, expanded, wht=replaced("expand"), name=f"{prefix}expand")
        x = layers.BatchNormalization(**bn, name=f"{prefix}expand_bn")(x)
        x = activation(x)
    x = common.depthwise(x, kernel, stride, wht=replaced("depthwise"), name=f"{prefix}depthwise")
    x = layers.BatchNormalization(**bn, name=f"{prefix}depthwise_bn")(x)
    x = activation(x)
    if se:
        # The paper replaces the whole squeeze-and-excite block by one 2-D WHT layer.
        x = common.mobile_wht2d(f"{prefix}squeeze_excite")(x) if replaced("se") else _squeeze_excite(x, expanded, prefix)
    x = common.pointwise(x, filters, wht=replaced("project"), name=f"{prefix}project")
    x = layers.BatchNormalization(**bn, name=f"{prefix}project_bn")(x)
    if stride == 1 and channels == filters:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x


