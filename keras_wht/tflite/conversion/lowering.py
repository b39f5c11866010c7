"""How the WHT layers lower to keras-wht's custom ops (convert(custom_ops=True)).

While `markers(model)` is active, each WHT layer the kernels cover computes its core
(transform, smooth threshold, inverse: `BinaryLayer.core`) as one marker op that TFLite
lacks, `tf.math.igamma(k, x)` with k a float constant. TensorFlow's converter keeps the
marker as a CUSTOM operator named after it (k its first input), and `replace_markers`
swaps marker k for a KerasWht1D or KerasWht2D operator with the options and trained
parameters of the layer planned as k. The layers themselves know nothing of this: the
swap is an attribute of the layer object, set here and removed when the block ends.

A WHT2D layer that widens its input with parameters shared by all channels lowers in a
cheaper order that computes the same numbers: its op and pooling run on the input's
channels and the copies are made after them. Widening only repeats input channels, and
a repeated channel transforms and pools as its original does, so the op does
C_in / filters of the work (half, in ResNet20's stride-2 blocks). A WHT1D layer that
narrows its input lowers with the narrowing (the means of groups of channels) inside its
op, which reads the input's channels (option `channels`). A WHT1D layer that grows its
input lowers with the windows copied before its op and the crop after it: its Keras call
copies after the transform (one window's work), but then the op's output feeds a
concatenation that quantization-aware training learnt no range for, and in a QAT model
the op and the copies ran in float between a DEQUANTIZE and a QUANTIZE; copied first,
the copies, the op and the crop all stay int8.
"""

import contextlib
import dataclasses
import functools
import warnings

import numpy as np
import tensorflow as tf

from keras_wht._keras import walk_layers
from keras_wht.layers import WHT1D, WHT2D
from keras_wht.ops.channel_change import change_channels
from keras_wht.ops.fwht import crop
from keras_wht.ops.hadamard import natural_order
from keras_wht.tflite import contract
from keras_wht.tflite.conversion import rewrite
from keras_wht.tflite.runtime import flatbuffer

MARKER = "Igamma"  # the custom code TensorFlow's converter gives tf.math.igamma


@dataclasses.dataclass
class Plan:
    """How one WHT layer lowers: the op and its options, or `reason` it stays builtin ops."""

    layer: object
    op: contract.Op = None
    options: dict = None
    reason: str = None

    def parameters(self):
        """(scale, threshold) as float32 arrays in natural (Hadamard) coefficient order, as
        the kernels take them."""
        axes = 2 if isinstance(self.layer, WHT2D) else 1
        return tuple(np.ascontiguousarray(self._ordered(np.asarray(w, dtype=np.float32), axes))
                     for w in (self.layer.scale.numpy(), self.layer.threshold.numpy()))

    def _ordered(self, values, axes):
        return natural_order(values, axes) if self.layer.order == "sequency" else values


def plan(layer):
    """The Plan for a built WHT1D or WHT2D layer of a float32 model (convert lowers the
    float32 twin of a mixed-precision one): its block comes from its weights' shape
    ((block,) for WHT1D, (b_h, b_w[, channels]) for WHT2D)."""
    if not layer.built:
        raise ValueError(
            f"convert(custom_ops=True): layer {layer.name!r} is not built, so its blocks are not known: give the "
            "model a keras.Input, or call model.build(input_shape) or the model on data first."
        )
    shape = tuple(int(d) for d in layer.scale.shape)
    if isinstance(layer, WHT2D):
        op, options = contract.WHT2D_OP, {"block_h": shape[0], "block_w": shape[1],
                                          "per_channel": layer.per_channel, "residual": layer.residual}
        elements = shape[0] * shape[1]
    else:
        op, options, elements = contract.WHT1D_OP, {"block": shape[-1], "residual": layer.residual}, shape[-1]
        if _narrows(layer):
            options["channels"] = layer._channels
    if elements > contract.MAX_BLOCK_ELEMENTS:
        return Plan(layer, reason=f"blocks of {elements} elements exceed the kernels' {contract.MAX_BLOCK_ELEMENTS}")
    return Plan(layer, op, contract.check_options(op, options))


def wht_layers(model):
    """The WHT1D and WHT2D layers of `model` (nested models included), each once."""
    seen = {}
    for layer in walk_layers(model):
        if isinstance(layer, (WHT1D, WHT2D)):
            seen.setdefault(id(layer), layer)
    return list(seen.values())


@contextlib.contextmanager
def markers(model):
    """While active, the WHT layers of `model` that the kernels cover trace their cores
    as markers. Yields the plans: marker k stands for plans[k]."""
    plans = [plan(layer) for layer in wht_layers(model)]
    marked = []
    try:
        for key, p in enumerate(plans):
            if p.reason is None:
                # In the instance's own dict, past Keras' attribute tracking; popped below.
                vars(p.layer)["core"] = functools.partial(_marker, float(key))
                if isinstance(p.layer, WHT2D) and not p.layer.per_channel:
                    vars(p.layer)["call"] = functools.partial(_widened_after, p.layer, float(key))
                elif _narrows(p.layer):
                    vars(p.layer)["call"] = functools.partial(_narrowed_inside, p.layer, float(key))
                elif _grows(p.layer):
                    vars(p.layer)["call"] = functools.partial(_grown_before, p.layer, float(key))
                marked.append(p.layer)
        yield plans
    finally:
        for layer in marked:
            vars(layer).pop("core", None)
            vars(layer).pop("call", None)


def _marker(key, x):
    return tf.math.igamma(tf.constant(key, dtype=x.dtype), x)


def _widened_after(layer, key, inputs, **kwargs):
    """WHT2D.call of a layer with shared parameters, with a channel growth moved after the
    op and the pooling (residual layers never change their channel count)."""
    if layer._filters <= inputs.shape[-1]:
        return type(layer).call(layer, inputs, **kwargs)
    y = _marker(key, inputs)
    if layer.strides != (1, 1):
        y = tf.nn.avg_pool2d(y, layer.strides, layer.strides, "SAME")
    return change_channels(y, layer._filters)


def _narrows(layer):
    """Whether `layer` is a WHT1D with fewer output channels than input channels."""
    return isinstance(layer, WHT1D) and layer._units < layer._c_in


def _narrowed_inside(layer, key, inputs, **kwargs):
    """WHT1D.call of a narrowing layer with the channel shrink inside its op: the marker
    takes the input's channels, and the slice to the output's, which tells the converter
    the output's shape, is folded into the op by replace_markers."""
    x = inputs
    if layer.strides != (1, 1):
        x = x[:, :: layer.strides[0], :: layer.strides[1], :]
    return _marker(key, x)[..., : layer._channels]


def _grows(layer):
    """Whether `layer` is a WHT1D with more output channels than input channels."""
    return isinstance(layer, WHT1D) and layer._units > layer._c_in


def _grown_before(layer, key, inputs, **kwargs):
    """WHT1D.call of a growing layer with the windows copied before its op, as the layer
    did before it learnt to copy after the transform; the same numbers."""
    x = inputs
    if layer.strides != (1, 1):
        x = x[:, :: layer.strides[0], :: layer.strides[1], :]
    y = _marker(key, change_channels(x, layer._channels, window=layer._block))
    return crop(y, layer._units)


def replace_markers(content, plans):
    """`content` with every marker swapped for its KerasWht1D/KerasWht2D operator, the
    options as a flexbuffer map and the parameters as constant inputs, and the batch norm
    and activation after it folded in (rewrite.fold_epilogues); warns about the layers
    left to builtin ops."""
    from flatbuffers import flexbuffers

    for p in sorted((p for p in plans if p.reason is not None), key=lambda p: p.layer.name):
        warnings.warn(f"convert(custom_ops=True): layer {p.layer.name!r} stays in builtin TFLite ops: {p.reason}.",
                      stacklevel=4)
    replacements = {}
    for key, p in enumerate(plans):
        if p.reason is None:
            scale, threshold = p.parameters()
            replacements[key] = (p.op.name, flexbuffers.Dumps(p.options), [("scale", scale), ("threshold", threshold)])
    content, found = rewrite.replace_custom_operators(content, MARKER, replacements)
    content, folded = rewrite.fold_channel_slices(content, contract.WHT1D_OP.name, "channels")
    content, _ = rewrite.fold_epilogues(content, contract.OPS)
    missing = sorted({p.layer.name for k, p in enumerate(plans) if p.reason is None and k not in found})
    if missing:
        raise RuntimeError(f"convert(custom_ops=True) found no custom operator for layer(s) {missing}.")
    narrowing = sorted(p.layer.name for k, p in enumerate(plans) if p.reason is None and "channels" in p.options)
    if folded != sum(found.count(k) for k, p in enumerate(plans) if p.reason is None and "channels" in p.options):
        raise RuntimeError(f"convert(custom_ops=True) could not put the channel narrowing of layer(s) {narrowing} "
                           "into their ops (no slice to their output's channels followed them).")
    return content


def check_only_wht_ops(content):
    """Raises a ValueError naming the custom operators of `content` that are not
    keras-wht's: TensorFlow ops of the model that TFLite lacks, which the converter lets
    through as custom ops once custom ops are allowed. The stock conversion refuses them."""
    others = sorted(set(flatbuffer.custom_operators(content)) - set(contract.OPS))
    if others:
        raise ValueError(
            f"convert(custom_ops=True): the model uses TensorFlow op(s) that TFLite has no builtin operator for: "
            f"{', '.join(others)}. Only the WHT layers become custom ops; replace those ops, or convert with "
            "TensorFlow's own converter and SELECT_TF_OPS (which needs the Flex delegate on the device)."
        )
