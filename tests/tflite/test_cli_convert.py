import subprocess
import sys

import numpy as np
import pytest

from keras_wht import _files, cli, datasets, tflite
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
    assert ("`--calibration` must be a data set (digits, fashion_mnist, cifar10, cifar100, a folder of class folders "
            "or an .npz file) or a .npy file of inputs, got 'mnist'") in capsys.readouterr().err
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
    x = datasets.calibration_inputs("digits", (16, 12, 3), count=5)
    assert x.shape == (5, 16, 12, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(x[..., 0], x[..., 2])


def _fails(capsys, argv, message):
    """`keras-wht argv` exits with status 2 and says `message` on one line, no traceback."""
    assert cli.main(argv) == 2, argv
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip() == f"keras-wht {argv[0]}: {message}"


def _rewritten(path, new, **members):
    """A copy of the .keras zip `path` at `new` with `members` replaced (None: left out)."""
    import zipfile

    with zipfile.ZipFile(path) as source, zipfile.ZipFile(new, "w") as target:
        for name in source.namelist():
            content = members.get(name, source.read(name))
            if content is not None:
                target.writestr(name, content)
    return new


def test_convert_names_a_model_that_does_not_load(tmp_path, capsys):
    import zipfile

    _, path = _saved(tmp_path)
    out = tmp_path / "x.tflite"
    with zipfile.ZipFile(path) as archive:
        config = archive.read("config.json").decode()
    unknown = config.replace('"class_name": "WHT2D"', '"class_name": "NoSuchLayer"').replace(
        '"registered_name": "keras_wht>WHT2D"', '"registered_name": "keras_wht>NoSuchLayer"')
    assert "WHT2D" not in unknown
    cases = [
        (_rewritten(path, tmp_path / "noconfig.keras", **{"config.json": None}),
         "has no config.json: it is a zip archive, but not a model saved by model.save"),
        (_rewritten(path, tmp_path / "garbled.keras", **{"config.json": "not json"}),
         "holds a config.json that is not JSON: Expecting value: line 1 column 1 (char 0)"),
        (_rewritten(path, tmp_path / "unknown.keras", **{"config.json": unknown}),
         "does not load: Could not locate class 'NoSuchLayer'."),
        (_rewritten(path, tmp_path / "weights.keras", **{"model.weights.h5": "not hdf5"}),
         "does not load: Unable to synchronously open file (file signature not found)"),
        (tmp_path, "is a folder, not a .keras file"),
    ]
    for model, message in cases:
        _fails(capsys, ["convert", str(model), "-o", str(out)], f"`model` '{model}' {message}")
    assert not out.exists()


def test_convert_checks_calibration_files(tmp_path, capsys):
    _, path = _saved(tmp_path)  # takes (8, 8, 3)
    out = tmp_path / "x.tflite"
    rng = np.random.default_rng(0)
    arrays = {"small.npy": rng.uniform(size=(4, 4, 4, 3)), "flat.npy": rng.uniform(size=(4, 192)),
              "empty.npy": np.zeros((0, 8, 8, 3)), "nan.npy": np.where(rng.uniform(size=(4, 8, 8, 3)) < 0.5, np.nan, 1),
              "inf.npy": np.full((2, 8, 8, 3), np.inf), "words.npy": np.array(["a", "b"])}
    for name, x in arrays.items():
        np.save(tmp_path / name, x)
    (tmp_path / "text.npy").write_text("not numpy")
    (tmp_path / "folder.npy").mkdir()
    npy = lambda name: str(tmp_path / name)  # noqa: E731
    cases = [
        ("missing.npy", "does not exist"),
        ("folder.npy", "is a folder, not a .npy file"),
        ("text.npy", "is not a .npy file (saved by numpy.save)"),
        ("words.npy", "holds <U1 values, not real numbers"),
        ("small.npy", "holds arrays of shape (4, 4, 3), the model takes (8, 8, 3)"),
        ("flat.npy", "holds arrays of shape (192,), the model takes (8, 8, 3)"),
        ("empty.npy", "holds no samples (an array of shape (0, 8, 8, 3))"),
        ("inf.npy", "holds NaN or infinite values (384 of 384 in the first 2 samples)"),
    ]
    for quantize in (["--quantize", "int8"], []):  # without quantizing, the parity check runs on them
        for name, message in cases:
            _fails(capsys, ["convert", str(path), "-o", str(out), "--calibration", npy(name), *quantize],
                   f"`--calibration` '{npy(name)}' {message}")
    data = (tmp_path / "small.npy").read_bytes()
    (tmp_path / "short.npy").write_bytes(data[: len(data) // 2])
    for name, start in (("nan.npy", "holds NaN or infinite values ("), ("short.npy", "is not a valid .npy file: ")):
        assert cli.main(["convert", str(path), "-o", str(out), "--calibration", npy(name)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"keras-wht convert: `--calibration` '{npy(name)}' {start}") and err.count("\n") == 1
    assert not out.exists()


def test_convert_checks_the_output_before_any_work_and_writes_it_whole(tmp_path, capsys, monkeypatch):
    import os

    _, path = _saved(tmp_path)
    out = tmp_path / "m.tflite"
    out.write_bytes(b"an older model")
    _fails(capsys, ["convert", str(path), "-o", str(path)], f"`--output` '{path}' is the model itself")
    writable = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(out) else writable(p, mode))
    monkeypatch.setattr(tflite, "convert", lambda *a, **k: pytest.fail("converted before checking --output"))
    _fails(capsys, ["convert", str(path), "-o", str(out)], f"`--output` cannot be written, got '{out}': the file is "
                                                            "read-only")
    monkeypatch.undo()
    # A parity failure writes nothing: the older file stays, and no temporary file is left.
    assert cli.main(["convert", str(path), "-o", str(out), "--tolerance", "1e-12"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"'{out}' not written (--no-verify writes it unchecked).") and "\n" not in err
    assert out.read_bytes() == b"an older model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "m.tflite"]
    assert cli.main(["convert", str(path), "-o", str(out)]) == 0
    assert out.read_bytes()[4:8] == b"TFL3" and oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "m.tflite"]


def _umask():
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_write_file_is_all_or_nothing(tmp_path, monkeypatch):
    import os

    out = tmp_path / "report.json"
    _files.write_file(str(out), "{}")
    assert out.read_text() == "{}"

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        _files.write_file(str(out), "a newer report")
    assert out.read_text() == "{}" and [p.name for p in tmp_path.iterdir()] == ["report.json"]
