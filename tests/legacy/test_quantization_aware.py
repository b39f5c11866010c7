"""The tf_keras side of keras_wht.quantization_aware.fine_tune, in this process (the Keras 3
side and the whole round trip: tests/models/test_quantization_aware.py)."""

import json
import os

import numpy as np
import pytest

from keras_wht._keras import LEGACY

pytestmark = pytest.mark.skipif(not LEGACY, reason="tensorflow-model-optimization needs tf_keras")


def _run(folder, wht):
    """A run folder as the tf_keras side sees it: metrics.json, model.keras (not read by
    this side) and the weights the Keras 3 side would export, of ResNet20 `wht` on 8x8."""
    from keras_wht import models
    from keras_wht.quantization_aware import export_weights

    os.makedirs(folder)
    net = models.build("resnet20", wht=wht, input_size=8, classes=10)
    export_weights(net, os.path.join(folder, "weights.npz"))
    with open(os.path.join(folder, "metrics.json"), "w") as f:
        json.dump({"model": "resnet20", "wht": "last-third", "dataset": "digits", "seed": 0}, f)
    with open(os.path.join(folder, "model.keras"), "wb"):
        pass
    return net


def test_fine_tune_in_tf_keras_writes_both_int8_models(tmp_path):
    from keras_wht import datasets, tflite
    from keras_wht.datasets.pipeline import pipeline
    from keras_wht.quantization_aware import fine_tune_in_tf_keras

    run = str(tmp_path / "run")
    net = _run(run, "last-third")
    (_, _), (x_test, y_test), _ = datasets.load("digits", seed=0)
    net.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    want = net.evaluate(pipeline(x_test, y_test, input_size=8, batch_size=64), verbose=0)[1]
    out = str(tmp_path / "qat")
    metrics = fine_tune_in_tf_keras(run, os.path.join(run, "weights.npz"), out=out, epochs=1, learning_rate=1e-4,
                                    batch_size=64, seed=0, custom_ops=True, verbose=0)
    assert sorted(os.listdir(out)) == ["int8-custom.tflite", "int8.tflite", "metrics.json"]
    with open(os.path.join(out, "metrics.json")) as f:
        assert json.load(f) == metrics
    assert metrics["float_test_accuracy"] == pytest.approx(want)  # the weights came across
    assert metrics["input_size"] == 8 and metrics["epochs"] == 1
    for key in ("test_accuracy", "int8_test_accuracy", "int8_custom_test_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
    with open(os.path.join(out, "int8-custom.tflite"), "rb") as f:
        ops = tflite.operators(f.read())
    assert ops.count("KerasWht2D") == 6  # both 3x3 convs of blocks 6-8


def test_weights_of_another_network_are_refused_and_nothing_is_written(tmp_path):
    from keras_wht.quantization_aware import fine_tune_in_tf_keras

    run = str(tmp_path / "run")
    _run(run, None)  # trained plain, while metrics.json says last-third
    out = tmp_path / "qat"
    with pytest.raises(ValueError, match=r"layer \d+ with weights of the run's network, 'conv\d?_block\d+_\w+', has "
                       r"weights of shapes .*; the rebuilt network's, '.*', takes .*: they are not the same network"):
        fine_tune_in_tf_keras(run, os.path.join(run, "weights.npz"), out=str(out), epochs=1, learning_rate=1e-4,
                              batch_size=64, seed=0, custom_ops=False, verbose=0)
    assert not out.exists()


def test_export_and_load_weights_round_trip(tmp_path):
    from keras_wht import models
    from keras_wht.quantization_aware import export_weights, load_weights

    source = models.build("resnet20", wht="last-third", input_size=8)
    target = models.build("resnet20", wht="last-third", input_size=8)
    export_weights(source, str(tmp_path / "w.npz"))
    load_weights(target, str(tmp_path / "w.npz"))
    for a, b in zip(source.get_weights(), target.get_weights()):
        np.testing.assert_array_equal(a, b)
