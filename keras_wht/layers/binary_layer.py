"""What WHT1D and WHT2D share: a transform, a SmoothThreshold, the inverse transform."""

import contextlib

import numpy as np
import tensorflow as tf

from keras_wht import _checks
from keras_wht._keras import keras
from keras_wht.initializers import ThresholdRamp
from keras_wht.layers.smooth_threshold import SmoothThreshold, _check_float_policy
from keras_wht.ops.hadamard import ORDERS, sequency_permutation


# The largest block (1-D) or tile (2-D), in elements, that the native kernels take.
CUSTOM_OP_MAX_BLOCK = 1 << 16
_custom_op_records = None


@contextlib.contextmanager
def custom_op_export():
    """While active, each WHT layer traced marks its core (transform, threshold, inverse)
    for keras_wht.tflite.convert(custom_ops=True): the marker is `tf.math.igamma(k, x)`
    with k a float constant, an op TFLite lacks, which the converter keeps as a CUSTOM
    operator (k its first input) and the flatbuffer rewrite makes a KerasWht1D/2D op.

    Yields a list that receives, for each marker k, the layer and what the op needs, or
    for layers left to builtin ops, the reason.
    """
    global _custom_op_records
    previous, _custom_op_records = _custom_op_records, []
    try:
        yield _custom_op_records
    finally:
        _custom_op_records = previous


class CustomOpRecord:
    """One traced marker: the layer, the op's name and flexbuffer options; `reason` is
    set instead for a layer kept as builtin ops."""

    def __init__(self, layer, op=None, options=None, reason=None):
        self.layer, self.op, self.options, self.reason = layer, op, options, reason

    def parameters(self):
        """(scale, threshold) as float32 arrays in natural (Hadamard) coefficient order."""
        return tuple(self.layer._natural_order(np.asarray(w, dtype=np.float32))
                     for w in (self.layer.scale.numpy(), self.layer.threshold.numpy()))


class BinaryLayer(keras.layers.Layer):
    """Base of the paper's "binary" layers: fwht -> SmoothThreshold -> fwht on NHWC inputs.

    Subclasses say which axes the thresholds cover (`threshold_axis`, counted in the
    transform-domain tensor the subclass builds) and implement build/call.
    """

    def __init__(
        self,
        *,
        strides,
        residual,
        order,
        scale_initializer,
        threshold_initializer,
        scale_regularizer,
        threshold_regularizer,
        threshold_axis,
        ramp_axes=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_float_policy(self)
        self.strides = _checks.int_pair("strides", strides, _checks.positive_int)
        if not isinstance(residual, bool):
            raise ValueError(f"`residual` must be True or False, got {residual!r}.")
        self.residual = residual
        self.order = _checks.one_of("order", order, ORDERS)
        self.smooth_threshold = SmoothThreshold(
            axis=threshold_axis,
            scale_initializer=scale_initializer,
            threshold_initializer=(
                ThresholdRamp(axes=ramp_axes) if threshold_initializer is None else threshold_initializer
            ),
            scale_regularizer=scale_regularizer,
            threshold_regularizer=threshold_regularizer,
            dtype=self.dtype_policy,
            name="smooth_threshold",
        )
        self._default_ramp = threshold_initializer is None

    @property
    def scale(self):
        """The trainable scale w of the smooth threshold (transform-domain shape)."""
        return self.smooth_threshold.scale

    @property
    def threshold(self):
        """The trainable, non-negative threshold T of the smooth threshold."""
        return self.smooth_threshold.threshold

    def _checked_input_shape(self, input_shape, *, spatial):
        shape = tuple(tf.TensorShape(input_shape).as_list())
        name = type(self).__name__
        if len(shape) != 4:
            raise ValueError(
                f"{name} expects inputs of rank 4 (batch, height, width, channels), got shape {shape}."
            )
        if shape[-1] is None:
            raise ValueError(f"{name} needs a known channel count, got input shape {shape}.")
        if spatial and None in shape[1:3]:
            raise ValueError(
                f"{name} needs a known height and width (the transform runs over them), got input "
                f"shape {shape}: give keras.Input a static spatial shape."
            )
        return shape

    def _check_residual(self, channels_in, channels_out, argument):
        if self.residual and channels_in != channels_out:
            raise ValueError(
                f"`residual=True` adds the input to the output, so `{argument}` must equal the "
                f"input channels ({channels_in}), got {argument}={channels_out}."
            )

    def _custom_op(self, x, op, options, block_elements):
        """x through the layer's core as a custom-op marker when a conversion asks for one
        and the kernels cover this layer; else None (the caller computes with TF ops)."""
        if _custom_op_records is None:
            return None
        reason = None
        if self.compute_dtype != "float32":
            reason = f"the kernels compute in float32, the layer in {self.compute_dtype}"
        elif block_elements > CUSTOM_OP_MAX_BLOCK:
            reason = f"blocks of {block_elements} elements exceed the kernels' {CUSTOM_OP_MAX_BLOCK}"
        if reason is not None:
            _custom_op_records.append(CustomOpRecord(self, reason=reason))
            return None
        key = len(_custom_op_records)
        _custom_op_records.append(CustomOpRecord(self, op, options))
        return tf.math.igamma(tf.constant(float(key), dtype=x.dtype), x)

    def _natural_order(self, values):
        """Parameters of sequency-ordered coefficients, rearranged for natural order: the
        layer computes W S_p(W x) with W = P H / sqrt(n) symmetric, which equals
        H S_q(H x) / n with q[perm[k]] = p[k] (perm: sequency -> natural row)."""
        if self.order != "sequency":
            return values
        out = np.empty_like(values)
        axes = min(values.ndim, 2)  # (block,), (N_h, N_w) or (N_h, N_w, channels)
        out[np.ix_(*[sequency_permutation(values.shape[a]) for a in range(axes)])] = values
        return out

    def _output_spatial(self, height, width):
        return tuple(None if d is None else -(-d // s) for d, s in zip((height, width), self.strides))

    def get_config(self):
        config = super().get_config()
        st = self.smooth_threshold
        config.update(
            strides=list(self.strides),
            residual=self.residual,
            order=self.order,
            scale_initializer=keras.initializers.serialize(st.scale_initializer),
            threshold_initializer=(
                None if self._default_ramp else keras.initializers.serialize(st.threshold_initializer)
            ),
            scale_regularizer=keras.regularizers.serialize(st.scale_regularizer),
            threshold_regularizer=keras.regularizers.serialize(st.threshold_regularizer),
        )
        return config
