"""The user's own data sets: a folder of class folders of images, and an .npz file."""

import os

import numpy as np
import pytest

from keras_wht import datasets
from keras_wht._keras import keras


def make_folder(root, images):
    """`images`: {class name: [uint8 arrays (h, w, 1) grey or (h, w, 3) RGB]} as PNG files."""
    for name, arrays in images.items():
        os.makedirs(root / name, exist_ok=True)
        for k, array in enumerate(arrays):
            keras.utils.save_img(str(root / name / f"{k}.png"), array, scale=False)
    return root


@pytest.fixture
def folder(tmp_path):
    """Two classes, listed out of order, each of grey and RGB 6x5 images with distinct pixels."""
    rng = np.random.default_rng(0)
    grey = lambda: rng.integers(0, 256, (6, 5, 1), dtype=np.uint8)  # noqa: E731
    rgb = lambda: rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)  # noqa: E731
    images = {"zebra": [grey(), rgb(), grey(), rgb()], "ant": [rgb(), grey(), rgb(), grey(), rgb()]}
    return make_folder(tmp_path / "images", images), images


def test_a_folder_loads_with_sorted_classes_and_a_fixed_test_split(folder):
    root, images = folder
    (x_train, y_train), (x_test, y_test), classes = datasets.load(str(root))
    assert classes == 2 and len(x_test) == 2 and len(x_train) == 7  # 20% of 9 held out
    assert x_train.shape[1:] == (6, 5, 3) and x_train.dtype == np.float32 and y_train.dtype == np.int64
    # Each image is one of the files, grey ones repeated to three channels; labels in sorted order.
    expected = {np.tile(a, (1, 1, 3 // a.shape[-1])).tobytes(): label
                for label, name in enumerate(sorted(images)) for a in images[name]}
    got = [(np.round(x * 255).astype(np.uint8).tobytes(), int(y))
           for x, y in zip(np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test]))]
    assert sorted(expected.items()) == sorted(got)
    (again, _), _, _ = datasets.load(str(root))
    np.testing.assert_array_equal(again, x_train)
    (other, _), _, _ = datasets.load(str(root), seed=5)
    assert not np.array_equal(other, x_train)


def test_a_folder_is_read_at_the_input_size_when_resizing(folder):
    root, _ = folder
    (x_train, _), (x_test, _), _ = datasets.load(str(root), input_size=8, fit="resize")
    assert x_train.shape[1:] == (8, 8, 3) and x_test.shape[1:] == (8, 8, 3)


def _write_png(path, size=(4, 4, 3)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    keras.utils.save_img(str(path), np.zeros(size, np.uint8), scale=False)


def test_folder_errors(tmp_path):
    def fails(path, message, **options):
        with pytest.raises(ValueError) as caught:
            datasets.load(str(path), **options)
        assert str(caught.value) == f"`dataset` {str(path)!r} {message}"
        assert "\n" not in str(caught.value)

    fails(tmp_path / "missing", "does not exist (a path; the named data sets are: digits, fashion_mnist, cifar10, "
                                "cifar100)")
    _write_png(tmp_path / "loose" / "a.png")
    _write_png(tmp_path / "loose" / "b.png")
    fails(tmp_path / "loose", "has no class folders (it holds 2 image(s) directly): give one sub-folder of images "
                              "per class")
    (tmp_path / "bare").mkdir()
    fails(tmp_path / "bare", "has no class folders (it holds no sub-folders): give one sub-folder of images per class")
    (tmp_path / "none" / "a").mkdir(parents=True)
    (tmp_path / "none" / "b").mkdir()
    (tmp_path / "none" / "b" / "notes.txt").write_text("not an image")
    fails(tmp_path / "none", "holds no images (.bmp, .gif, .jpeg, .jpg, .png) in its class folders 'a', 'b'")
    _write_png(tmp_path / "empty" / "cat" / "1.png")
    (tmp_path / "empty" / "dog").mkdir()
    fails(tmp_path / "empty", "has class folder(s) without images (.bmp, .gif, .jpeg, .jpg, .png): 'dog'")
    _write_png(tmp_path / "one" / "cat" / "1.PNG")
    fails(tmp_path / "one", "has one class folder ('cat'): a classifier needs at least 2")
    _write_png(tmp_path / "two" / "cat" / "1.png")
    _write_png(tmp_path / "two" / "dog" / "1.png")
    fails(tmp_path / "two", "holds 2 images: too few to hold out a test split and still train and validate")
    _write_png(tmp_path / "sizes" / "cat" / "1.png", (4, 4, 3))
    _write_png(tmp_path / "sizes" / "dog" / "1.png", (5, 4, 1))
    fails(tmp_path / "sizes", f"holds images of different sizes (4x4 {str(tmp_path / 'sizes' / 'cat' / '1.png')!r}, "
                              f"5x4 {str(tmp_path / 'sizes' / 'dog' / '1.png')!r}): fit 'pad' needs one size; "
                              "fit 'resize' takes any", fit="pad")
    (tmp_path / "notes.txt").write_text("text")
    fails(tmp_path / "notes.txt", "is a file but not an .npz; give a folder with one sub-folder of images per class, "
                                  "or an .npz file of x_train, y_train, x_test, y_test")


def test_an_image_that_does_not_decode(tmp_path):
    for name in ("cat", "dog"):
        for k in range(3):
            _write_png(tmp_path / name / f"{k}.png")
    (tmp_path / "dog" / "1.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=f"`dataset` '{tmp_path}' holds an image that does not decode: "):
        datasets.load(str(tmp_path), input_size=4)


@pytest.fixture
def arrays():
    rng = np.random.default_rng(1)
    return {"x_train": rng.integers(0, 256, (6, 4, 4), dtype=np.uint8), "y_train": np.array([[0], [1], [2], [0], [1], [2]]),
            "x_test": rng.integers(0, 256, (3, 4, 4), dtype=np.uint8), "y_test": np.array([2, 1, 0], np.int32)}


def test_an_npz_loads(tmp_path, arrays):
    np.savez(tmp_path / "d.npz", **arrays)
    (x_train, y_train), (x_test, y_test), classes = datasets.load(str(tmp_path / "d.npz"))
    assert classes == 3 and x_train.shape == (6, 4, 4, 1) and x_train.dtype == np.float32
    np.testing.assert_array_equal(x_train[..., 0] * 255, arrays["x_train"].astype(np.float32))
    assert y_train.tolist() == [0, 1, 2, 0, 1, 2] and y_test.tolist() == [2, 1, 0] and y_test.dtype == np.int64
    floats = dict(arrays, x_train=np.full((6, 4, 4, 3), 0.25, np.float32), y_train=np.arange(6.0) % 3)
    np.savez(tmp_path / "f.npz", **floats)
    (x_train, y_train), _, _ = datasets.load(str(tmp_path / "f.npz"))
    assert np.all(x_train == 0.25) and y_train.tolist() == [0, 1, 2, 0, 1, 2]  # floats are taken as they are


@pytest.mark.parametrize("change, message", [
    (dict(x_test=None), "has no x_test (an .npz data set holds x_train, y_train, x_test, y_test)"),
    (dict(y_train=np.array([0, 1, 2, 0, 1])), ": x_train holds 6 images, y_train 5 labels"),
    (dict(x_train=np.zeros((6, 16))), ": x_train has shape (6, 16); images are (n, height, width) or "
                                      "(n, height, width, channels)"),
    (dict(x_test=np.zeros((3, 4, 4, 4, 1))), ": x_test has shape (3, 4, 4, 4, 1); images are"),
    (dict(x_test=np.zeros((3, 4, 4, 2))), ": x_test has shape (3, 4, 4, 2): images of 2 channels, not 1 or 3"),
    (dict(x_test=np.zeros((0, 4, 4))), ": x_test holds no images (shape (0, 4, 4, 1))"),
    (dict(y_test=np.array([0.0, 1.5, 2.0])), ": y_test holds labels that are not integers (such as 1.5)"),
    (dict(y_test=np.array(["a", "b", "c"])), ": y_test holds <U1 labels, not integers"),
    (dict(y_train=np.array([0, 1, -2, 0, 1, 2])), ": y_train holds negative labels (such as -2); classes count from 0"),
    (dict(x_train=np.where(np.eye(4, dtype=bool), np.nan, 0.5)[None].repeat(6, 0)),
     ": x_train holds NaN or infinite values (24 of 96)"),
    (dict(x_train=np.full((6, 4, 4), 1000)), ": x_train holds integers from 1000 to 1000; integer images must be "
                                            "0..255 (or give floats in [0, 1])"),
    (dict(y_train=np.zeros(6, int), y_test=np.zeros(3, int)), ": every label is 0; a classifier needs at least 2 "
                                                              "classes"),
])
def test_npz_errors(tmp_path, arrays, change, message):
    path = str(tmp_path / "d.npz")
    np.savez(path, **{k: v for k, v in {**arrays, **change}.items() if v is not None})
    with pytest.raises(ValueError) as caught:
        datasets.load(path)
    assert str(caught.value).startswith(f"`dataset` {path!r}{'' if message[0] == ':' else ' '}{message}")


def test_a_file_that_is_not_an_npz(tmp_path):
    (tmp_path / "d.npz").write_text("text")
    with pytest.raises(ValueError, match=f"`dataset` '{tmp_path / 'd.npz'}' is not an .npz file "):
        datasets.load(str(tmp_path / "d.npz"))
