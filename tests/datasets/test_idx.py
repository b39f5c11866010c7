"""Fashion-MNIST from gzipped IDX files: tiny ones written here (through
KERAS_WHT_FASHION_MNIST_DIR), damaged ones, the keras.datasets fallback, and Debian's
files when dataset-fashion-mnist is installed."""

import gzip
import os
import struct

import numpy as np
import pytest

from keras_wht import cli, datasets
from keras_wht.datasets import idx

NAMES = {"x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
         "x_test": "t10k-images-idx3-ubyte.gz", "y_test": "t10k-labels-idx1-ubyte.gz"}


def _idx_bytes(array, type_code=0x08):
    """The IDX encoding of a uint8 array, written from the format's description."""
    return bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _write(folder, arrays, raw=None):
    """The four files in `folder` from `arrays`; `raw` maps a key to the bytes to gzip instead."""
    os.makedirs(folder, exist_ok=True)
    for key, name in NAMES.items():
        with gzip.open(os.path.join(folder, name), "wb") as f:
            f.write((raw or {}).get(key, _idx_bytes(arrays[key])))
    return {key: os.path.join(str(folder), name) for key, name in NAMES.items()}


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (5, 4, 3), dtype=np.uint8), "y_train": np.array([0, 9, 3, 3, 1], np.uint8),
              "x_test": rng.integers(0, 256, (2, 4, 3), dtype=np.uint8), "y_test": np.array([2, 7], np.uint8)}
    folder = tmp_path / "fashion"
    monkeypatch.setenv(idx.ENVIRONMENT, str(folder))
    return folder, arrays


def test_tiny_files_read_through_the_environment_variable(tiny):
    folder, arrays = tiny
    _write(folder, arrays)
    (x_train, y_train), (x_test, y_test), classes = datasets.load("fashion_mnist")
    assert classes == 10 and x_train.shape == (5, 4, 3, 1) and x_test.shape == (2, 4, 3, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    np.testing.assert_array_equal(x_train[..., 0] * 255, arrays["x_train"].astype(np.float32))
    np.testing.assert_array_equal(x_test[..., 0] * 255, arrays["x_test"].astype(np.float32))
    assert y_train.tolist() == [0, 9, 3, 3, 1] and y_test.tolist() == [2, 7]


def _damaged(arrays):
    """(what to write instead, which file, the message) for each way a file can be damaged."""
    images = _idx_bytes(arrays["x_train"])
    return [
        ({"x_train": None}, "x_train", "is damaged: it does not read as gzip"),
        ({"y_train": _idx_bytes(arrays["x_train"])}, "y_train", "its magic number is 00000803, expected 00000801"),
        ({"x_train": _idx_bytes(arrays["x_train"], type_code=0x0D)}, "x_train",
         "its magic number is 00000d03, expected 00000803 (uint8, rank 3)"),
        ({"x_test": images[:-7]}, "x_test", "it holds 53 bytes of data, its header 5x4x3 = 60"),
        ({"x_train": images[:-50]}, "x_train", "it holds 10 bytes of data, its header 5x4x3 = 60"),
        ({"y_test": b"\0\0\x08"}, "y_test", "is damaged: 3 bytes, shorter than its header"),
        ({"y_train": _idx_bytes(np.array([1, 2, 3, 4], np.uint8))}, "y_train", "4 labels for 5 images"),
        ({"y_test": _idx_bytes(np.array([2, 12], np.uint8))}, "y_test", "it holds label 12, the classes are 0..9"),
    ]


@pytest.mark.parametrize("case", range(8))
def test_a_damaged_file_is_named(tiny, case):
    folder, arrays = tiny
    raw, key, message = _damaged(arrays)[case]
    paths = _write(folder, arrays, raw={k: v for k, v in raw.items() if v is not None})
    if raw.get("x_train", b"") is None:  # not gzip at all
        with open(paths["x_train"], "wb") as f:
            f.write(b"plain text, not gzip")
    with pytest.raises(ValueError) as caught:
        datasets.load("fashion_mnist")
    assert f"Fashion-MNIST file {paths[key]!r}" in str(caught.value) and message in str(caught.value)


def test_a_cut_gzip_stream_is_damaged(tiny):
    folder, arrays = tiny
    paths = _write(folder, arrays)
    with open(paths["y_test"], "rb") as f:
        content = f.read()
    with open(paths["y_test"], "wb") as f:
        f.write(content[: len(content) // 2])
    with pytest.raises(ValueError, match="is damaged: it does not read as gzip"):
        datasets.load("fashion_mnist")


def test_missing_files_and_folder_are_named(tiny, monkeypatch):
    folder, arrays = tiny
    paths = _write(folder, arrays)
    os.remove(paths["y_test"])
    with pytest.raises(ValueError, match=f"Fashion-MNIST file '{paths['y_test']}' is missing"):
        datasets.load("fashion_mnist")
    monkeypatch.setenv(idx.ENVIRONMENT, str(folder / "nope"))
    with pytest.raises(ValueError, match=f"KERAS_WHT_FASHION_MNIST_DIR '{folder / 'nope'}' is not a folder"):
        datasets.load("fashion_mnist")


def test_the_command_line_names_the_damaged_file_and_writes_nothing(tiny, capsys, tmp_path):
    folder, arrays = tiny
    paths = _write(folder, arrays, raw={"y_train": _idx_bytes(np.array([1], np.uint8))})
    out = tmp_path / "run"
    assert cli.main(["train", "--dataset", "fashion_mnist", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"keras-wht train: Fashion-MNIST file {paths['y_train']!r} or {paths['x_train']!r} is damaged: " \
                  "1 labels for 5 images\n"
    assert not out.exists()


def test_without_the_files_keras_datasets_downloads_them(tmp_path, monkeypatch):
    from keras_wht._keras import keras

    monkeypatch.delenv(idx.ENVIRONMENT, raising=False)
    monkeypatch.setattr(idx, "FOLDER", str(tmp_path / "not-installed"))
    x = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", lambda: ((x, np.array([4, 5], np.uint8)),
                                                                            (x[:1], np.array([6], np.uint8))))
    (x_train, y_train), (x_test, y_test), _ = datasets.load("fashion_mnist")
    np.testing.assert_array_equal(x_train[..., 0] * 255, x.astype(np.float32))
    assert y_train.tolist() == [4, 5] and y_test.tolist() == [6]

    def offline():
        raise OSError("no route to host")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(RuntimeError) as caught:
        datasets.load("fashion_mnist")
    message = str(caught.value)
    assert f"its files are not in {tmp_path / 'not-installed'} (apt-get install dataset-fashion-mnist" in message
    assert "keras.datasets could not download it, which needs the internet the first time (no route to host)" in message


@pytest.mark.skipif(not os.path.isdir(idx.FOLDER), reason=f"dataset-fashion-mnist is not installed ({idx.FOLDER})")
def test_debians_files(monkeypatch):
    monkeypatch.delenv(idx.ENVIRONMENT, raising=False)
    (x_train, y_train), (x_test, y_test) = idx.load_fashion_mnist()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    # Fashion-MNIST is balanced: 6,000 training and 1,000 test images of each of 10 classes.
    assert np.bincount(y_train).tolist() == [6000] * 10 and np.bincount(y_test).tolist() == [1000] * 10
    assert x_train.max() == 255 and x_train.min() == 0
