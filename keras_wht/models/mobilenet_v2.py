"""MobileNetV2 (Sandler et al. 2018) with optional WHT layers, shaped as keras.applications'."""

import functools

from keras_wht.models import common
from keras_wht.models.common import layers
from keras_wht.models.placement import Placement, resolve

# (output channels, stride, expansion) of the 17 inverted residual blocks.
BLOCKS = (
    (16, 1, 1),
    (24, 2, 6), (24, 1, 6),
    (32, 2, 6), (32, 1, 6), (32, 1, 6),
    (64, 2, 6), (64, 1, 6), (64, 1, 6), (64, 1, 6),
    (96, 1, 6), (96, 1, 6), (96, 1, 6),
    (160, 2, 6), (160, 1, 6), (160, 1, 6),
    (320, 1, 6),
)  # fmt: skip
KINDS = ("expand", "depthwise", "project")

PRESETS = {
    # The paper replaces the 1x1 convolutions of the last third of the bottleneck blocks:
    # of 17 blocks, blocks 12-16. Counted on the CIFAR-10 network (32x32x3, 10 classes)
    # with `keras-wht models`; the later version also replaces the last 1x1 conv.
    "paper-947k": Placement(blocks=range(12, 17), layers=("expand", "project")),
    "paper-540k": Placement(blocks=range(12, 17), layers=("expand", "project"), last_conv=True),
    "last-third": Placement(blocks=range(12, 17), layers=KINDS, last_conv=True),
}


def MobileNetV2(
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
    """MobileNetV2, plain or with WHT layers in place of its convolutions.

    With `wht=None` this is keras.applications.MobileNetV2: the same layers, parameter
    count and weight order, so `set_weights(keras.applications.MobileNetV2(...)
    .get_weights())` works. With `wht`, the chosen 1x1 convolutions of the inverted
    residual blocks become `WHT1D` and the 3x3 depthwise ones `WHT2D` (batch norms and
    activations stay).

    Args:
        input_shape: (height, width, channels), at least 32x32 (default 224x224x3).
        alpha: width multiplier, as keras.applications.
        include_top: end with global average pooling and a `classes`-way Dense.
        weights: None, or the path of a weights file to load (nothing is downloaded). With
            `wht`, also a plain MobileNetV2's (.keras or .weights.h5): the layers that
            were not replaced are copied from it (models.transfer.copy_weights).
        input_tensor: optional Keras tensor to build on.
        pooling: without the top: None (4-D output), "avg" or "max".
        classes: number of classes of the top.
        classifier_activation: activation of the top's Dense.
        wht: None (plain), a preset name, a `Placement` or a dict of its fields. Blocks
            are numbered 0..16. Presets:
            - "paper-947k": the expand and project 1x1 convs of blocks 12-16 (the
              last third) -> WHT1D: 942,410 parameters on CIFAR-10 (paper: 947K).
            - "paper-540k": as "paper-947k", plus the last 1x1 conv (320 -> 1280)
              -> WHT1D: 533,834 parameters (paper: 540K).
            - "last-third": as "paper-540k", plus the depthwise convs of blocks 12-16
              -> WHT2D: 497,568 parameters.
        name: model name.

    Example:
        >>> model = MobileNetV2((32, 32, 3), classes=10, wht="paper-540k")
        >>> model.count_params()
        533834

    References:
        Pan, Badawi and Cetin, "Fast Walsh-Hadamard Transform and Smooth-Thresholding
        Based Binary Layers in Deep Neural Networks", CVPR Workshops 2021.
    """
    common.check_arguments(include_top=include_top, weights=weights, pooling=pooling, classes=classes)
    placement = resolve(wht, model="MobileNetV2", presets=PRESETS, num_blocks=len(BLOCKS), kinds=KINDS)
    inputs, x = common.image_input("MobileNetV2", input_shape, input_tensor, default_size=224, min_size=32)
    bn = dict(epsilon=1e-3, momentum=0.999)

    x = layers.Conv2D(common.make_divisible(32 * alpha), 3, strides=2, padding="same", use_bias=False, name="Conv1")(x)
    x = layers.BatchNormalization(**bn, name="bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    for index, (filters, stride, expansion) in enumerate(BLOCKS):
        replaced = functools.partial(placement.replaces, index)
        x = _inverted_residual(x, index, common.make_divisible(int(filters * alpha)), stride, expansion, replaced, bn)

    last = common.make_divisible(1280 * alpha) if alpha > 1.0 else 1280
    x = common.pointwise(x, last, wht=placement.last_conv, name="Conv_1")
    x = layers.BatchNormalization(**bn, name="Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)

    return common.finish(
        inputs, x, name=name or f"mobilenetv2_{alpha:0.2f}_{x.shape[1]}" + ("_wht" if wht is not None else ""),
        include_top=include_top, pooling=pooling, weights=weights,
        head=placement.head, top=common.dense_top(classes, classifier_activation),
        twin=None if wht is None else lambda shape: MobileNetV2(
            shape, alpha=alpha, include_top=include_top, pooling=pooling, classes=classes,
            classifier_activation=classifier_activation),
    )


def _inverted_residual(inputs, index, filters, stride, expansion, replaced, bn):
    channels = inputs.shape[-1]
    prefix = f"block_{index}_" if index else "expanded_conv_"
    x = inputs
    if index:
        x = common.pointwise(x, expansion * channels, wht=replaced("expand"), name=f"{prefix}expand")
        x = layers.BatchNormalization(**bn, name=f"{prefix}expand_BN")(x)
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    x = common.depthwise(x, 3, stride, wht=replaced("depthwise"), name=f"{prefix}depthwise")
    x = layers.BatchNormalization(**bn, name=f"{prefix}depthwise_BN")(x)
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = common.pointwise(x, filters, wht=replaced("project"), name=f"{prefix}project")
    x = layers.BatchNormalization(**bn, name=f"{prefix}project_BN")(x)
    if channels == filters and stride == 1:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x
