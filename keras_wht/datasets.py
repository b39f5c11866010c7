"""Image classification data sets: `digits` offline, CIFAR-10/100 for users who are online;
and calibration inputs for int8 conversion, from digits or a .npy file."""

import os

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


def calibration_inputs(name, input_shape, count=128, *, option="--calibration"):
    """`count` float32 inputs of `input_shape` (the model's, batch excluded; None where any
    size goes): 'digits' resized and tiled to it, or a .npy file's first `count`. Raises
    ValueError naming `option` and the value unless they fit the model."""
    input_shape = tuple(input_shape)
    if name.endswith(".npy"):
        x = _load_npy(name, option)
        if x.ndim < 1 or x.ndim != len(input_shape) + 1 or any(
                want is not None and got != want for got, want in zip(x.shape[1:], input_shape)):
            held = f"arrays of shape {tuple(x.shape[1:])}" if x.ndim >= 1 else "a single number"
            raise ValueError(f"`{option}` {name!r} holds {held}, the model takes {_shape(input_shape)}")
        x = x[:count]
    elif name == "digits":
        if len(input_shape) != 3 or None in input_shape:
            raise ValueError(f"`{option}` 'digits' are images (height, width, channels), the model takes "
                             f"{_shape(input_shape)}: give a .npy file")
        import tensorflow as tf

        (x, _), _ = load_digits()
        height, width, channels = input_shape
        x = tf.image.resize(x[:count], (height, width)).numpy()
        return np.tile(x, (1, 1, 1, channels))
    else:
        raise ValueError(f"`{option}` must be 'digits' or a .npy file, got {name!r}.")
    if len(x) == 0:
        raise ValueError(f"`{option}` {name!r} holds no samples (an array of shape {x.shape})")
    bad = int(np.count_nonzero(~np.isfinite(x)))
    if bad:
        raise ValueError(f"`{option}` {name!r} holds NaN or infinite values ({bad:,} of {x.size:,} in the first "
                         f"{len(x)} samples)")
    return x


def _shape(shape):
    return "(" + ", ".join("any" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _load_npy(path, name):
    """The float32 array in the .npy file `path`, or ValueError naming `name` and `path`."""
    if os.path.isdir(path):
        raise ValueError(f"`{name}` {path!r} is a folder, not a .npy file")
    if not os.path.isfile(path):
        raise ValueError(f"`{name}` {path!r} does not exist")
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
            f.seek(0)
            x = np.load(f, allow_pickle=False) if magic == b"\x93NUMPY" else None
    except (OSError, EOFError) as err:
        raise ValueError(f"`{name}` {path!r} does not read: {err}") from err
    except ValueError as err:  # a damaged header or a short file
        raise ValueError(f"`{name}` {path!r} is not a valid .npy file: {' '.join(str(err).split())}") from err
    if x is None:
        raise ValueError(f"`{name}` {path!r} is not a .npy file (saved by numpy.save)")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"`{name}` {path!r} holds {x.dtype} values, not real numbers")
    return x.astype(np.float32)
