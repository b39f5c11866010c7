import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_wht import ops
from keras_wht.layers import WHT1D
from tests import reference
from tests.layers.helpers import randomize

CONFIGS = [
    dict(),
    dict(block_size=4),
    dict(order="sequency"),
    dict(strides=2),
    dict(strides=(1, 2)),
    dict(residual=True),
    dict(units=4),  # shrink 16 -> 4 by averaging groups of 4
    dict(units=6),  # shrink 16 -> 6: groups of 2, truncated; block 8, padded 6 -> 8
    dict(units=40),  # grow 16 -> 40: three windows of 16
    dict(units=40, block_size=8),  # five windows of 8
    dict(units=24, block_size=32),  # one window of 32 over the zero-padded input
]


def _reference(config, x, w, t):
    strides = config.get("strides", 1)
    if isinstance(strides, tuple):
        x = x[:, :: strides[0], :: strides[1], :]
        strides = 1
    return reference.wht1d(x, w, t, units=config.get("units"), block=config.get("block_size"), strides=strides,
                           residual=config.get("residual", False), order=config.get("order", "hadamard"))


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_against_reference(config, rng):
    x = rng.standard_normal((2, 5, 6, 16)).astype(np.float32)
    layer = WHT1D(**config)
    y = layer(x)
    w, t = randomize(layer, rng)
    y = layer(x).numpy()
    want = _reference(config, x, w, t)
    assert y.shape == want.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(y, want, atol=2e-5)


@pytest.mark.parametrize("channels", [3, 12, 20])
def test_channels_not_a_power_of_two(channels, rng):
    x = rng.standard_normal((2, 3, 3, channels)).astype(np.float32)
    layer = WHT1D()
    layer.build(x.shape)
    assert layer.scale.shape == (reference.next_pow2(channels),)
    w, t = randomize(layer, rng)
    np.testing.assert_allclose(layer(x).numpy(), reference.wht1d(x, w, t), atol=2e-5)


def test_contract_default_is_fwht_s_fwht(rng):
    x = rng.standard_normal((2, 4, 4, 32)).astype(np.float32)
    layer = WHT1D()
    layer.build(x.shape)
    randomize(layer, rng)
    want = ops.fwht(ops.smooth_threshold(ops.fwht(x, -1), layer.scale, layer.threshold), -1)
    np.testing.assert_allclose(layer(x).numpy(), want.numpy(), atol=1e-6)


def test_weights_and_initialisation():
    layer = WHT1D(block_size=8)
    layer.build((None, 4, 4, 32))
    assert [v.name.split("/")[-1].split(":")[0] for v in layer.trainable_weights] == ["scale", "threshold"]
    assert layer.count_params() == 16
    np.testing.assert_allclose(layer.threshold.numpy(), np.arange(8) / 80, rtol=1e-6)


def test_default_scale_is_random_signs_of_magnitude_two():
    layer = WHT1D()
    layer.build((None, 1, 1, 512))
    scale = layer.scale.numpy()
    np.testing.assert_array_equal(np.abs(scale), np.full(512, 2.0))
    assert 0.4 < np.mean(scale > 0) < 0.6  # both signs, about equally often (512 draws)
    other = WHT1D()
    other.build((None, 1, 1, 512))
    assert np.any(other.scale.numpy() != scale)  # each layer draws its own


def test_authors_initialisation_is_the_identity_on_the_channels(rng):
    # Coefficients of +-50 (tanh is 1 there to float precision) and a zero threshold: the
    # authors' scale 1 gives back the input, the default random signs mix its channels.
    h = reference.walsh(16) / 4.0
    coefficients = 50.0 * rng.choice([-1.0, 1.0], (2, 3, 3, 16))
    x = (coefficients @ h).astype(np.float32)
    authors = WHT1D(scale_initializer="ones", threshold_initializer="zeros")
    np.testing.assert_allclose(authors(x).numpy(), x, rtol=1e-5, atol=1e-3)
    mixed = WHT1D(threshold_initializer="zeros")
    y = mixed(x).numpy()
    np.testing.assert_allclose(y, (coefficients * mixed.scale.numpy()) @ h, rtol=1e-5, atol=1e-3)
    assert np.max(np.abs(y - x)) > 10.0


def test_works_without_static_spatial_size(rng):
    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 8], tf.float32)])
    def f(t):
        return layer(t)

    layer = WHT1D(units=4, strides=2)
    x = rng.standard_normal((3, 5, 7, 8)).astype(np.float32)
    np.testing.assert_allclose(f(x).numpy(), layer(x).numpy(), atol=1e-6)
    assert layer.compute_output_shape((None, None, 7, 8)) == (None, None, 4, 4)


@settings(max_examples=15, deadline=None)
@given(
    channels=st.integers(1, 24),
    units=st.one_of(st.none(), st.integers(1, 40)),
    block_power=st.integers(0, 5),
    order=st.sampled_from(["hadamard", "sequency"]),
)
def test_property_against_reference(channels, units, block_power, order):
    transformed = units or channels  # the channel count the blocks must fit
    block = 1 << block_power
    if block > reference.next_pow2(transformed):
        block = None
    rng = np.random.default_rng(channels)
    x = rng.standard_normal((1, 2, 3, channels)).astype(np.float32)
    layer = WHT1D(units, block_size=block, order=order)
    layer.build(x.shape)
    w, t = randomize(layer, rng)
    np.testing.assert_allclose(layer(x).numpy(), reference.wht1d(x, w, t, units, block, order=order), atol=2e-5)


@pytest.mark.parametrize(
    "kwargs, shape, message",
    [
        (dict(units=0), None, "`units` must be a positive integer or None, got 0"),
        (dict(units=-3), None, "got -3"),
        (dict(units=2.5), None, "got 2.5"),
        (dict(units="8"), None, "got '8'"),
        (dict(block_size=6), None, "`block_size` must be a positive power of two or None (1, 2, 4, 8, ...), got 6"),
        (dict(strides=0), None, "`strides` must be a positive integer, got 0"),
        (dict(strides=(1, 2, 3)), None, "`strides` must be an integer or a pair of integers, got (1, 2, 3)"),
        (dict(order="gray"), None, "`order` must be one of 'hadamard', 'sequency', got 'gray'"),
        (dict(residual="yes"), None, "`residual` must be True or False, got 'yes'"),
        (dict(dtype="int32"), None, "`dtype` must be a float type or a mixed-precision policy, got 'int32'"),
        (dict(), (None, 8, 8), "WHT1D expects inputs of rank 4 (batch, height, width, channels), got shape (None, 8, 8)"),
        (dict(), (None, 8, 8, None), "WHT1D needs a known channel count, got input shape (None, 8, 8, None)"),
        (dict(block_size=32), (None, 8, 8, 16), "`block_size`=32 does not fit the channels of length 16"),
        (dict(units=8, residual=True), (None, 8, 8, 16), "`units` must equal the input channels (16), got units=8"),
    ],
)
def test_errors(kwargs, shape, message):
    with pytest.raises(ValueError) as info:
        WHT1D(**kwargs).build(shape)
    assert message in str(info.value)


def test_integer_input_is_rejected():
    with pytest.raises(TypeError, match="floating-point dtype"):
        WHT1D()(tf.zeros((1, 2, 2, 4), tf.int32))
