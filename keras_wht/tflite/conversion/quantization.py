"""int8 models with WHT layers, in three steps: TensorFlow's calibration, the ranges
measured again where its calibrator records them wrong, then quantization.

The transform coefficients inside a WHT layer span too wide a range for one int8 scale
(the DC term dwarfs the rest; quantizing them costs MobileNetV2 `paper-540k` 72 points of
digits accuracy), so no int8 tensor holds them. With builtin ops, each WHT layer and the
batch norm after it compute in float32 between a dequantize and a quantize. With custom
ops, each op takes and gives int8 tensors, the batch norm and activation after it folded
in, and its kernel keeps the coefficients in float registers.
"""

from keras_wht._keras import walk_layers
from keras_wht.layers import SmoothThreshold, WHT1D, WHT2D
from keras_wht.tflite import contract
from keras_wht.tflite.conversion import calibration, compat, lowering, rewrite, signature
from keras_wht.tflite.runtime import custom_ops as native
from keras_wht.tflite.runtime import flatbuffer


def calibrated(converter, plans=None):
    """`converter`'s model converted and calibrated, not quantized: a float model whose
    activation tensors carry the min and max TFLite's calibrator recorded. With `plans`
    (lowering.markers) the custom ops go in before calibration and are calibrated with
    the kernels registered, so their neighbours are calibrated on what the kernels compute."""
    compat.calibrate_only(converter)
    if plans is not None:
        compat.calibrate_with_custom_ops(converter, native.custom_op_registerers())
        compat.quantize_after(converter, lambda content: lowering.replace_markers(content, plans))
    return compat.quietly(converter.convert)


def int8(model, content, samples, io_dtype, *, lowered=()):
    """The int8 model of `content` (from `calibrated`): the ranges measured on `samples`
    (calibration.measured_ranges), and int8 inputs and outputs if `io_dtype` says so.
    `lowered`: the WHT layers that are custom ops in `content` (convert(custom_ops=True)).

    With builtin ops, each WHT layer and the batch norm after it compute in float between
    a DEQUANTIZE and a QUANTIZE. The batch norm stays in float with its WHT layer because
    it scales each channel by 1/sqrt(variance): quantizing the layer's output per tensor
    before that scaling leaves the channels of small variance a few int8 steps, which the
    scaling then amplifies (1.2-2.5 steps RMS at the batch-norm MULs of MobileNetV2
    `paper-540k`, 4 to 8 points of digits accuracy).

    With custom ops, the batch norm and activation are folded into the op
    (lowering.replace_markers), so its output is quantized after them, as a convolution's
    is; each op next to int8 tensors reads and writes int8, and the window copies and crops
    around it run in int8 on its grid (exact). A batch norm that could not be folded stays
    in float with its op, as above."""
    content = rewrite.with_ranges(content, calibration.measured_ranges(content, samples, model))
    ranges = rewrite.calibrated_ranges_by_name(content)
    custom_ops = any(lowered)
    # The layers in builtin ops, kept in float by name. A custom op is found by its code:
    # its output need not be named after its layer (a model's output is not), and a
    # layer's name may be another layer's scope (MobileNetV3's WHT1D "conv_1" and its stem
    # convolution "conv", traced as "conv_1": matched by name, the stem would stay float).
    done = {id(layer) for layer in lowered}
    names = sorted({layer.name for layer in walk_layers(model)
                    if isinstance(layer, (WHT1D, WHT2D, SmoothThreshold)) and id(layer) not in done})
    nodes = compat.layer_nodes(flatbuffer.tensor_names(content), names, required=not custom_ops) if names else []
    content = compat.quantize_calibrated(content, rewrite.float_region(content, nodes, contract.OPS if custom_ops
                                                                       else ()))
    if io_dtype == "int8":
        # The quantizer keeps a float interface; make it int8 as asked (the ranges come in
        # the Keras model's order).
        content = rewrite.int8_interface(signature.keras_order(content, model), *calibration.ranges(model, samples))
    if custom_ops:
        content = rewrite.int8_pass_through(rewrite.int8_custom_operators(content, contract.OPS, ranges),
                                           ranges)
    return content
