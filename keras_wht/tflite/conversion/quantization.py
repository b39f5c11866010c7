"""int8 models with WHT layers, in three steps: TensorFlow's calibration, the ranges
measured again where its calibrator records them wrong, then quantization.

Everything is int8 except the WHT layers and the batch norm after each, which compute in
float32 between a dequantize and a quantize (the transform coefficients span too wide a
range for one int8 scale: the DC term dwarfs the rest; quantizing them costs MobileNetV2
`paper-540k` 72 points of digits accuracy). A custom op that meets int8 tensors on both
sides (no batch norm after it) takes them directly, its kernel computing in float inside.
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


def int8(model, content, samples, io_dtype, *, custom_ops):
    """The int8 model of `content` (from `calibrated`): the ranges measured on `samples`
    (calibration.measured_ranges), each WHT layer and the batch norm after it in float,
    and int8 inputs and outputs if `io_dtype` says so.

    The batch norm stays in float with its WHT layer because it scales each channel by
    1/sqrt(variance): quantizing the layer's output per tensor before that scaling
    leaves the channels of small variance a few int8 steps, which the scaling then
    amplifies (1.2-2.5 steps RMS at the batch-norm MULs of MobileNetV2 `paper-540k`, 4 to
    8 points of digits accuracy). The channel changes around a custom op (pad, slice,
    mean) stay in float with it for the same reason: int8 there cost 2 points more."""
    content = rewrite.with_ranges(content, calibration.measured_ranges(content, samples, model))
    ranges = rewrite.calibrated_ranges_by_name(content)
    names = sorted({layer.name for layer in walk_layers(model) if isinstance(layer, (WHT1D, WHT2D, SmoothThreshold))})
    # With custom ops a WHT layer may be its op alone, whose output need not be named after
    # the layer (a model's output is not): the ops are found by their code.
    nodes = compat.layer_nodes(flatbuffer.tensor_names(content), names, required=not custom_ops)
    content = compat.quantize_calibrated(content, rewrite.float_region(content, nodes, ()))
    if custom_ops:
        content = rewrite.int8_pass_through(rewrite.int8_custom_operators_with_ranges(content, contract.OPS, ranges))
    if io_dtype == "int8":
        # The quantizer keeps a float interface; make it int8 as asked (the ranges come in
        # the Keras model's order).
        content = rewrite.int8_interface(signature.keras_order(content, model), *calibration.ranges(model, samples))
    return content
