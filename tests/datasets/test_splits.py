"""What training takes from a data set: the checks, the training subset and the splits,
and calibration inputs from any data set."""

import numpy as np
import pytest

from keras_wht import cli, datasets, training


def test_train_size_takes_the_first_images_before_the_validation_split():
    (x_full, y_full), (x_test, _) = datasets.load_digits()
    data = datasets.splits("digits", train_size=100)
    np.testing.assert_array_equal(data.validation[0], x_full[:10])  # a tenth of the 100 validates
    np.testing.assert_array_equal(data.train[0], x_full[10:100])
    np.testing.assert_array_equal(data.train[1], y_full[10:100])
    np.testing.assert_array_equal(data.test[0], x_test)  # the test split is the whole one
    everything = datasets.splits("digits")
    assert len(everything.train[0]) + len(everything.validation[0]) == len(x_full) == 1438


@pytest.mark.parametrize("train_size, message", [
    (5000, "`train_size` 5,000 is more than the 1,438 training images of `dataset` 'digits'"),
    (1, "`train_size` must be at least 2 (training holds out one image to validate), got 1."),
    (0, "`train_size` must be a positive integer, got 0."),
    (2.5, "`train_size` must be a positive integer, got 2.5."),
])
def test_train_size_errors(train_size, message):
    with pytest.raises(ValueError) as caught:
        datasets.splits("digits", train_size=train_size)
    assert str(caught.value) == message


def test_pad_meets_larger_images():
    with pytest.raises(ValueError, match="`fit` 'pad' pads images to the input size, and these are 8x8, larger than "
                                         "`input_size` 4"):
        datasets.splits("digits", input_size=4, fit="pad")


def test_training_checks_the_new_arguments_cheaply(tmp_path):
    with pytest.raises(ValueError, match="`fit` must be one of 'resize', 'pad', got 'crop'"):
        training.check(fit="crop")
    with pytest.raises(ValueError, match="`train_size` must be a positive integer, got -3"):
        training.check(train_size=-3)
    (tmp_path / "one" / "cat").mkdir(parents=True)
    (tmp_path / "one" / "cat" / "a.png").write_bytes(b"never read by the check")
    with pytest.raises(ValueError, match="has one class folder"):
        training.check(dataset=str(tmp_path / "one"))
    with pytest.raises(ValueError, match="Unknown `dataset` 'mnist'; the data sets are: digits, fashion_mnist, "
                                         "cifar10, cifar100, or a folder with one sub-folder of images per class"):
        training.check(dataset="mnist")
    training.check(dataset="fashion_mnist", fit="pad", train_size=20000)


@pytest.mark.parametrize("argv, message", [
    (["--train-size", "0"], "`train_size` must be a positive integer, got 0."),
    (["--train-size", "99999"], "`train_size` 99,999 is more than the 1,438 training images of `dataset` 'digits'"),
    (["--fit", "pad", "--input-size", "4"], "`fit` 'pad' pads images to the input size, and these are 8x8"),
    (["--dataset", "{tmp}/x.npz"], "`dataset` '{tmp}/x.npz' does not exist"),
])
def test_train_command_errors(argv, message, capsys, tmp_path):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    out = tmp_path / "run"
    assert cli.main(["train", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-wht train: " + message.replace("{tmp}", str(tmp_path))) and err.count("\n") == 1
    assert not out.exists()


def test_calibration_inputs_from_an_npz_and_a_folder(tmp_path):
    from tests.datasets.test_files import make_folder

    x = np.random.default_rng(0).integers(0, 256, (5, 6, 6), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.arange(5) % 2, x_test=x[:2], y_test=np.array([0, 1]))
    got = datasets.calibration_inputs(str(tmp_path / "d.npz"), (6, 6, 3), count=3)
    np.testing.assert_allclose(got, np.repeat(x[:3, :, :, None], 3, axis=-1) / 255, rtol=1e-6)
    make_folder(tmp_path / "images", {"a": [x[k, :, :, None] for k in range(3)], "b": [x[k, :, :, None] for k in (3, 4)]})
    got = datasets.calibration_inputs(str(tmp_path / "images"), (6, 6, 3), count=2)
    assert got.shape == (2, 6, 6, 3)
    assert {g.tobytes() for g in np.round(got[..., :1] * 255).astype(np.uint8)} <= {a[..., None].tobytes() for a in x}
    with pytest.raises(ValueError, match="`--calibration` '.*images' holds images of 3 channels, the model takes 1"):
        datasets.calibration_inputs(str(tmp_path / "images"), (6, 6, 1))
