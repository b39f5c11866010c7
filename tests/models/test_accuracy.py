"""`keras-wht accuracy RUN`: the accuracy table of a training run."""

import json

import numpy as np
import pytest

from keras_wht import accuracy, cli, training
from keras_wht._keras import keras


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """ResNet20 at half width (QAT rebuilds the run's network: its alpha too) with WHT
    layers in its last third, 3 epochs on 16x16 digits. 1,280 training images (1,152 after
    validation): no odd last batch, on which TensorFlow 2.21's oneDNN crashes in this
    network's first strided 1x1 convolution on AVX-512 (docs/MODELS.md, Training)."""
    out = tmp_path_factory.mktemp("run")
    training.train(model="resnet20", wht="last-third", alpha=0.5, epochs=3, batch_size=32, learning_rate=3e-3,
                   input_size=16, train_size=1280, seed=1, out=str(out), verbose=0)
    return out


@pytest.mark.slow
def test_the_table_of_a_run(run, capsys):
    assert cli.main(["accuracy", str(run), "--calibration", "32", "--qat-epochs", "1"]) == 0
    printed = capsys.readouterr().out
    rows = json.loads((run / "accuracy.json").read_text())
    names = [row["name"] for row in rows]
    assert names == ["Keras", "TFLite float32, builtin ops", "TFLite float32, custom ops", "TFLite int8, builtin ops",
                     "TFLite int8, custom ops", "TFLite int8 after QAT, builtin ops", "TFLite int8 after QAT, custom ops"]
    # The QAT rows are the accuracies `keras-wht qat` measured on its files.
    qat = json.loads((run / "qat" / "metrics.json").read_text())
    assert rows[5]["accuracy"] == pytest.approx(qat["int8_test_accuracy"])
    assert rows[6]["accuracy"] == pytest.approx(qat["int8_custom_test_accuracy"])
    assert "int8 calibrated on 32 training images; QAT fine-tuned for 1 epochs" in (run / "accuracy.md").read_text()
    assert accuracy.HEADER in printed and accuracy.HEADER in (run / "accuracy.md").read_text()
    assert all(accuracy.markdown_row(row) in printed for row in rows)
    # Keras' row against an independent evaluation of the saved model on the run's test
    # split (seed 1, as trained).
    model = keras.saving.load_model(str(run / "model.keras"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert rows[0]["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    test, labels, _ = accuracy.data(str(run), model)
    assert len(test) == len(labels) == 359 and test.shape[1:] == (16, 16, 3)
    assert rows[0]["accuracy"] == pytest.approx(np.mean(np.argmax(model.predict(test, verbose=0), 1) == labels))
    for row in rows[1:3]:  # float32: Keras' numbers
        assert row["points"] == 0 and row["sqnr_db"] > 60 and row["max_difference"] < 1e-4
    for row in rows[3:5]:  # int8: close, not equal
        assert 20 < row["sqnr_db"] < 60 and abs(row["points"]) < 5, row
    for row in rows[5:]:  # QAT changed the weights: further from the model it started from
        assert row["sqnr_db"] < 60 and abs(row["points"]) < 10, row


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "missing", "is not a folder"),
    (lambda tmp: tmp, "has no model.keras"),
])
def test_a_folder_that_is_not_a_run(tmp_path, capsys, make, message):
    assert cli.main(["accuracy", str(make(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert "keras-wht accuracy: `run`" in err and message in err


def test_qat_epochs_must_be_a_count(run, capsys):
    assert cli.main(["accuracy", str(run), "--qat-epochs", "-1"]) == 2
    assert "`--qat-epochs` must be a positive integer, got -1." in capsys.readouterr().err
