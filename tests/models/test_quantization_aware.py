"""keras_wht.quantization_aware.fine_tune from a Keras 3 process: the run folder checks, and
the round trip (weights out of model.keras here, QAT in a tf_keras subprocess). The tf_keras
side alone: tests/legacy/test_quantization_aware.py."""

import json
import os

import pytest

from keras_wht import quantization_aware
from keras_wht._keras import LEGACY

keras3_only = pytest.mark.skipif(LEGACY, reason="a run folder's model.keras is a Keras 3 file")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from keras_wht import training

    out = str(tmp_path_factory.mktemp("run") / "resnet20")
    metrics = training.train(model="resnet20", wht="last-third", epochs=1, batch_size=64, input_size=8, out=out,
                             verbose=0)
    return out, metrics


@keras3_only
def test_fine_tune_a_run_folder(run, tmp_path):
    folder, trained = run
    out = str(tmp_path / "qat")
    # Custom ops too: tests/legacy/test_quantization_aware.py (a conversion more would double the time).
    metrics = quantization_aware.fine_tune(folder, epochs=1, batch_size=64, out=out, custom_ops=False, verbose=0)
    assert sorted(os.listdir(out)) == ["int8.tflite", "metrics.json"]
    with open(os.path.join(out, "metrics.json")) as f:
        assert json.load(f) == metrics
    assert (metrics["model"], metrics["wht"], metrics["input_size"]) == ("resnet20", "last-third", 8)
    # The network rebuilt under tf_keras with the exported weights scores as the run did,
    # to within one of the 359 test images (the two Kerases round differently).
    assert abs(metrics["float_test_accuracy"] - trained["test_accuracy"]) <= 1 / 359 + 1e-9
    for key in ("test_accuracy", "int8_test_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0


@pytest.mark.parametrize("files", [(), ("metrics.json",), ("model.keras",)])
def test_a_folder_that_is_not_a_finished_run_is_named(files, tmp_path):
    for name in files:
        (tmp_path / name).write_text("{}")
    missing = [name for name in quantization_aware.RUN_FILES if name not in files]
    with pytest.raises(ValueError, match=f"`run_dir` '{tmp_path}' is not a finished `keras-wht train` run: it has no "
                       f"{' and no '.join(missing)}"):
        quantization_aware.fine_tune(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == sorted(files)  # no qat folder


def test_run_folder_errors(tmp_path):
    with pytest.raises(ValueError, match=r"`run_dir` '.*nothing' is not a folder: give a `keras-wht train` run folder"):
        quantization_aware.fine_tune(str(tmp_path / "nothing"))
    (tmp_path / "model.keras").write_bytes(b"")
    (tmp_path / "metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match="holds a metrics.json that is not JSON"):
        quantization_aware.fine_tune(str(tmp_path))
    (tmp_path / "metrics.json").write_text('{"model": "resnet20"}')
    with pytest.raises(ValueError, match="holds a metrics.json without wht, dataset: not one `keras-wht train` wrote"):
        quantization_aware.fine_tune(str(tmp_path))


@pytest.mark.parametrize("kwargs, message", [
    (dict(epochs=0), "`epochs` must be a positive integer, got 0."),
    (dict(learning_rate=-1e-4), "`learning_rate` must be a positive number, got -0.0001."),
    (dict(batch_size=2.5), "`batch_size` must be a positive integer, got 2.5."),
    (dict(seed=-1), "`seed` must be an integer from 0 to 2**32 - 1, got -1."),
    (dict(custom_ops="yes"), "`custom_ops` must be True or False, got 'yes'."),
])
def test_arguments_are_checked_before_any_work(kwargs, message, tmp_path):
    (tmp_path / "model.keras").write_bytes(b"")
    (tmp_path / "metrics.json").write_text('{"model": "resnet20", "wht": null, "dataset": "digits"}')
    with pytest.raises(ValueError) as info:
        quantization_aware.fine_tune(str(tmp_path), **kwargs)
    assert str(info.value) == message
    assert not (tmp_path / "qat").exists()


def test_the_command_names_what_is_missing(tmp_path, capsys):
    from keras_wht import cli

    assert cli.main(["qat", str(tmp_path), "--epochs", "1"]) == 2
    assert capsys.readouterr().err == (f"keras-wht qat: `run_dir` '{tmp_path}' is not a finished `keras-wht train` "
                                       "run: it has no model.keras and no metrics.json\n")
