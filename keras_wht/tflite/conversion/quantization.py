"""int8 models with WHT layers: everything int8 except the WHT layers, which compute in
float32 between a dequantize and a quantize (their transform coefficients span too wide a
range for one int8 scale: the DC term dwarfs the rest; quantizing them costs MobileNetV2
`paper-540k` 72 points of digits accuracy)."""

import tensorflow as tf

from keras_wht._keras import walk_layers
from keras_wht.layers import SmoothThreshold, WHT1D, WHT2D
from keras_wht.tflite.conversion import calibration, compat, lowering, rewrite, signature
from keras_wht.tflite.runtime import custom_ops as native
from keras_wht.tflite.runtime import flatbuffer


def custom_ops_before_calibration(converter, plans):
    """Makes the converter put in the custom ops before it calibrates, and calibrate with
    the kernels registered, so the int8 model keeps each WHT layer as one op (int8 input
    and output) and its neighbours are calibrated on what the kernels compute."""
    compat.calibrate_with_custom_ops(converter, native.custom_op_registerers())
    compat.quantize_after(converter, lambda content: lowering.replace_markers(content, plans))


def wht_layers_in_float(model, converter, content, io_dtype, samples):
    """`content` quantized again with every node inside a WHT layer left in float32
    (TFLite's selective quantization), with int8 inputs and outputs if `io_dtype` says so."""
    names = sorted({layer.name for layer in walk_layers(model) if isinstance(layer, (WHT1D, WHT2D, SmoothThreshold))})
    if not names:
        return content
    nodes = compat.layer_nodes(flatbuffer.tensor_names(content), names)
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=nodes)
    # Making the debugger converts the model again.
    debugger = compat.quietly(lambda: tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=calibration.by_name(samples, model), debug_options=options
    ))
    content = compat.quietly(debugger.get_nondebug_quantized_model)
    if io_dtype == "int8":
        # Selective quantization keeps a float interface; make it int8 as asked (the ranges
        # come in the Keras model's order).
        content = rewrite.int8_interface(signature.keras_order(content, model), *calibration.ranges(model, samples))
    return content
