import json
import os
import subprocess
import sys

import pytest

from keras_wht import cli


def test_info_json(capsys):
    assert cli.main(["info", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    import keras
    import tensorflow as tf

    assert data["packages"]["tensorflow"] == tf.__version__
    assert data["packages"]["keras"] == keras.__version__
    assert data["tflite_runtimes"]["tensorflow.lite"] == tf.__version__
    assert data["layers_use"] == "keras 3"
    from keras_wht.tflite import custom_ops

    if custom_ops.available():
        assert data["custom_op_kernels"] == f"built ({custom_ops.isa()})"
    else:
        assert data["custom_op_kernels"] is None


def test_console_script_info_table():
    script = os.path.join(os.path.dirname(sys.executable), "keras-wht")  # installed by pip
    out = subprocess.run([script, "info"], capture_output=True, text=True, check=True).stdout
    assert "tensorflow" in out and "TFLite runtime ai_edge_litert" in out


def test_no_command_is_an_error():
    result = subprocess.run([sys.executable, "-m", "keras_wht.cli"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "required: COMMAND" in result.stderr


@pytest.mark.slow
def test_demo_trains_saves_and_reports(tmp_path):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--epochs", "2", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    wht, conv = report["results"]["wht"], report["results"]["conv"]
    assert wht["replaced_layer_parameters"] == 2 * 8 * 8 + 2 * 32  # WHT2D 8x8, WHT1D over 32 channels
    assert conv["replaced_layer_parameters"] == (9 * 32 * 32 + 32) + (32 * 32 + 32)
    assert wht["reload_max_abs_diff"] == 0.0
    assert 0.0 <= wht["test_accuracy"] <= 1.0
    assert (out / "wht.keras").exists() and (out / "wht.tflite").exists()
    for result in (wht, conv):
        assert result["tflite"]["parity"] <= 1e-4
        assert result["tflite"]["accuracy"] == pytest.approx(result["test_accuracy"], abs=2 / 359)
        assert result["tflite"]["invoke_us"] > 0


def test_demo_rejects_zero_epochs(capsys):
    assert cli.main(["demo", "--epochs", "0"]) == 2
    assert "--epochs must be at least 1, got 0" in capsys.readouterr().err
