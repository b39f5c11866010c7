"""Data sets the demo and the tests can use offline."""

import numpy as np


def load_digits(*, test_fraction=0.2, seed=0):
    """scikit-learn's 8x8 handwritten digits (1797 images, shipped inside its wheel).

    Returns ((x_train, y_train), (x_test, y_test)) like keras.datasets: images as float32
    of shape (n, 8, 8, 1) scaled to [0, 1], labels as int64 0..9. The split is a fixed
    permutation from `seed`, so it is the same on every machine.
    """
    try:
        from sklearn.datasets import load_digits as _load
    except ImportError as err:
        raise ImportError(
            "the digits data set ships with scikit-learn: pip install scikit-learn "
            "(or pip install 'keras-wht[data]')"
        ) from err
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"`test_fraction` must be between 0 and 1, got {test_fraction!r}.")
    digits = _load()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return (x[train], y[train]), (x[test], y[test])
