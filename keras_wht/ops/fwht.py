"""The fast Walsh-Hadamard transform (FWHT) as TensorFlow graph ops."""

import math
import numbers

import tensorflow as tf

from keras_wht import _checks
from keras_wht.ops.hadamard import ORDERS, hadamard_matrix, sequency_permutation

METHODS = ("auto", "dense", "kronecker", "butterfly")

# Largest block that "auto" multiplies by one dense matrix, for the last axis and for an
# axis with elements after it; above it, two Kronecker factors win. Measured by
# benchmarks/fwht_formulations.py (table in benchmarks/FORMULATIONS.md).
DENSE_MAX_LAST = 64
DENSE_MAX_MIDDLE = 32


def fwht(x, axis=-1, *, block_size=None, normalize=True, order="hadamard", method="auto"):
    """Walsh-Hadamard transform of `x` along `axis`.

    Applies W = H_n / sqrt(n) (H_n the Sylvester Hadamard matrix) along each axis in
    `axis`. W is symmetric and orthogonal, so `fwht` is its own inverse; its gradient is
    the same transform of the incoming gradient (no dense n x n matrix for large n).

    An axis whose length is not a multiple of the block size (by default: not a power of
    two) is zero-padded at the end first, so the result is longer along that axis. Crop it
    back with `crop`: `crop(fwht(fwht(x)), n)` returns `x` for an axis of length n.

    Args:
        x: float tensor (float16, bfloat16, float32 or float64) of any rank.
        axis: int or tuple of ints: the axes to transform. Several axes give the
            separable multi-dimensional transform (axis=(1, 2) is the 2-D WHT of NHWC
            images).
        block_size: None, a power of two, or one per axis. None transforms the whole
            axis (padded to the next power of two). A block size b cuts the axis into
            contiguous blocks of b transformed independently (the block WHT), padding
            the axis to a multiple of b. b may not exceed the axis length rounded up to
            a power of two.
        normalize: divide by sqrt(n) (n the block size, or the product of the block
            sizes over several axes) so the transform is orthonormal. With False the
            result is H_n x, and applying it twice gives n x.
        order: "hadamard" (natural, Sylvester order) or "sequency" (Walsh order:
            coefficient k has k sign changes).
        method: "auto", "dense" (one matmul by H_b), "kronecker" (two matmuls by
            Kronecker factors of H_b) or "butterfly" (log2(b) stages of additions and
            subtractions). All give the same result; "auto" picks the fastest measured.

    Returns:
        A tensor of the dtype of `x`, of the shape of `x` padded as above.

    Example:
        >>> import numpy as np
        >>> y = fwht(np.array([1.0, 0.0, 0.0, 0.0], "float32"))
        >>> y.numpy().tolist()
        [0.5, 0.5, 0.5, 0.5]

    References:
        Pan, Badawi and Cetin, "Block Walsh-Hadamard Transform Based Binary Layers in
        Deep Neural Networks", ACM TECS 2022 (arXiv 2201.02711).
    """
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        raise TypeError(
            "`x` must have a floating-point dtype (float16, bfloat16, float32 or float64), "
            f"got {x.dtype.name}."
        )
    rank = x.shape.rank
    if not rank:
        raise ValueError(f"`x` must have rank >= 1 and a known rank, got shape {x.shape}.")
    axes = _checks.axes(axis, rank)
    blocks = _normalize_blocks(block_size, len(axes))
    _checks.one_of("order", order, ORDERS)
    _checks.one_of("method", method, METHODS)
    if not isinstance(normalize, bool):
        raise ValueError(f"`normalize` must be True or False, got {normalize!r}.")

    plan = []
    paddings = [[0, 0] for _ in range(rank)]
    for ax, b in zip(axes, blocks):
        n = x.shape[ax]
        if n is None:
            raise ValueError(
                f"fwht needs the length of axis {ax} when the graph is built, got shape "
                f"{x.shape}: give the input a static shape along the transformed axes."
            )
        if n == 0:
            raise ValueError(f"fwht needs a non-empty axis, got length 0 on axis {ax}.")
        b = fitted_block_size(n, b, name="block_size", where=f"axis {ax}")
        paddings[ax][1] = padded_length(n, b) - n
        plan.append((ax, b))
    if any(p[1] for p in paddings):
        x = tf.pad(x, paddings)
    scale = 1.0 / math.sqrt(math.prod(b for _, b in plan)) if normalize else 1.0
    return _transform(x, tuple(plan), order, scale, method)


def fitted_block_size(n, block_size, *, name="block_size", where="the axis"):
    """The block size used for an axis of length n: `block_size`, or n's power of two."""
    full = _checks.next_power_of_two(n)
    if block_size is None:
        return full
    if block_size > full:
        raise ValueError(
            f"`{name}`={block_size} does not fit {where} of length {n}: a block may be at "
            f"most {full} (the length rounded up to a power of two)."
        )
    return block_size


def padded_length(n, block_size):
    """The length fwht pads an axis of length n to: the next multiple of `block_size`."""
    return -(-n // block_size) * block_size


def crop(x, length, axis=-1):
    """The first `length` entries of `x` along `axis` (ints, or tuples of equal length).

    Undoes the zero padding of `fwht`: `crop(fwht(fwht(x, 1), 1), x.shape[1], 1)` is `x`.
    """
    x = tf.convert_to_tensor(x)
    axes = _checks.axes(axis, x.shape.rank)
    lengths = tuple(length) if isinstance(length, (tuple, list)) else (length,) * len(axes)
    if len(lengths) != len(axes):
        raise ValueError(f"`length` must give one length per axis {axes}, got {length!r}.")
    ranges = {ax: (0, _checks.positive_int("length", n)) for ax, n in zip(axes, lengths)}
    return take(x, ranges)


def take(x, ranges):
    """x[start:stop] along each axis of the dict `ranges` {axis: (start, stop)}, `x` itself
    when that is all of it.

    Its gradient is a Pad by constant amounts: TensorFlow's StridedSliceGrad took 2-5x as
    long on an inner axis, and a Slice's own gradient loses the static shape."""
    if any(x.shape[ax] is None for ax in ranges):  # slicing clamps a range to what is there
        index = [slice(None)] * x.shape.rank
        for ax, (start, stop) in ranges.items():
            index[ax] = slice(start, stop)
        return x[tuple(index)]
    begin = [0] * x.shape.rank
    size = [-1] * x.shape.rank
    for ax, (start, stop) in ranges.items():
        stop = min(stop, x.shape[ax])
        if (start, stop) != (0, x.shape[ax]):
            begin[ax], size[ax] = start, stop - start
    if size.count(-1) == len(size):
        return x
    paddings = [[0, 0] if n == -1 else [b, x.shape[ax] - b - n] for ax, (b, n) in enumerate(zip(begin, size))]

    index = tuple(slice(b, None if n == -1 else b + n) for b, n in zip(begin, size))

    @tf.custom_gradient
    def cut(t):
        return t[index], lambda dy: tf.pad(dy, paddings)

    return cut(x)


def _normalize_blocks(block_size, count):
    if isinstance(block_size, (tuple, list)):
        if len(block_size) != count:
            raise ValueError(
                f"`block_size` must be one value or one per axis ({count}), got {block_size!r}."
            )
        return tuple(_checks.power_of_two("block_size", b, allow_none=True) for b in block_size)
    return (_checks.power_of_two("block_size", block_size, allow_none=True),) * count


def _transform(x, plan, order, scale, method):
    # W is symmetric, so the gradient of y = W x is W dy: the same transform.
    @tf.custom_gradient
    def transform(t):
        def grad(dy):
            # The incoming gradient has the output's shape, which is t's; TensorFlow may
            # have lost its static dimensions on the way (a Pad gradient, a dynamic crop).
            return _apply(tf.ensure_shape(dy, t.shape), plan, order, scale, method)

        return _apply(t, plan, order, scale, method), grad

    return transform(x)


def _apply(x, plan, order, scale, method):
    for i, (ax, b) in enumerate(plan):
        x = _along_axis(x, ax, b, order, scale if i == 0 else 1.0, method)
    return x


def _along_axis(x, ax, b, order, scale, method):
    """Applies scale * H_b to each block of b along axis `ax` of x (already padded)."""
    dims = x.shape.as_list()
    outer = _product(dims[:ax])
    inner = _product(dims[ax + 1:])
    if outer is not None:
        outer *= dims[ax] // b
    if outer is None and inner is None:
        s = tf.shape(x)
        target = tf.stack([tf.reduce_prod(s[:ax]) * (dims[ax] // b), b, tf.reduce_prod(s[ax + 1:])])
    else:
        target = [-1 if outer is None else outer, b, -1 if inner is None else inner]
    y3 = _hadamard_middle(tf.reshape(x, target), b, inner, order, scale, method)
    return tf.reshape(y3, shape_target(x))


def _product(dims):
    return None if None in dims else math.prod(dims)


def shape_target(x, last=None):
    """x's shape, its last axis replaced by the dimensions `last` when given, as a reshape
    target that keeps every static dimension: a constant list with at most one -1 where
    it can be. TFLite then knows every tensor's shape before running (a target computed
    from tf.shape makes the tensors after it dynamic, and XNNPACK skips those)."""
    dims = x.shape.as_list()
    if last is not None:
        dims = dims[:-1] + list(last)
    if dims.count(None) <= 1:
        return [-1 if d is None else d for d in dims]
    if last is None:
        return tf.shape(x)
    return tf.concat([tf.shape(x)[:-1], list(last)], 0)


def choose_method(b, inner):
    """The formulation "auto" uses for blocks of b with `inner` elements after the axis."""
    return "dense" if b <= (DENSE_MAX_LAST if inner == 1 else DENSE_MAX_MIDDLE) else "kronecker"


def _hadamard_middle(x3, b, inner, order, scale, method):
    """scale * H_b (in `order`) along axis 1 of x3, of shape (outer, b, inner)."""
    if b == 1:
        return x3 * scale if scale != 1.0 else x3
    if method == "auto":
        method = choose_method(b, inner)
    if method == "dense":
        return _dense(x3, hadamard_matrix(b, order) * scale, inner)
    if method == "kronecker":
        y = _kronecker(x3, b, inner, scale)
    else:
        y = _butterfly(x3, b, scale)
    if order == "sequency":
        y = tf.gather(y, sequency_permutation(b), axis=1)
    return y


def _dense(x3, matrix, inner):
    h = tf.constant(matrix, dtype=x3.dtype)
    if inner == 1:
        # (outer, b) @ H: one plain matmul; H is symmetric.
        b = matrix.shape[0]
        return tf.reshape(tf.matmul(tf.reshape(x3, [-1, b]), h), [-1, b, 1])
    return tf.matmul(h, x3)  # H broadcast over the outer axis.


def _kronecker(x3, b, inner, scale):
    # H_b = H_a kron H_c with a * c = b: transform the c axis, then the a axis.
    a = 1 << ((b.bit_length() - 1) // 2)
    c = b // a
    r = inner if inner is not None else tf.shape(x3)[2]
    y = _dense(tf.reshape(x3, [-1, c, r]), hadamard_matrix(c), inner)
    y = _dense(tf.reshape(y, [-1, a, c * r]), hadamard_matrix(a) * scale,
               None if inner is None else c * inner)
    return tf.reshape(y, shape_target(x3))


def _butterfly(x3, b, scale):
    s = tf.shape(x3)
    y = x3
    half = 1
    while half < b:
        # Pairs (j, j + half) inside each run of 2 * half: one add/sub stage.
        u, v = tf.unstack(tf.reshape(y, tf.stack([s[0], b // (2 * half), 2, half * s[2]])), axis=2)
        y = tf.stack([u + v, u - v], axis=2)
        half *= 2
    y = tf.reshape(y, shape_target(x3))
    return y * scale if scale != 1.0 else y
