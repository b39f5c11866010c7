"""The user's own images: a folder with one sub-folder per class, or an .npz file of
x_train, y_train, x_test, y_test. Each error is one line naming the path and the fault."""

import os
import zipfile

import numpy as np

# What keras.utils.image_dataset_from_directory reads (its own list, lower case).
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
TEST_FRACTION = 0.2  # a folder's held-out test split


def class_folders(path, option="dataset"):
    """{class name: its image files} for the folder `path`, classes sorted (as Keras labels
    them); ValueError naming `option` and `path` unless it holds at least two class folders
    of images. Cheap: lists files, reads none."""
    where = f"`{option}` {path!r}"
    names = sorted(n for n in os.listdir(path) if not n.startswith("."))
    classes = {n: _images_under(os.path.join(path, n)) for n in names if os.path.isdir(os.path.join(path, n))}
    if not classes:
        loose = sum(n.lower().endswith(IMAGE_EXTENSIONS) for n in names)
        held = f"it holds {loose} image(s) directly" if loose else "it holds no sub-folders"
        raise ValueError(f"{where} has no class folders ({held}): give one sub-folder of images per class")
    if not any(classes.values()):
        raise ValueError(f"{where} holds no images ({', '.join(IMAGE_EXTENSIONS)}) in its class folders "
                         f"{', '.join(map(repr, classes))}")
    empty = [n for n, files in classes.items() if not files]
    if empty:
        raise ValueError(f"{where} has class folder(s) without images ({', '.join(IMAGE_EXTENSIONS)}): "
                         f"{', '.join(map(repr, empty))}")
    if len(classes) < 2:
        raise ValueError(f"{where} has one class folder ({next(iter(classes))!r}): a classifier needs at least 2")
    return classes


def _images_under(folder):
    return sorted(os.path.join(root, n) for root, _, files in os.walk(folder) for n in files
                  if n.lower().endswith(IMAGE_EXTENSIONS))


def load_folder(path, *, image_size=None, seed=0, option="dataset"):
    """((x_train, y_train), (x_test, y_test), classes) from the class folders of `path`,
    read by keras.utils.image_dataset_from_directory as RGB (grey images repeated to three
    channels) at `image_size` (height, width), or at the images' own size when None (then
    they must all have one). The test split is a fixed TEST_FRACTION, chosen by `seed`."""
    import tensorflow as tf

    from keras_wht._keras import keras

    classes = class_folders(path, option)
    if image_size is None:
        image_size = _one_size(path, [f for files in classes.values() for f in files], option)
    data = keras.utils.image_dataset_from_directory(path, labels="inferred", label_mode="int", color_mode="rgb",
                                                    batch_size=256, image_size=tuple(image_size), shuffle=False)
    try:
        batches = [(x.numpy(), y.numpy()) for x, y in data]
    except tf.errors.InvalidArgumentError as err:  # names no file; the message says what failed
        raise ValueError(f"`{option}` {path!r} holds an image that does not decode: "
                         f"{' '.join(err.message.split())[:200]}") from err
    x = np.concatenate([b[0] for b in batches]) / np.float32(255)
    y = np.concatenate([b[1] for b in batches]).astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    test = max(1, int(round(len(x) * TEST_FRACTION)))
    if len(x) - test < 2:
        raise ValueError(f"`{option}` {path!r} holds {len(x)} images: too few to hold out a test split and "
                         "still train and validate")
    return (x[order[test:]], y[order[test:]]), (x[order[:test]], y[order[:test]]), len(classes)


def _one_size(path, files, option):
    """The one (height, width) of the images `files` (their headers only)."""
    from PIL import Image

    sizes = {}
    for name in files:
        try:
            with Image.open(name) as image:
                sizes.setdefault(image.size[::-1], name)
        except OSError as err:
            raise ValueError(f"`{option}` {path!r} holds an image that does not read: {name!r} ({err})") from err
        if len(sizes) > 1:
            (a, first), (b, other) = sizes.items()
            raise ValueError(f"`{option}` {path!r} holds images of different sizes ({a[0]}x{a[1]} {first!r}, "
                             f"{b[0]}x{b[1]} {other!r}): fit 'pad' needs one size; fit 'resize' takes any")
    return next(iter(sizes))


def npz_keys(path, option="dataset"):
    """ValueError naming `option` and `path` unless the .npz file `path` holds NPZ_KEYS.
    Cheap: reads the archive's list of names."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = {n[:-4] for n in archive.namelist() if n.endswith(".npy")}
    except (OSError, zipfile.BadZipFile) as err:
        raise ValueError(f"`{option}` {path!r} is not an .npz file (saved by numpy.savez): {err}") from err
    missing = [k for k in NPZ_KEYS if k not in names]
    if missing:
        raise ValueError(f"`{option}` {path!r} has no {', '.join(missing)} (an .npz data set holds "
                         f"{', '.join(NPZ_KEYS)})")


def load_npz(path, option="dataset"):
    """((x_train, y_train), (x_test, y_test), classes) from the .npz file `path`: images
    (n, height, width) or (n, height, width, 1 or 3), integers 0..255 (scaled to [0, 1]) or
    floats (taken as they are); labels integers from 0, one per image."""
    npz_keys(path, option)
    where = f"`{option}` {path!r}"
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in NPZ_KEYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:  # object arrays, damaged members
        raise ValueError(f"{where} does not read: {' '.join(str(err).split())}") from err
    parts = []
    for split in ("train", "test"):
        x, y = _images(arrays[f"x_{split}"], f"x_{split}", where), _labels(arrays[f"y_{split}"], f"y_{split}", where)
        if len(x) != len(y):
            raise ValueError(f"{where}: x_{split} holds {len(x):,} images, y_{split} {len(y):,} labels")
        parts.append((x, y))
    classes = int(max(parts[0][1].max(), parts[1][1].max())) + 1
    if classes < 2:
        raise ValueError(f"{where}: every label is 0; a classifier needs at least 2 classes")
    if len(parts[0][0]) < 2:
        raise ValueError(f"{where}: x_train holds {len(parts[0][0])} image(s); training needs at least 2")
    return (*parts, classes)


def _images(x, key, where):
    if x.ndim not in (3, 4):
        raise ValueError(f"{where}: {key} has shape {x.shape}; images are (n, height, width) or "
                         "(n, height, width, channels)")
    if x.ndim == 3:
        x = x[..., None]
    if x.shape[-1] not in (1, 3):
        raise ValueError(f"{where}: {key} has shape {x.shape}: images of {x.shape[-1]} channels, not 1 or 3")
    if len(x) == 0:
        raise ValueError(f"{where}: {key} holds no images (shape {x.shape})")
    if np.issubdtype(x.dtype, np.integer):
        if x.min() < 0 or x.max() > 255:
            raise ValueError(f"{where}: {key} holds integers from {x.min()} to {x.max()}; integer images must be "
                             "0..255 (or give floats in [0, 1])")
        return x.astype(np.float32) / np.float32(255)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{where}: {key} holds {x.dtype} values, not numbers")
    bad = int(np.count_nonzero(~np.isfinite(x)))
    if bad:
        raise ValueError(f"{where}: {key} holds NaN or infinite values ({bad:,} of {x.size:,})")
    return x.astype(np.float32)


def _labels(y, key, where):
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{where}: {key} has shape {y.shape}; labels are (n,) class numbers")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"{where}: {key} holds labels that are not integers (such as "
                             f"{float(y[~np.isfinite(y) | (y != np.round(y))][0])})")
    elif not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{where}: {key} holds {y.dtype} labels, not integers")
    if y.size and y.min() < 0:
        raise ValueError(f"{where}: {key} holds negative labels (such as {int(y.min())}); classes count from 0")
    return y.astype(np.int64)
