"""Image classification data sets, as `keras-wht train --dataset` takes them, and their
preparation for training: `digits` and `fashion_mnist` offline, CIFAR-10/100 for users who
are online, the user's own (a folder of class folders, or an .npz file); the tf.data
pipeline (keras_wht.datasets.pipeline) and calibration inputs for int8 conversion."""

import collections
import os

import numpy as np

from keras_wht import _checks
from keras_wht.datasets.calibration import calibration_inputs  # noqa: F401  (the public name)
from keras_wht.datasets.files import TEST_FRACTION, class_folders, load_folder, load_npz, npz_keys

NAMES = ("digits", "fashion_mnist", "cifar10", "cifar100")
PATHS = "a folder with one sub-folder of images per class, or an .npz file of x_train, y_train, x_test, y_test"

Splits = collections.namedtuple("Splits", "train validation test classes")


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


def resolve(name):
    """`name` as metrics.json keeps it: a data set's name, or a path made absolute."""
    return name if name in NAMES else os.path.abspath(name)


def check(name, *, option="dataset"):
    """ValueError naming `option` and `name` unless it is one of NAMES, a folder of class
    folders of images, or an .npz file holding x_train, y_train, x_test and y_test.
    Cheap: lists files and reads the .npz's table of contents, loads nothing."""
    if not isinstance(name, (str, os.PathLike)):
        raise ValueError(f"`{option}` must be a data set's name or a path, got {name!r}.")
    name = os.fspath(name)
    if name in NAMES:
        return
    if not os.path.exists(name):
        if os.sep in name or "." in name:
            raise ValueError(f"`{option}` {name!r} does not exist (a path; the named data sets are: "
                             f"{', '.join(NAMES)})")
        raise ValueError(f"Unknown `{option}` {name!r}; the data sets are: {', '.join(NAMES)}, or {PATHS}.")
    if os.path.isdir(name):
        class_folders(name, option)
    elif name.lower().endswith(".npz"):
        npz_keys(name, option)
    else:
        raise ValueError(f"`{option}` {name!r} is a file but not an .npz; give {PATHS}")


def load(name, *, seed=0, input_size=None, fit="resize", option="dataset"):
    """((x_train, y_train), (x_test, y_test), classes) with images as float32 (n, height,
    width, 1 or 3) in [0, 1] and labels as int64 from 0.

    `digits` is read from scikit-learn's wheel, `fashion_mnist` from Debian's
    dataset-fashion-mnist files (keras_wht.datasets.idx); `cifar10` and `cifar100` come
    through keras.datasets, which downloads them once (RuntimeError when that fails). A
    folder's images are read at input_size x input_size with `fit` 'resize' (at their own
    size, which they must share, with 'pad'); its test split and digits' are fixed by
    `seed`. Raises ValueError naming `option` and `name` for a path that is not a data set.
    """
    name = os.fspath(name)
    check(name, option=option)
    if name == "digits":
        return (*load_digits(seed=seed), 10)
    if os.path.isdir(name) and name not in NAMES:
        size = (input_size, input_size) if fit == "resize" and input_size else None
        return load_folder(name, image_size=size, seed=seed, option=option)
    if name not in NAMES:
        return load_npz(name, option)
    if name == "fashion_mnist":
        from keras_wht.datasets.idx import load_fashion_mnist

        (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
        x_train, x_test = x_train[..., None], x_test[..., None]
    else:
        from keras_wht._keras import keras

        try:
            (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
        except Exception as err:  # keras raises whatever urllib raised; the message names it
            raise RuntimeError(
                f"could not load {name} through keras.datasets (it downloads the data once, so it needs the "
                f"internet the first time): {err}. Use --dataset digits or fashion_mnist to train offline."
            ) from err
    scale = lambda x: (x / np.float32(255)).astype(np.float32)  # noqa: E731
    labels = lambda y: y.reshape(-1).astype(np.int64)  # noqa: E731
    return (scale(x_train), labels(y_train)), (scale(x_test), labels(y_test)), 100 if name == "cifar100" else 10


def check_train_size(train_size):
    """`train_size` as an int or None; ValueError naming it unless it is None or an integer
    of at least 2 (one image at least is held out for validation)."""
    if train_size is None:
        return None
    _checks.positive_int("train_size", train_size)
    if train_size < 2:
        raise ValueError(f"`train_size` must be at least 2 (training holds out one image to validate), "
                         f"got {train_size!r}.")
    return int(train_size)


def splits(name, *, seed=0, input_size=32, fit="resize", train_size=None):
    """The data set `name` as training uses it: Splits(train, validation, test, classes),
    each split (images, labels). With `train_size` only the first train_size training
    images are used; the validation split is their first tenth (at least one image).
    ValueError when `train_size` is more than the data set has, or `fit` 'pad' meets
    images larger than `input_size`."""
    from keras_wht.datasets.pipeline import check_fit

    train_size = check_train_size(train_size)
    (x_train, y_train), test, classes = load(name, seed=seed, input_size=input_size, fit=fit)
    if train_size is not None:
        if train_size > len(x_train):
            raise ValueError(f"`train_size` {train_size:,} is more than the {len(x_train):,} training images of "
                             f"`dataset` {name!r}")
        x_train, y_train = x_train[:train_size], y_train[:train_size]
    check_fit(fit, x_train.shape[1:], input_size)
    held_out = max(1, len(x_train) // 10)  # deterministic validation split from the training set
    return Splits((x_train[held_out:], y_train[held_out:]), (x_train[:held_out], y_train[:held_out]), test, classes)


__all__ = ["NAMES", "TEST_FRACTION", "Splits", "calibration_inputs", "check", "check_train_size", "load",
           "load_digits", "resolve", "splits"]
