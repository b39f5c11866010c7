"""The converted model's inputs and outputs: in the Keras model's order, with its names."""

import warnings

import numpy as np
import tensorflow as tf

from keras_wht.tflite.conversion import compat, rewrite


def keras_order(content, model, source=None):
    """`content` with its inputs and outputs in the Keras model's order, and its signature
    inputs named as `source`'s (the user's model; `model` may be its float32 copy) input
    layers: the converter names them after the input tensors, which unnamed keras.Input
    calls name "keras_tensor_<n>" by a count that changes from run to run and is not saved
    in .keras files."""
    tensors, outputs = _signature_names(model)
    if len(tensors) > 1 or len(outputs) > 1:
        content, ordered_inputs, ordered_outputs = rewrite.io_order(content, tensors, outputs)
        unmatched = [side for side, names, done in (("inputs", tensors, ordered_inputs),
                                                    ("outputs", outputs, ordered_outputs))
                     if len(names) > 1 and not done]
        if unmatched and source is not None:
            warnings.warn(f"convert(): the TFLite model's {' and '.join(unmatched)} could not be matched to the "
                          f"Keras model's by name ({tensors}, {outputs}); they stay in the converter's order.",
                          stacklevel=3)
    if source is not None:
        names = input_names(source)
        if len(names) == len(tensors) and len(set(names)) == len(names) and names != tensors:
            content = rewrite.rename_inputs(content, dict(zip(tensors, names)))
    return content


def _signature_names(model):
    """(input names, output names) that TensorFlow's converter gives a Keras model's
    signature def, in the Keras model's order: the input tensors' names; the outputs'
    "output_<k>" (k their position), or a dict output's keys in flattening order."""
    inputs = tensor_names(model)
    outputs = list(getattr(model, "outputs", None) or [])
    try:
        structure = model.output
    except (AttributeError, ValueError):  # a model never called has no output structure
        structure = None
    if isinstance(structure, dict) and len(structure) == len(outputs):
        return inputs, sorted(structure)  # tf.nest and keras.tree flatten dicts by sorted key
    return inputs, [f"output_{k}" for k in range(len(outputs))]


def model_inputs(model):
    return list(getattr(model, "inputs", None) or [])


def tensor_names(model):
    """The names of `model`'s input tensors, in its order."""
    return [_tensor_name(t) for t in model_inputs(model)]


def _tensor_name(tensor):
    return str(getattr(tensor, "name", "")).split(":")[0]


def input_names(model):
    """The names of `model`'s input layers (the converted model's input names), in its order."""
    return [compat.input_layer_name(t) or _tensor_name(t) for t in model_inputs(model)]


def keras_outputs(model, inputs):
    """`model`'s outputs on `inputs` (one array per model input) as a list of arrays in
    `model.outputs` order."""
    return [np.asarray(o) for o in tf.nest.flatten(model(inputs if len(inputs) > 1 else inputs[0], training=False))]
