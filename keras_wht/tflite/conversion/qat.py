"""Quantization-aware training of models with WHT layers (tensorflow-model-optimization).

tfmot works only with tf_keras: run with TF_USE_LEGACY_KERAS=1. Its `quantize_model`
knows the Keras layers only; `quantize_model` here annotates the WHT layers with
`WHTQuantizeConfig` and everything else as tfmot would, then applies quantization.
Convert the trained model with `keras_wht.tflite.convert(model, quantize="qat")`. Save
QAT models as .h5 and load them inside `quantize_scope()`: tfmot's own QuantizeLayer does
not reload from .keras files (with or without WHT layers).
"""

from keras_wht._keras import LEGACY, keras

if not LEGACY:
    raise ImportError(
        "keras_wht.tflite.qat needs tf_keras, as tensorflow-model-optimization does: set "
        "TF_USE_LEGACY_KERAS=1 before importing TensorFlow (and pip install tf-keras "
        "tensorflow-model-optimization)."
    )

import tensorflow_model_optimization as tfmot  # noqa: E402

from keras_wht.layers.binary_layer import BinaryLayer  # noqa: E402
from keras_wht.layers.smooth_threshold import SmoothThreshold  # noqa: E402

_quant = tfmot.quantization.keras


@keras.saving.register_keras_serializable(package="keras_wht")
class WHTQuantizeConfig(_quant.QuantizeConfig):
    """QAT for a WHT layer: its output is fake-quantized to int8 (unless `quantize_output`
    is False), its transform and smooth threshold stay float, as in
    keras_wht.tflite.convert's int8 models (their coefficients span too wide a range for
    one int8 scale). The scale and threshold weights are a few hundred numbers and stay
    float too. `quantize_model` also gives it to a batch norm after a WHT layer.

    Example (under TF_USE_LEGACY_KERAS=1):
        layer = tfmot.quantization.keras.quantize_annotate_layer(WHT2D(), WHTQuantizeConfig())
    """

    def __init__(self, quantize_output=True):
        self.quantize_output = bool(quantize_output)

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        if not self.quantize_output:
            return []
        return [_quant.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False,
                                                         narrow_range=False)]

    def get_config(self):
        return {"quantize_output": self.quantize_output}


def quantize_scope():
    """tfmot's quantize_scope with the WHT layers and their config, for loading QAT models."""
    from keras_wht.layers import WHT1D, WHT2D

    return _quant.quantize_scope({"WHTQuantizeConfig": WHTQuantizeConfig, "WHT1D": WHT1D, "WHT2D": WHT2D,
                                  "SmoothThreshold": SmoothThreshold})


def quantize_model(model):
    """tfmot.quantization.keras.quantize_model for Sequential or functional models that
    contain WHT layers: returns the quantization-aware model, with the trained weights.

    A WHT layer's output is fake-quantized to int8, unless a batch norm alone takes it:
    then the WHT layer and the batch norm compute in float together, and the batch norm's
    output is fake-quantized, or that of the ReLU or activation alone after it, as tfmot
    does for a convolution, its batch norm and its ReLU. convert(quantize="int8") keeps the
    same pairs in float: quantizing between them costs accuracy, since the batch norm
    scales each channel by 1/sqrt(variance) and amplifies the int8 rounding of the
    channels of small variance."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a tf_keras Model, got {type(model).__name__}.")

    configs = _configs(model)

    def annotate(layer):
        clone = layer.__class__.from_config(layer.get_config())
        if layer.name in configs:
            return _quant.quantize_annotate_layer(clone, configs[layer.name])
        return clone

    annotated = keras.models.clone_model(model, clone_function=annotate)
    for source, target in zip(model.layers, annotated.layers):
        weights = source.get_weights()
        if weights:
            (target.layer if hasattr(target, "layer") else target).set_weights(weights)
    with quantize_scope():
        return _quant.quantize_apply(_quant.quantize_annotate_model(annotated))


def _configs(model):
    """{layer name: WHTQuantizeConfig} for the WHT layers of `model` and the batch norms
    after them (tfmot handles a batch norm only after a convolution or dense layer)."""
    consumers = {}
    for layer in model.layers:
        for node in layer.inbound_nodes:
            inbound = node.inbound_layers
            for source in inbound if isinstance(inbound, list) else [inbound]:
                consumers.setdefault(source.name, []).append(layer)

    def alone_after(layer, kinds):
        after = consumers.get(layer.name, [])
        return len(after) == 1 and isinstance(after[0], kinds)

    configs = {}
    for layer in model.layers:
        if isinstance(layer, (BinaryLayer, SmoothThreshold)):
            configs[layer.name] = WHTQuantizeConfig(
                quantize_output=not alone_after(layer, keras.layers.BatchNormalization))
            for norm in consumers.get(layer.name, []):
                if isinstance(norm, keras.layers.BatchNormalization):
                    configs[norm.name] = WHTQuantizeConfig(
                        quantize_output=not alone_after(norm, (keras.layers.ReLU, keras.layers.Activation)))
    return configs
