"""ResNets (He et al. 2016) with optional WHT layers: ResNet20 for CIFAR, and ResNet50
shaped as keras.applications'."""

import functools

from keras_wht.models import common
from keras_wht.models.common import layers
from keras_wht.models.placement import Placement, resolve

RESNET20_KINDS = ("conv1", "conv2", "shortcut")
RESNET50_KINDS = ("conv1", "conv2", "conv3", "shortcut")
RESNET50_STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))  # filters, blocks, first stride

RESNET20_PRESETS = {
    # The paper's rule: the last third of the blocks (the 64-channel stage, blocks 6-8):
    # their 3x3 convs -> WHT2D (the first keeps its stride and channel change).
    "last-third": Placement(blocks=range(6, 9), layers=("conv1", "conv2")),
    "last-third-second": Placement(blocks=range(6, 9), layers=("conv2",)),
}
RESNET50_PRESETS = {
    # The last third of the 16 bottleneck blocks (conv4_block5 .. conv5_block3, 10-15):
    # 1x1 convs -> WHT1D, 3x3 convs -> WHT2D.
    "last-third": Placement(blocks=range(10, 16), layers=RESNET50_KINDS),
    "last-third-1x1": Placement(blocks=range(10, 16), layers=("conv1", "conv3", "shortcut")),
}


def ResNet20(
    input_shape=None,
    *,
    alpha=1.0,
    include_top=True,
    weights=None,
    input_tensor=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    wht=None,
    name=None,
):
    """The CIFAR ResNet-20 of He et al. (3 stages of 3 basic blocks, 16/32/64 channels).

    Shortcuts that change shape are 1x1 convolutions with batch norm (option B):
    274,042 parameters for 10 classes.

    Args:
        alpha: width multiplier, as the MobileNets': the stages have round(16 * alpha),
            twice and four times that many channels (alpha=0.5: 8/16/32, 69,570
            parameters, a plain network smaller than the `last-third` preset's 72,442).
        input_shape: (height, width, channels), at least 8x8 (default 32x32x3).
        include_top, weights, input_tensor, pooling, classes, classifier_activation,
        name: as keras.applications' builders (weights: None or a file path;
            with `wht`, also the plain network's, see MobileNetV2).
        wht: None (plain), a preset name, a `Placement` or a dict of its fields. Blocks
            are numbered 0..8; kinds "conv1", "conv2" (3x3 -> WHT2D) and "shortcut"
            (1x1 -> WHT1D). Presets: "last-third" (both 3x3 convs of blocks 6-8),
            "last-third-second" (the second 3x3 conv of blocks 6-8).

    Example:
        >>> ResNet20(wht="last-third").output_shape
        (None, 10)
    """
    common.check_arguments(include_top=include_top, weights=weights, pooling=pooling, classes=classes)
    placement = resolve(wht, model="ResNet20", presets=RESNET20_PRESETS, num_blocks=9, kinds=RESNET20_KINDS)
    inputs, x = common.image_input("ResNet20", input_shape, input_tensor, default_size=32, min_size=8)

    base = _width(alpha)
    x = layers.Conv2D(base, 3, padding="same", use_bias=False, name="conv1_conv")(x)
    x = layers.BatchNormalization(name="conv1_bn")(x)
    x = layers.ReLU(name="conv1_relu")(x)
    for index in range(9):
        stage, position = divmod(index, 3)
        filters = base << stage
        stride = 2 if stage and not position else 1
        replaced = functools.partial(placement.replaces, index)
        name_ = f"conv{stage + 2}_block{position + 1}"
        shortcut = x
        if stride != 1 or x.shape[-1] != filters:
            shortcut = common.pointwise(x, filters, strides=stride, wht=replaced("shortcut"), name=f"{name_}_0_conv")
            shortcut = layers.BatchNormalization(name=f"{name_}_0_bn")(shortcut)
        y = common.spatial(x, filters, 3, strides=stride, wht=replaced("conv1"), name=f"{name_}_1_conv")
        y = layers.BatchNormalization(name=f"{name_}_1_bn")(y)
        y = layers.ReLU(name=f"{name_}_1_relu")(y)
        y = common.spatial(y, filters, 3, wht=replaced("conv2"), name=f"{name_}_2_conv")
        y = layers.BatchNormalization(name=f"{name_}_2_bn")(y)
        x = layers.Add(name=f"{name_}_add")([shortcut, y])
        x = layers.ReLU(name=f"{name_}_out")(x)

    return common.finish(inputs, x, name=name or ("resnet20_wht" if wht is not None else "resnet20"),
                         include_top=include_top, pooling=pooling, weights=weights,
                         head=placement.head,
                         top=common.dense_top(classes, classifier_activation, pool_name="avg_pool"),
                         twin=None if wht is None else lambda shape: ResNet20(
                             shape, alpha=alpha, include_top=include_top, pooling=pooling, classes=classes,
                             classifier_activation=classifier_activation))


def _width(alpha):
    return _scaled(16, _alpha(alpha))


def _alpha(alpha):
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
        raise ValueError(f"`alpha` must be a positive number, got {alpha!r}.")
    return alpha


def _scaled(channels, alpha):
    return max(1, round(channels * alpha))


def ResNet50(
    input_shape=None,
    *,
    alpha=1.0,
    include_top=True,
    weights=None,
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    wht=None,
    name=None,
):
    """ResNet50, plain or with WHT layers in place of its convolutions.

    With `wht=None` and `alpha=1` this is keras.applications.ResNet50: the same
    parameter count and weight order, so its weights load with `set_weights`.

    Args:
        alpha: width multiplier, as the MobileNets': a bottleneck has round(alpha * its
            channels) and four times that at its output, the stem round(alpha * 64)
            (alpha=0.45: 4,810,646 parameters for 10 classes, a plain network smaller
            than the `last-third` preset's 5,319,080).
        input_shape: (height, width, channels), at least 32x32 (default 224x224x3).
        include_top, weights, input_tensor, pooling, classes, classifier_activation,
        name: as keras.applications.ResNet50 (weights: None or a file path;
            with `wht`, also the plain network's, see MobileNetV2).
        wht: None (plain), a preset name, a `Placement` or a dict of its fields. Blocks
            are the 16 bottleneck blocks, 0..15 (conv2_block1 .. conv5_block3); kinds
            "conv1", "conv3", "shortcut" (1x1 -> WHT1D) and "conv2" (3x3 -> WHT2D).
            Presets: "last-third" (all convs of blocks 10-15), "last-third-1x1" (their
            1x1 convs).

    Example:
        >>> ResNet50((32, 32, 3), classes=10, wht="last-third").output_shape
        (None, 10)
    """
    common.check_arguments(include_top=include_top, weights=weights, pooling=pooling, classes=classes)
    placement = resolve(wht, model="ResNet50", presets=RESNET50_PRESETS, num_blocks=16, kinds=RESNET50_KINDS)
    inputs, x = common.image_input("ResNet50", input_shape, input_tensor, default_size=224, min_size=32)
    bn = dict(epsilon=1.001e-5)

    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(x)
    width = functools.partial(_scaled, alpha=_alpha(alpha))
    x = layers.Conv2D(width(64), 7, strides=2, name="conv1_conv")(x)
    x = layers.BatchNormalization(**bn, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    index = 0
    for stage, (filters, blocks, first_stride) in enumerate(RESNET50_STAGES):
        for position in range(blocks):
            replaced = functools.partial(placement.replaces, index)
            x = _bottleneck(x, width(filters), first_stride if position == 0 else 1, position == 0, replaced, bn,
                            name=f"conv{stage + 2}_block{position + 1}")
            index += 1

    return common.finish(inputs, x, name=name or ("resnet50_wht" if wht is not None else "resnet50"),
                         include_top=include_top, pooling=pooling, weights=weights,
                         head=placement.head,
                         top=common.dense_top(classes, classifier_activation, pool_name="avg_pool"),
                         twin=None if wht is None else lambda shape: ResNet50(
                             shape, alpha=alpha, include_top=include_top, pooling=pooling, classes=classes,
                             classifier_activation=classifier_activation))


def _bottleneck(x, filters, stride, projection, replaced, bn, *, name):
    if projection:
        shortcut = common.pointwise(x, 4 * filters, strides=stride, use_bias=True, wht=replaced("shortcut"),
                                    name=f"{name}_0_conv")
        shortcut = layers.BatchNormalization(**bn, name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = common.pointwise(x, filters, strides=stride, use_bias=True, wht=replaced("conv1"), name=f"{name}_1_conv")
    x = layers.BatchNormalization(**bn, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = common.spatial(x, filters, 3, use_bias=True, wht=replaced("conv2"), name=f"{name}_2_conv")
    x = layers.BatchNormalization(**bn, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = common.pointwise(x, 4 * filters, use_bias=True, wht=replaced("conv3"), name=f"{name}_3_conv")
    x = layers.BatchNormalization(**bn, name=f"{name}_3_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)
