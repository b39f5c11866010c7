"""Fashion-MNIST offline: the four gzipped IDX files of Debian's `dataset-fashion-mnist`,
read with numpy (keras.datasets, which downloads them, when they are absent)."""

import gzip
import os
import zlib

import numpy as np

FOLDER = "/usr/share/datasets/fashion-mnist"  # where dataset-fashion-mnist installs them
ENVIRONMENT = "KERAS_WHT_FASHION_MNIST_DIR"  # another folder holding the same four files
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_UNSIGNED_BYTE = 0x08  # the IDX type code of uint8, the only one Fashion-MNIST uses


def read_idx(path, ndim):
    """The uint8 array of rank `ndim` in the gzipped IDX file `path`. IDX: two zero bytes,
    a type code, the rank, the rank's big-endian uint32 sizes, then the data. Raises
    ValueError naming `path` and what is wrong when it is not such a file."""
    try:
        with gzip.open(path, "rb") as f:
            content = f.read()
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"Fashion-MNIST file {path!r} is damaged: it does not read as gzip ({err})") from err
    header = 4 + 4 * ndim
    if len(content) < header:
        raise ValueError(f"Fashion-MNIST file {path!r} is damaged: {len(content)} bytes, shorter than its header")
    magic = content[:4]
    if magic != bytes((0, 0, _UNSIGNED_BYTE, ndim)):
        raise ValueError(f"Fashion-MNIST file {path!r} is damaged: its magic number is {magic.hex()}, "
                         f"expected {bytes((0, 0, _UNSIGNED_BYTE, ndim)).hex()} (uint8, rank {ndim})")
    shape = tuple(int(d) for d in np.frombuffer(content, dtype=">u4", count=ndim, offset=4))
    size = int(np.prod(shape))
    if len(content) - header != size:
        raise ValueError(f"Fashion-MNIST file {path!r} is damaged: it holds {len(content) - header:,} bytes of "
                         f"data, its header {'x'.join(map(str, shape))} = {size:,}")
    return np.frombuffer(content, dtype=np.uint8, offset=header).reshape(shape)


def read_folder(folder):
    """((x_train, y_train), (x_test, y_test)) as uint8 arrays from the four files in
    `folder`; ValueError naming the file that is missing or damaged."""
    parts = []
    for split, (images_name, labels_name) in FILES.items():
        paths = [os.path.join(folder, name) for name in (images_name, labels_name)]
        for path in paths:
            if not os.path.isfile(path):
                raise ValueError(f"Fashion-MNIST file {path!r} is missing (the folder needs "
                                 f"{', '.join(n for pair in FILES.values() for n in pair)})")
        images, labels = read_idx(paths[0], 3), read_idx(paths[1], 1)
        if len(images) != len(labels):
            raise ValueError(f"Fashion-MNIST file {paths[1]!r} or {paths[0]!r} is damaged: {len(labels):,} labels "
                             f"for {len(images):,} images")
        if labels.size and labels.max() > 9:
            raise ValueError(f"Fashion-MNIST file {paths[1]!r} is damaged: it holds label {int(labels.max())}, "
                             "the classes are 0..9")
        parts.append((images, labels))
    return tuple(parts)


def load_fashion_mnist():
    """((x_train, y_train), (x_test, y_test)) as uint8 (n, 28, 28) images and labels 0..9:
    from $KERAS_WHT_FASHION_MNIST_DIR if set (it must hold the files), else from FOLDER,
    else through keras.datasets (a download). RuntimeError naming both ways when neither
    works; ValueError naming the file when one is damaged."""
    chosen = os.environ.get(ENVIRONMENT)
    if chosen:
        if not os.path.isdir(chosen):
            raise ValueError(f"{ENVIRONMENT} {chosen!r} is not a folder")
        return read_folder(chosen)
    if any(os.path.exists(os.path.join(FOLDER, name)) for pair in FILES.values() for name in pair):
        return read_folder(FOLDER)
    from keras_wht._keras import keras

    try:
        return keras.datasets.fashion_mnist.load_data()
    except Exception as err:  # keras raises whatever urllib raised; the message names it
        raise RuntimeError(
            f"could not load fashion_mnist: its files are not in {FOLDER} (apt-get install dataset-fashion-mnist, "
            f"or set {ENVIRONMENT} to a folder holding them), and keras.datasets could not download it, which "
            f"needs the internet the first time ({' '.join(str(err).split())})"
        ) from err
