import json
import os
import subprocess
import sys
import zipfile

import pytest

from keras_wht import _files, cli


def test_info_json(capsys):
    assert cli.main(["info", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    import keras
    import tensorflow as tf

    assert data["packages"]["tensorflow"] == tf.__version__
    assert data["packages"]["keras"] == keras.__version__
    assert data["tflite_runtimes"]["tensorflow.lite"] == tf.__version__
    assert data["layers_use"] == "keras 3"
    from keras_wht.tflite.runtime import custom_ops

    if custom_ops.available():
        assert data["custom_op_kernels"] == f"built ({custom_ops.isa()}, {custom_ops.thread_pool()} threads)"
    else:
        assert data["custom_op_kernels"] is None


def test_info_table_on_a_device_names_the_extra(capsys, monkeypatch):
    # A device: TensorFlow does not import. The table prints the extra's brackets as written
    # (rich would otherwise read `[tensorflow]` as a style tag and drop it).
    from keras_wht import _checks

    def no_tensorflow():
        raise ImportError("no TensorFlow here")

    monkeypatch.setattr(_checks, "require_tensorflow", no_tensorflow)
    monkeypatch.setenv("COLUMNS", "200")
    assert cli.main(["info"]) == 0
    assert "not installed (pip install 'keras-wht[tensorflow]')" in capsys.readouterr().out


def test_console_script_info_table():
    script = os.path.join(os.path.dirname(sys.executable), "keras-wht")  # installed by pip
    out = subprocess.run([script, "info"], capture_output=True, text=True, check=True).stdout
    assert "tensorflow" in out and "TFLite runtime ai_edge_litert" in out


def test_no_command_is_an_error():
    result = subprocess.run([sys.executable, "-m", "keras_wht.cli"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "required: COMMAND" in result.stderr


@pytest.mark.slow
def test_demo_trains_converts_checks_benchmarks_and_reports(tmp_path):
    import jsonschema
    import numpy as np

    from keras_wht.bench import report as bench_report
    from keras_wht.models import MobileNetV2
    from keras_wht.tflite.runtime import custom_ops

    out = tmp_path / "demo"
    assert cli.main(["demo", "--quick", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["epochs"] == 1 and report["wht"] == "paper-540k"
    training = report["training"]
    assert training["plain"]["parameters"] == MobileNetV2((32, 32, 3), classes=10).count_params()
    assert training["paper-540k"]["parameters"] == 533_834  # the paper's 540K network
    expected = {"plain (builtin)", "paper-540k (builtin)"} | ({"paper-540k (custom)"} if custom_ops.available() else set())
    assert set(report["tflite"]) == expected
    for name, converted in report["tflite"].items():
        assert converted["parity"] <= 1e-4
        keras_accuracy = training[name.split(" ")[0]]["test_accuracy"]
        assert converted["test_accuracy"] == pytest.approx(keras_accuracy, abs=2 / 359)
        assert os.path.getsize(converted["file"]) == converted["bytes"]
    if custom_ops.available():  # one op per WHT layer instead of their lowering
        assert report["tflite"]["paper-540k (custom)"]["operators"] < report["tflite"]["paper-540k (builtin)"]["operators"]
    for kind in ("models", "layers"):
        doc = json.loads((out / f"bench-{kind}.json").read_text())
        jsonschema.validate(doc, bench_report.SCHEMA)
        assert doc == report[f"bench_{kind}"]
    networks = {(r["model"], r["path"]) for r in report["bench_models"]["rows"]}
    assert ("plain", "builtin") in networks and ("paper-540k", "builtin") in networks
    for name in ("training.png", "bench-models-latency.png", "bench-layers-speedup.png"):
        with open(out / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    text = (out / "report.md").read_text()
    assert "| paper-540k | 533,834 |" in text and "## The paper's layer test" in text
    assert (out / "plain" / "model.keras").exists() and np.isfinite(training["plain"]["test_loss"])


def test_demo_fails_loudly_when_parity_does_not_hold(tmp_path, monkeypatch, capsys):
    import keras

    from keras_wht import demo, tflite

    def tiny(name, wht, **_):
        model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.GlobalAveragePooling2D(),
                                  keras.layers.Dense(10)])
        return model, {"parameters": model.count_params(), "test_accuracy": 0.0}, []

    def differs(model, content, **_):
        raise tflite.ParityError("output 0 differs from Keras by 0.5 (tolerance 0.0001)")

    monkeypatch.setattr(demo, "_train", tiny)
    monkeypatch.setattr(tflite, "check_parity", differs)
    assert cli.main(["demo", "--quick", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("keras-wht demo failed: the plain network's TFLite conversion (builtin ops): "
                   "output 0 differs from Keras by 0.5 (tolerance 0.0001)")
    assert not (tmp_path / "report.json").exists()


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "`--epochs` must be at least 1, got 0"),
    (["--wht", "nope"], "`--wht` must be a MobileNetV2 preset (last-third, paper-540k, paper-947k), got 'nope'"),
])
def test_demo_rejects_bad_arguments(argv, message, capsys):
    assert cli.main(["demo", *argv]) == 2
    assert capsys.readouterr().err.strip() == f"keras-wht demo: {message}"


def _output_cases(tmp_path):
    """(argv, message) for each command's output option given a path it cannot write."""
    taken = tmp_path / "taken.txt"
    taken.write_text("a file")
    model = tmp_path / "m.keras"
    with zipfile.ZipFile(model, "w") as archive:  # passes the `model` checks; the output is checked first
        archive.writestr("config.json", "{}")
    missing = tmp_path / "missing" / "x.json"
    return [
        (["bench", "layers", "--size", "tiny", "--out", str(taken)], f"`--out` must be a folder, got '{taken}', which is a file"),
        (["bench", "layers", "--size", "tiny", "--out", str(taken / "sub")],
         f"`--out` cannot be made as a folder, got '{taken / 'sub'}': '{taken}' is a file"),
        (["bench", "models", "--json", str(missing)], f"`--json` must be a file in an existing folder, got '{missing}'"),
        (["bench", "models", "--markdown", str(tmp_path)], f"`--markdown` must be a file, got '{tmp_path}', which is a folder"),
        (["demo", "--out", str(taken)], f"`--out` must be a folder, got '{taken}', which is a file"),
        (["train", "--out", str(taken)], f"`--out` must be a folder, got '{taken}', which is a file"),
        (["convert", str(model), "-o", str(missing)], f"`--output` must be a file in an existing folder, got '{missing}'"),
        (["bench", "layers", "--size", "tiny", "--runtime", "litert"],
         "`runtime` must be None or one of ai_edge_litert, tensorflow, tflite_runtime, got 'litert'."),
    ]


def test_unwritable_outputs_fail_before_any_work(tmp_path, capsys):
    for argv, message in _output_cases(tmp_path):
        before = sorted(tmp_path.rglob("*"))
        assert cli.main(argv) == 2, argv
        assert capsys.readouterr().err.strip() == f"keras-wht {argv[0]}: {message}"
        assert sorted(tmp_path.rglob("*")) == before  # nothing made, nothing measured


def test_check_output_accepts_new_folders_and_files_and_names_permissions(tmp_path, monkeypatch):
    _files.check_output(str(tmp_path / "a" / "b"), "--out", folder=True)  # made later by the command
    _files.check_output(str(tmp_path / "report.json"), "--json", folder=False)
    assert not (tmp_path / "a").exists()
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(ValueError, match=f"`--out` cannot be written, got '{tmp_path}/a': no write permission in "
                                         f"'{tmp_path}'"):
        _files.check_output(str(tmp_path / "a"), "--out", folder=True)


def _fails(capsys, argv, message):
    """`keras-wht argv` exits with status 2 and says `message` on one line, no traceback."""
    assert cli.main(argv) == 2, argv
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip() == f"keras-wht {argv[0]}: {message}"


def test_train_checks_everything_before_making_its_folder(tmp_path, capsys):
    out = tmp_path / "new" / "run"
    tiny = ["--model", "resnet20", "--input-size", "8", "--epochs", "1", "--out", str(out)]
    cases = [
        (["--wht", "nosuchpreset"], "Unknown `wht` preset 'nosuchpreset' for resnet20; the presets are: last-third, "
                                    "last-third-second."),
        (["--wht", '{"blocks": [99]}'], "`wht` names block 99, but ResNet20 has blocks 0..8 (or -9..-1 from the end)."),
        (["--resume"], f"--resume: no checkpoint to resume from at {out}/checkpoint.keras"),
        (["--dataset", "mnist"], "Unknown `dataset` 'mnist'; the data sets are: digits, fashion_mnist, cifar10, "
                                 "cifar100, or a folder with one sub-folder of images per class, or an .npz file of "
                                 "x_train, y_train, x_test, y_test."),
        (["--dataset", "no/such/folder"], "`dataset` 'no/such/folder' does not exist (a path; the named data sets "
                                          "are: digits, fashion_mnist, cifar10, cifar100)"),
        (["--train-size", "1"], "`train_size` must be at least 2 (training holds out one image to validate), got 1."),
        (["--lr", "inf"], "`learning_rate` must be finite, got inf."),
        (["--lr", "nan"], "`learning_rate` must be positive, got nan."),
        (["--seed", "-1"], "`seed` must be an integer from 0 to 2**32 - 1, got -1."),
        (["--batch-size", "-3"], "`batch_size` must be a positive integer, got -3."),
        (["--optimizer", "rmsprop"], "`optimizer` must be one of 'adam', 'sgd', got 'rmsprop'."),
        (["--distribute", "horovod"], "`distribute` must be False, True, 'mirrored' or 'multi-worker', got 'horovod'."),
        (["--model", "mobilenet_v2"], "MobileNetV2 needs inputs of at least 32x32, got `input_shape`=(8, 8, 3)."),
        (["--alpha", "0"], "`alpha` must be a positive number, got 0.0."),
    ]
    for argv, message in cases:
        _fails(capsys, ["train", *tiny, *argv], message)
        assert list(tmp_path.iterdir()) == []


def test_train_resume_names_a_checkpoint_that_does_not_load(tmp_path, capsys):
    (tmp_path / "checkpoint.keras").write_bytes(b"")
    _fails(capsys, ["train", "--model", "resnet20", "--input-size", "8", "--resume", "--out", str(tmp_path)],
           f"`--resume` '{tmp_path}/checkpoint.keras' is not a .keras file (a zip archive saved by model.save)")
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.keras"]


def test_train_failing_before_its_first_epoch_leaves_no_folder(tmp_path, monkeypatch):
    import keras

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):  # not ours to word: it goes through
        cli.main(["train", "--model", "resnet20", "--input-size", "8", "--epochs", "1",
                  "--out", str(tmp_path / "new" / "run")])
    assert list(tmp_path.iterdir()) == []
    existing = tmp_path / "kept"
    existing.mkdir()
    with pytest.raises(KeyboardInterrupt):
        cli.main(["train", "--model", "resnet20", "--input-size", "8", "--epochs", "1", "--out", str(existing)])
    assert existing.is_dir()  # the user's folder stays


def test_demo_and_bench_fail_before_making_anything(tmp_path, capsys):
    out = tmp_path / "demo"
    _fails(capsys, ["demo", "--quick", "--seed", "-1", "--out", str(out)],
           "`seed` must be an integer from 0 to 2**32 - 1, got -1.")
    _fails(capsys, ["bench", "layers", "--size", "tiny", "--json", "-", "--markdown", "-", "--out", str(out)],
           "`--json` and `--markdown` cannot both be '-' (standard output)")
    _fails(capsys, ["bench", "models", "--model", "resnet20", "--input-size", "16", "--out", str(out)],
           "`input_sizes` must be integers of at least 32, got 16.")
    assert list(tmp_path.iterdir()) == []
