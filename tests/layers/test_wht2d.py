import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_wht import ops
from keras_wht.layers import WHT2D
from tests import reference
from tests.layers.helpers import randomize

CONFIGS = [
    dict(),
    dict(block_size=4),
    dict(block_size=(2, 4)),
    dict(order="sequency"),
    dict(strides=2),
    dict(residual=True),
    dict(residual=True, strides=2),
    dict(per_channel=True),
    dict(filters=3),  # shrink 6 -> 3
    dict(filters=4, per_channel=True),  # shrink 6 -> 4: groups of 1, truncated
    dict(filters=14),  # grow 6 -> 14 by repeating the input
    dict(filters=14, strides=2),  # the layer on the 6 input channels, copied after the pooling
    dict(filters=14, per_channel=True),  # per-channel weights: copied before the layer
]


@pytest.mark.parametrize("size", [(8, 8), (7, 6)], ids=str)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_against_reference(config, size, rng):
    x = rng.standard_normal((2, *size, 6)).astype(np.float32)
    layer = WHT2D(**config)
    layer.build(x.shape)
    w, t = randomize(layer, rng)
    y = layer(x).numpy()
    block = config.get("block_size")
    want = reference.wht2d(x, w, t, filters=config.get("filters"), block=(block, block) if isinstance(block, int) else block,
                           strides=config.get("strides", 1), residual=config.get("residual", False),
                           order=config.get("order", "hadamard"))
    assert y.shape == want.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(y, want, atol=2e-5)


def test_contract_default_is_fwht_s_fwht(rng):
    x = rng.standard_normal((2, 8, 4, 3)).astype(np.float32)
    layer = WHT2D()
    layer.build(x.shape)
    randomize(layer, rng)
    inner = ops.smooth_threshold(ops.fwht(x, (1, 2)), layer.scale[..., None], layer.threshold[..., None])
    np.testing.assert_allclose(layer(x).numpy(), ops.fwht(inner, (1, 2)).numpy(), atol=1e-6)


def test_weight_shapes_and_initialisation():
    layer = WHT2D()
    layer.build((None, 7, 7, 32))  # padded to 8 x 8
    assert layer.scale.shape == layer.threshold.shape == (8, 8)
    assert layer.count_params() == 128  # the paper's figure for 8 x 8
    np.testing.assert_allclose(layer.threshold.numpy(), np.add.outer(np.arange(8), np.arange(8)) / 80, rtol=1e-6)
    tiled = WHT2D(block_size=(2, 4), per_channel=True)
    tiled.build((None, 8, 8, 5))
    assert tiled.scale.shape == (2, 4, 5)
    np.testing.assert_allclose(tiled.threshold.numpy()[..., 3], np.add.outer(np.arange(2) / 20, np.arange(4) / 40), rtol=1e-6)


@settings(max_examples=15, deadline=None)
@given(
    height=st.integers(1, 10),
    width=st.integers(1, 10),
    block_power=st.integers(0, 3),
    strides=st.integers(1, 3),
    per_channel=st.booleans(),
)
def test_property_against_reference(height, width, block_power, strides, per_channel):
    block = 1 << block_power
    blocks = tuple(block if block <= reference.next_pow2(n) else None for n in (height, width))
    rng = np.random.default_rng(height * 11 + width)
    x = rng.standard_normal((1, height, width, 3)).astype(np.float32)
    layer = WHT2D(block_size=None if None in blocks else blocks, strides=strides, per_channel=per_channel)
    layer.build(x.shape)
    w, t = randomize(layer, rng)
    want = reference.wht2d(x, w, t, block=None if None in blocks else blocks, strides=strides)
    np.testing.assert_allclose(layer(x).numpy(), want, atol=2e-5)


@pytest.mark.parametrize(
    "kwargs, shape, message",
    [
        (dict(filters=0), None, "`filters` must be a positive integer or None, got 0"),
        (dict(block_size=3), None, "`block_size` must be a positive power of two (1, 2, 4, 8, ...), got 3"),
        (dict(block_size=(4, 4, 4)), None, "`block_size` must be an integer or a pair of integers, got (4, 4, 4)"),
        (dict(strides=-1), None, "`strides` must be a positive integer, got -1"),
        (dict(per_channel=1), None, "`per_channel` must be True or False, got 1"),
        (dict(order=None), None, "`order` must be one of 'hadamard', 'sequency', got None"),
        (dict(), (None, 8, 8), "WHT2D expects inputs of rank 4 (batch, height, width, channels), got shape (None, 8, 8)"),
        (dict(), (None, None, 8, 3), "WHT2D needs a known height and width"),
        (dict(), (None, 8, 8, None), "WHT2D needs a known channel count"),
        (dict(block_size=16), (None, 5, 8, 3), "`block_size`=16 does not fit the input height of length 5: a block may be at most 8"),
        (dict(filters=4, residual=True), (None, 8, 8, 3), "`filters` must equal the input channels (3), got filters=4"),
    ],
)
def test_errors(kwargs, shape, message):
    with pytest.raises(ValueError) as info:
        WHT2D(**kwargs).build(shape)
    assert message in str(info.value)
