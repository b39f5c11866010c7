"""The tf.data pipeline's `fit`: resizing, or zero padding around the centre."""

import numpy as np
import pytest

from keras_wht.datasets.pipeline import images, pipeline


def test_pad_centres_the_image_in_zeros(rng):
    x = rng.uniform(0.1, 1.0, (3, 28, 28, 1)).astype(np.float32)
    out = images(x, input_size=32, fit="pad")
    assert out.shape == (3, 32, 32, 3)
    expected = np.zeros((3, 32, 32, 3), np.float32)
    expected[:, 2:30, 2:30, :] = x  # two rows and columns of zeros on each side, grey repeated
    np.testing.assert_array_equal(out, expected)


def test_pad_of_an_odd_margin_and_a_non_square_image(rng):
    x = rng.uniform(0.1, 1.0, (2, 5, 3, 3)).astype(np.float32)
    out = images(x, input_size=8, fit="pad")
    expected = np.zeros((2, 8, 8, 3), np.float32)
    expected[:, 1:6, 2:5] = x  # margins (8 - 5) // 2 = 1 above, (8 - 3) // 2 = 2 left; the rest below and right
    np.testing.assert_array_equal(out, expected)


def test_resize_keeps_a_constant_image_constant():
    out = images(np.full((2, 28, 28, 1), 0.5, np.float32), input_size=32)
    assert out.shape == (2, 32, 32, 3)
    np.testing.assert_allclose(out, 0.5, rtol=1e-6)


@pytest.mark.parametrize("fit, size, message", [
    ("pad", 16, "`fit` 'pad' pads images to the input size, and these are 28x28, larger than `input_size` 16: use "
                "fit 'resize' or an input size of at least 28"),
    ("crop", 32, "`fit` must be one of 'resize', 'pad', got 'crop'."),
])
def test_fit_errors(fit, size, message):
    with pytest.raises(ValueError) as caught:
        pipeline(np.zeros((2, 28, 28, 1), np.float32), np.zeros(2), input_size=size, batch_size=2, fit=fit)
    assert str(caught.value) == message
