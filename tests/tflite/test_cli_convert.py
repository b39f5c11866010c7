import subprocess
import sys

import numpy as np

from keras_wht import cli, tflite
from keras_wht._keras import keras
from keras_wht.layers import WHT1D, WHT2D


def _saved(tmp_path):
    model = keras.Sequential([keras.Input((8, 8, 3)), WHT2D(), WHT1D(units=4), keras.layers.GlobalAveragePooling2D()])
    path = tmp_path / "m.keras"
    model.save(path)
    return model, path


def test_convert_in_a_fresh_process(tmp_path):
    # A new process has imported nothing of keras_wht: the command must register the layers.
    model, path = _saved(tmp_path)
    out = tmp_path / "m.tflite"
    result = subprocess.run([sys.executable, "-m", "keras_wht.cli", "convert", str(path), "-o", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "operators: " in result.stdout and "BATCH_MATMUL" in result.stdout
    assert "parity: largest |TFLite - Keras|" in result.stdout
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype(np.float32)
    got = tflite.Interpreter(model_path=out).predict(x, progress=False)
    np.testing.assert_allclose(got, np.asarray(model(x)), atol=1e-4)


def test_convert_with_custom_ops(tmp_path, capsys):
    model, path = _saved(tmp_path)
    out = tmp_path / "m.tflite"
    assert cli.main(["convert", str(path), "-o", str(out), "--custom-ops"]) == 0
    printed = capsys.readouterr().out
    assert "KerasWht1D x1" in printed and "KerasWht2D x1" in printed and "parity: largest" in printed
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(tflite.Interpreter(model_path=out).predict(x, progress=False), np.asarray(model(x)),
                               atol=1e-4)


def test_convert_errors(tmp_path, capsys):
    assert cli.main(["convert", str(tmp_path / "none.keras"), "-o", str(tmp_path / "x.tflite")]) == 2
    assert "does not exist" in capsys.readouterr().err
    text = tmp_path / "notes.keras"
    text.write_text("not a model")
    assert cli.main(["convert", str(text), "-o", str(tmp_path / "x.tflite")]) == 2
    assert f"`model` '{text}' is not a .keras file" in capsys.readouterr().err
    _, path = _saved(tmp_path)
    assert cli.main(["convert", str(path), "-o", str(tmp_path / "x.tflite"), "--quantize", "int8"]) == 2
    assert "quantize='int8' calibrates on `representative_data`" in capsys.readouterr().err
    assert cli.main(["convert", str(path), "-o", str(tmp_path / "x.tflite"), "--calibration", "mnist"]) == 2
    assert "`--calibration` must be 'digits' or a .npy file, got 'mnist'" in capsys.readouterr().err
    assert cli.main(["convert", str(path), "-o", str(tmp_path / "x.tflite"), "--tolerance", "-1"]) == 2
    assert capsys.readouterr().err.strip() == "keras-wht convert: `--tolerance` must be a positive number, got -1.0."
    assert not (tmp_path / "x.tflite").exists()


def test_convert_takes_a_tolerance(tmp_path, capsys):
    _, path = _saved(tmp_path)
    out = tmp_path / "m.tflite"
    assert cli.main(["convert", str(path), "-o", str(out), "--tolerance", "1e-12"]) == 2
    err = capsys.readouterr().err
    assert "differs from the Keras model by" in err and "(tolerance 1e-12, quantize=None)" in err
    assert cli.main(["convert", str(path), "-o", str(out), "--tolerance", "0.5"]) == 0


def test_calibration_digits_fit_the_model_input():
    x = cli.calibration_inputs("digits", (16, 12, 3), count=5)
    assert x.shape == (5, 16, 12, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(x[..., 0], x[..., 2])
