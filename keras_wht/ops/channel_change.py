"""Changing the channel count around a WHT layer, as the authors' code does.

To grow, windows of `window` input channels at evenly spaced offsets (overlapping when
there are more windows than fit side by side) are concatenated. To shrink, groups of
C_in // C_out adjacent channels are averaged and the result truncated to C_out. No
parameters either way.
"""

import numpy as np
import tensorflow as tf

from keras_wht import _checks
from keras_wht.ops.fwht import crop, shape_target, take


def window_offsets(channels_in, window, count):
    """Start of each of `count` windows of `window` channels, evenly spread over the input."""
    last = max(channels_in - window, 0)
    if count == 1:
        return np.zeros(1, dtype=np.int64)
    return np.round(np.linspace(0, last, count)).astype(np.int64)


def change_channels(x, channels, *, window=None):
    """Maps the last axis of `x` from C_in to `channels` channels.

    Args:
        x: tensor whose last axis (the channels) has a static length C_in.
        channels: the output channel count.
        window: when growing, the width of each window of input channels (default:
            C_in). The output is ceil(channels / window) windows, truncated to
            `channels`. Inputs narrower than a window are zero-padded first.

    Returns:
        `x` unchanged when channels == C_in, else a tensor with `channels` channels.
    """
    x = tf.convert_to_tensor(x)
    c_in = x.shape[-1]
    if c_in is None:
        raise ValueError(f"change_channels needs a known channel count, got shape {x.shape}.")
    channels = _checks.positive_int("channels", channels)
    window = _checks.positive_int("window", c_in if window is None else window)
    if channels == c_in:
        return x
    if channels < c_in:
        group = c_in // channels
        groups = tf.reshape(crop(x, group * channels), shape_target(x, last=(channels, group)))
        y = tf.reduce_mean(groups, axis=-1)
        y.set_shape(x.shape[:-1].concatenate([channels]))
        return y
    if c_in < window:
        x = tf.pad(x, [[0, 0]] * (x.shape.rank - 1) + [[0, window - c_in]])
    count = -(-channels // window)
    offsets = window_offsets(max(c_in, window), window, count)
    # Contiguous slices, concatenated: TFLite's XNNPACK delegate takes SLICE and
    # CONCATENATION, not GATHER (which was 4x slower than the 1x1 convolution it replaces).
    ends = [min(int(o) + window, int(o) + channels - i * window) for i, o in enumerate(offsets)]
    last = x.shape.rank - 1
    return tf.concat([take(x, {last: (int(o), end)}) for o, end in zip(offsets, ends)], axis=-1)
