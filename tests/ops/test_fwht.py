import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_wht import ops
from tests import reference

METHODS = ["auto", "dense", "kronecker", "butterfly"]
ORDERS = ["hadamard", "sequency"]


def test_matches_scipy_hadamard_matrix():
    # The transform of the identity is the matrix itself.
    for n in (1, 2, 4, 8, 16, 64):
        for method in METHODS:
            got = ops.fwht(tf.eye(n, dtype=tf.float64), axis=0, method=method, normalize=False)
            np.testing.assert_array_equal(got.numpy(), scipy.linalg.hadamard(n))


def test_sequency_rows_have_increasing_sign_changes():
    got = ops.fwht(tf.eye(32, dtype=tf.float64), axis=-1, order="sequency", normalize=False).numpy()
    # Row k of the identity maps to column k of W; W is symmetric, so rows work too.
    changes = [int(np.count_nonzero(np.diff(np.sign(row)))) for row in got]
    assert changes == list(range(32))
    np.testing.assert_array_equal(got, reference.walsh(32, "sequency"))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(
    "shape, axis, block",
    [
        ((3, 16), -1, None),
        ((3, 16), 1, 4),
        ((2, 32, 5), 1, None),
        ((2, 32, 5), 1, 8),
        ((4, 5, 3), 0, None),  # length 4 on axis 0
        ((2, 5, 3), 1, None),  # padded 5 -> 8
        ((2, 12, 3), 1, 4),  # three blocks of 4
        ((2, 6, 3), 1, 4),  # padded 6 -> 8, two blocks
        ((2, 256), -1, None),
        ((2, 1024), -1, 32),
        ((1, 2048), -1, None),
        ((2, 1), -1, None),  # length 1: W_1 = [1]
    ],
)
def test_against_reference(shape, axis, block, order, method, rng):
    x = rng.standard_normal(shape)
    got = ops.fwht(tf.constant(x, tf.float32), axis=axis, block_size=block, order=order, method=method)
    want = reference.fwht(x, (axis,), [block], order)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("axes, blocks", [((1, 2), None), ((1, 2), (4, 2)), ((0, 3), (None, 2)), ((2, 1), None)])
def test_several_axes(axes, blocks, order, rng):
    x = rng.standard_normal((4, 8, 6, 4))
    got = ops.fwht(tf.constant(x), axis=axes, block_size=blocks, order=order)
    want = reference.fwht(x, axes, list(blocks) if blocks else None, order)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


def test_unnormalized_is_plain_hadamard(rng):
    x = rng.standard_normal((3, 8))
    got = ops.fwht(tf.constant(x), normalize=False)
    np.testing.assert_allclose(got.numpy(), x @ scipy.linalg.hadamard(8).T, atol=1e-12)
    twice = ops.fwht(got, normalize=False)
    np.testing.assert_allclose(twice.numpy(), 8 * x, atol=1e-10)


@pytest.mark.parametrize(
    "dtype, tolerance",
    [(tf.float16, 2e-2), (tf.bfloat16, 1e-1), (tf.float32, 1e-5), (tf.float64, 1e-12)],
)
@pytest.mark.parametrize("method", METHODS)
def test_dtypes(dtype, tolerance, method, rng):
    x = rng.standard_normal((3, 8, 128))
    got = ops.fwht(tf.cast(x, dtype), axis=(1, 2), method=method)
    assert got.dtype == dtype
    want = reference.fwht(x, (1, 2))
    np.testing.assert_allclose(tf.cast(got, tf.float64).numpy(), want, atol=tolerance * 4, rtol=tolerance)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("order", ORDERS)
def test_self_inverse_and_crop(method, order, rng):
    x = rng.standard_normal((2, 7, 5))
    once = ops.fwht(x, axis=(1, 2), block_size=(4, None), method=method, order=order)
    assert once.shape == (2, 8, 8)
    back = ops.crop(ops.fwht(once, axis=(1, 2), block_size=(4, None), method=method, order=order), (7, 5), (1, 2))
    np.testing.assert_allclose(back.numpy(), x, atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("order", ORDERS)
def test_gradient_against_numerical(method, order, rng):
    x = tf.constant(rng.standard_normal((2, 6, 4)))  # axis 1 is padded 6 -> 8

    def f(t):
        return ops.fwht(t, axis=(1, 2), block_size=(None, 2), method=method, order=order)

    theoretical, numerical = tf.test.compute_gradient(f, [x])
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)


def test_gradient_is_the_transform_of_the_upstream_gradient(rng):
    x = tf.constant(rng.standard_normal((3, 16)))
    upstream = tf.constant(rng.standard_normal((3, 16)))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = ops.fwht(x, order="sequency")
    np.testing.assert_allclose(tape.gradient(y, x, upstream).numpy(), ops.fwht(upstream, order="sequency").numpy())


def test_second_derivative(rng):
    x = tf.constant(rng.standard_normal((2, 8)))
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            loss = tf.reduce_sum(ops.fwht(x) ** 3)
        grad = inner.gradient(loss, x)
    hessian_diag_sum = outer.gradient(grad, x)
    # d/dx sum(3 (Wx)^2 W) = 6 W diag(Wx) W 1: compare with the NumPy formula.
    w = reference.walsh(8) / np.sqrt(8)
    y = x.numpy() @ w
    want = np.stack([6 * w @ np.diag(yi) @ w @ np.ones(8) for yi in y])
    np.testing.assert_allclose(hessian_diag_sum.numpy(), want, atol=1e-10)


@pytest.mark.parametrize("n", [1024, 4096])
def test_large_transforms_hold_no_dense_matrix(n, method="auto"):
    # The graph (forward and gradient) must not carry an n x n constant.
    @tf.function
    def f(t):
        with tf.GradientTape() as tape:
            tape.watch(t)
            y = ops.fwht(t, method=method)
        return y, tape.gradient(y, t)

    graph = f.get_concrete_function(tf.TensorSpec([None, n], tf.float32)).graph
    sizes = [
        tf.TensorShape(op.get_attr("value").tensor_shape).num_elements()
        for op in graph.get_operations()
        if op.type == "Const"
    ]
    assert max(sizes) <= 64 * 64


def test_dense_matrix_check_can_fail():
    with pytest.raises(AssertionError):
        test_large_transforms_hold_no_dense_matrix(1024, method="dense")


def test_xla_and_dynamic_batch(rng):
    @tf.function(jit_compile=True, input_signature=[tf.TensorSpec([None, 8, 8, 3], tf.float32)])
    def f(t):
        return ops.fwht(t, axis=(1, 2), block_size=4)

    for batch in (1, 5):
        x = rng.standard_normal((batch, 8, 8, 3)).astype(np.float32)
        np.testing.assert_allclose(f(x).numpy(), reference.fwht(x, (1, 2), [4, 4]), atol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_several_unknown_dimensions(method, rng):
    @tf.function(input_signature=[tf.TensorSpec([None, None, 16, None], tf.float32)])
    def f(t):
        return ops.fwht(t, axis=2, method=method)

    x = rng.standard_normal((2, 3, 16, 5)).astype(np.float32)
    np.testing.assert_allclose(f(x).numpy(), reference.fwht(x, (2,)), atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(1, 9), min_size=1, max_size=4),
    data=st.data(),
    order=st.sampled_from(ORDERS),
    method=st.sampled_from(METHODS),
)
def test_property_matches_reference_and_preserves_norm(shape, data, order, method):
    axis = data.draw(st.integers(0, len(shape) - 1))
    full = reference.next_pow2(shape[axis])
    block = data.draw(st.sampled_from([None] + [1 << k for k in range(full.bit_length())]))
    x = np.random.default_rng(len(shape)).standard_normal(shape)
    got = ops.fwht(x, axis=axis, block_size=block, order=order, method=method).numpy()
    np.testing.assert_allclose(got, reference.fwht(x, (axis,), [block], order), atol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(got), np.linalg.norm(x), rtol=1e-10)  # Parseval


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(block_size=3), ValueError, "`block_size` must be a positive power of two or None (1, 2, 4, 8, ...), got 3"),
        (dict(block_size=0), ValueError, "got 0"),
        (dict(block_size=-4), ValueError, "got -4"),
        (dict(block_size=2.0), ValueError, "got 2.0"),
        (dict(block_size=True), ValueError, "got True"),
        (dict(block_size=16), ValueError, "`block_size`=16 does not fit axis 1 of length 6: a block may be at most 8"),
        (dict(block_size=(2, 2)), ValueError, "one per axis (1), got (2, 2)"),
        (dict(order="walsh"), ValueError, "`order` must be one of 'hadamard', 'sequency', got 'walsh'"),
        (dict(method="fast"), ValueError, "`method` must be one of 'auto', 'dense', 'kronecker', 'butterfly', got 'fast'"),
        (dict(axis=2), ValueError, "`axis` must hold integers in [-2, 2) for an input of rank 2, got 2"),
        (dict(axis=(1, -1)), ValueError, "`axis` names an axis twice: (1, -1)"),
        (dict(axis=()), ValueError, "`axis` must name at least one axis, got ()"),
        (dict(axis=1.0), ValueError, "got 1.0"),
        (dict(normalize="yes"), ValueError, "`normalize` must be True or False, got 'yes'"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error) as info:
        ops.fwht(tf.zeros((2, 6)), **{"axis": 1, **kwargs})
    assert message in str(info.value)


def test_bad_inputs():
    with pytest.raises(TypeError, match="`x` must have a floating-point dtype .*got int32"):
        ops.fwht(tf.zeros((2, 4), tf.int32))
    with pytest.raises(ValueError, match=r"`x` must have rank >= 1 .*got shape \(\)"):
        ops.fwht(tf.constant(1.0))
    with pytest.raises(ValueError, match="needs a non-empty axis, got length 0 on axis 1"):
        ops.fwht(tf.zeros((2, 0)))

    @tf.function(input_signature=[tf.TensorSpec([2, None], tf.float32)])
    def f(t):
        return ops.fwht(t)

    with pytest.raises(ValueError, match=r"needs the length of axis 1 when the graph is built, got shape \(2, None\)"):
        f.get_concrete_function()


def test_crop_errors():
    with pytest.raises(ValueError, match="`length` must give one length per axis"):
        ops.crop(tf.zeros((2, 8, 8)), (4, 4, 4), (1, 2))
    with pytest.raises(ValueError, match="`length` must be a positive integer, got 0"):
        ops.crop(tf.zeros((2, 8)), 0)


def test_gradient_when_the_incoming_gradient_lost_its_static_shape(rng):
    # TensorFlow can lose the incoming gradient's static shape (a Pad gradient of a crop in
    # MobileNetV3's WHT2D did): the transform's gradient must still run.
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    w = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)

    @tf.custom_gradient
    def shapeless(y):  # the identity, whose gradient has no static shape
        def grad(dy):
            return tf.reshape(dy, tf.shape(dy) + tf.cast(tf.random.uniform([4]) * 0.0, tf.int32))

        return tf.identity(y), grad

    @tf.function
    def gradient(t):
        with tf.GradientTape() as tape:
            tape.watch(t)
            loss = tf.reduce_sum(shapeless(ops.fwht(t, (1, 2))) * w)
        return tape.gradient(loss, t)

    h = reference.walsh(8) / np.sqrt(8)
    np.testing.assert_allclose(gradient(tf.constant(x)).numpy(), np.einsum("ai,bj,nijc->nabc", h, h, w), atol=1e-5)
