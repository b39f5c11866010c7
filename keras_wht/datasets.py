"""Image classification data sets: `digits` offline, CIFAR-10/100 for users who are online."""

import numpy as np

NAMES = ("digits", "cifar10", "cifar100")


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


def load(name, *, seed=0):
    """((x_train, y_train), (x_test, y_test), classes) with images as float32 in [0, 1].

    `digits` is read from scikit-learn's wheel; `cifar10` and `cifar100` come through
    keras.datasets, which downloads them once (a clear error when that fails).
    """
    if name == "digits":
        return (*load_digits(seed=seed), 10)
    if name not in NAMES:
        raise ValueError(f"Unknown dataset {name!r}; the datasets are: {', '.join(NAMES)}.")
    from keras_wht._keras import keras

    module = getattr(keras.datasets, name)
    try:
        (x_train, y_train), (x_test, y_test) = module.load_data()
    except Exception as err:  # keras raises whatever urllib raised; the message names it
        raise RuntimeError(
            f"could not load {name} through keras.datasets (it downloads the data once, so it needs "
            f"the internet the first time): {err}. Use --dataset digits to train offline."
        ) from err
    scale = lambda x: (x / 255.0).astype(np.float32)  # noqa: E731
    return (scale(x_train), y_train.reshape(-1).astype(np.int64)), (scale(x_test), y_test.reshape(-1).astype(np.int64)), (
        10 if name == "cifar10" else 100
    )
