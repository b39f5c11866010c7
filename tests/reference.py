"""Independent NumPy references for the method of SPEC section 1.

Written from the paper's formulas with scipy.linalg.hadamard and plain loops; nothing here
imports keras_wht, so a test comparing against it checks the library, not itself.
"""

import math

import numpy as np
import scipy.linalg


def walsh(n, order="hadamard"):
    """H_n in natural order, or with rows sorted by their number of sign changes."""
    h = scipy.linalg.hadamard(n).astype(np.float64)
    if order == "sequency":
        changes = [int(np.count_nonzero(np.diff(row))) for row in h]
        h = h[np.argsort(changes, kind="stable")]
    return h


def next_pow2(n):
    return 1 << (n - 1).bit_length()


def fwht(x, axes=(-1,), blocks=None, order="hadamard", normalize=True):
    """Block WHT along each axis; zero-pads each axis to a multiple of its block."""
    x = np.asarray(x, dtype=np.float64)
    axes = [a % x.ndim for a in axes]
    blocks = blocks or [None] * len(axes)
    for ax, b in zip(axes, blocks):
        n = x.shape[ax]
        b = b or next_pow2(n)
        m = math.ceil(n / b) * b
        y = np.moveaxis(x, ax, -1)
        y = np.concatenate([y, np.zeros(y.shape[:-1] + (m - n,))], axis=-1)
        out = np.empty_like(y)
        h = walsh(b, order) / (math.sqrt(b) if normalize else 1.0)
        for start in range(0, m, b):
            out[..., start:start + b] = y[..., start:start + b] @ h.T
        x = np.moveaxis(out, -1, ax)
    return x


def smooth_threshold(x, scale, threshold):
    z = x * scale
    return np.tanh(z) * np.maximum(np.abs(z) - threshold, 0.0)


def change_channels(x, c_out, window=None):
    """SPEC: grow by windows at evenly spaced offsets; shrink by averaging groups, truncate."""
    c_in = x.shape[-1]
    if c_out == c_in:
        return x
    if c_out < c_in:
        g = c_in // c_out
        pooled = [x[..., k * g:(k + 1) * g].mean(axis=-1) for k in range(c_in // g)]
        return np.stack(pooled[:c_out], axis=-1)
    window = window or c_in
    if c_in < window:
        x = np.concatenate([x, np.zeros(x.shape[:-1] + (window - c_in,))], axis=-1)
    width = x.shape[-1]
    count = math.ceil(c_out / window)
    starts = [0] if count == 1 else [round(k * (width - window) / (count - 1)) for k in range(count)]
    return np.concatenate([x[..., s:s + window] for s in starts], axis=-1)[..., :c_out]


def wht1d(x, scale, threshold, units=None, block=None, strides=1, residual=False, order="hadamard"):
    x = np.asarray(x, dtype=np.float64)[:, ::strides, ::strides, :]
    c_in = x.shape[-1]
    units = units or c_in
    if units > c_in:
        b = block or next_pow2(c_in)
        y = change_channels(x, math.ceil(units / b) * b, window=b)
    else:
        y = change_channels(x, units)
        b = block or next_pow2(units)
    t = fwht(y, (-1,), [b], order)
    shape = t.shape
    t = smooth_threshold(t.reshape(shape[:-1] + (shape[-1] // b, b)), scale, threshold).reshape(shape)
    out = fwht(t, (-1,), [b], order)[..., :units]
    return out + x if residual else out


def avg_pool_same(x, s):
    """s x s average pooling with stride s and "same" padding (padding not counted)."""
    n, h, w, c = x.shape
    out = np.zeros((n, math.ceil(h / s), math.ceil(w / s), c))
    pad_h = max((out.shape[1] - 1) * s + s - h, 0) // 2
    pad_w = max((out.shape[2] - 1) * s + s - w, 0) // 2
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            r0, c0 = max(i * s - pad_h, 0), max(j * s - pad_w, 0)
            r1, c1 = min(i * s - pad_h + s, h), min(j * s - pad_w + s, w)
            out[:, i, j, :] = x[:, r0:r1, c0:c1, :].mean(axis=(1, 2))
    return out


def wht2d(x, scale, threshold, filters=None, block=None, strides=1, residual=False, order="hadamard"):
    """`scale`/`threshold` of shape (b_h, b_w) or (b_h, b_w, filters) (per channel)."""
    x = np.asarray(x, dtype=np.float64)
    n, h, w, c_in = x.shape
    filters = filters or c_in
    bh, bw = block or (next_pow2(h), next_pow2(w))
    y = change_channels(x, filters)
    t = fwht(y, (1, 2), [bh, bw], order)
    if scale.ndim == 2:
        scale, threshold = scale[..., None], threshold[..., None]
    for i in range(0, t.shape[1], bh):
        for j in range(0, t.shape[2], bw):
            t[:, i:i + bh, j:j + bw, :] = smooth_threshold(t[:, i:i + bh, j:j + bw, :], scale, threshold)
    out = fwht(t, (1, 2), [bh, bw], order)[:, :h, :w, :]
    if residual:
        out = out + x
    return avg_pool_same(out, strides) if strides > 1 else out
