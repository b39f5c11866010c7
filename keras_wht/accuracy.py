"""The accuracy table of a `keras-wht train` run: its model in Keras and as each TFLite
model a user can ship, on the run's test split. What `keras-wht accuracy RUN` prints.

Rows: Keras; TFLite float32 (builtin ops, and custom ops); int8 (builtin ops, and custom
ops), calibrated on training images; and, with `qat`, int8 after quantization-aware
fine-tuning (keras_wht.quantization_aware). Columns: test accuracy, its difference from
Keras in points, the signal-to-quantization-noise ratio of the outputs against Keras'
(dB), and their largest absolute difference.
"""

import json
import os

import numpy as np

from keras_wht import _files, datasets, training
from keras_wht.datasets.pipeline import images

CALIBRATION_SAMPLES = 128


def check(run):
    """metrics.json of `run` as a dict; a ValueError naming `run` unless it is a finished
    `keras-wht train` folder."""
    from keras_wht import quantization_aware

    return quantization_aware.read_run(run, name="run")


def data(run, model, *, calibration=CALIBRATION_SAMPLES):
    """(test images, test labels, calibration images) of the run's data set, prepared as
    training prepared them (same split, subset, size, fit and channels)."""
    metrics = check(run)
    size, fit = int(model.inputs[0].shape[1]), metrics.get("fit", "resize")
    split = datasets.splits(metrics["dataset"], seed=metrics.get("seed", 0), input_size=size, fit=fit,
                            train_size=metrics.get("train_size"))
    (x_train, _), (x_test, labels) = split.train, split.test
    return (images(x_test, input_size=size, fit=fit), labels,
            images(x_train[-calibration:], input_size=size, fit=fit))


def measure(run, *, calibration=CALIBRATION_SAMPLES, qat=None, progress=print):
    """The table's rows for `run` (see the module docstring): a list of dicts with `name`,
    `accuracy`, and against Keras `points`, `sqnr_db` and `max_difference`. `qat` is a
    folder keras_wht.quantization_aware.fine_tune wrote (its int8 models are added; their
    SQNR is against the Keras model QAT started from, whose weights it changed)."""
    import keras_wht.layers  # noqa: F401  (registers the layers for loading)
    from keras_wht import tflite
    from keras_wht.tflite.verification import sqnr_db

    check(run)
    model = training.load_saved(os.path.join(run, "model.keras"), "run")
    test, labels, calibration_images = data(run, model, calibration=calibration)
    reference = model.predict(test, batch_size=256, verbose=0)
    rows = [{"name": "Keras", "accuracy": float(np.mean(np.argmax(reference, axis=1) == labels))}]

    def add(name, content):
        out = tflite.Interpreter(model_content=content).predict(test, batch_size=64, progress=False)
        accuracy = float(np.mean(np.argmax(out, axis=1) == labels))
        rows.append({"name": name, "accuracy": accuracy, "points": 100 * (accuracy - rows[0]["accuracy"]),
                     "sqnr_db": float(sqnr_db(reference, out)),
                     "max_difference": float(np.max(np.abs(reference - out)))})
        progress(markdown_row(rows[-1]))

    progress(markdown_row(rows[0]))
    int8 = dict(quantize="int8", representative_data=calibration_images)
    add("TFLite float32, builtin ops", tflite.convert(model))
    add("TFLite float32, custom ops", tflite.convert(model, custom_ops=True))
    add("TFLite int8, builtin ops", tflite.convert(model, **int8))
    add("TFLite int8, custom ops", tflite.convert(model, custom_ops=True, **int8))
    if qat is not None:
        for name, label in (("int8.tflite", "builtin ops"), ("int8-custom.tflite", "custom ops")):
            with open(os.path.join(qat, name), "rb") as f:
                add(f"TFLite int8 after QAT, {label}", f.read())
    return rows


HEADER = ("| model | test accuracy | against Keras (points) | SQNR against Keras | largest difference |\n"
          "|---|---:|---:|---:|---:|")


def markdown_row(row):
    if "points" not in row:
        return f"| {row['name']} | {row['accuracy']:.3f} | | | |"
    return (f"| {row['name']} | {row['accuracy']:.3f} | {row['points']:+.1f} | {row['sqnr_db']:.1f} dB | "
            f"{row['max_difference']:.3g} |")


def markdown(rows, run, *, calibration=CALIBRATION_SAMPLES, qat_epochs=None):
    metrics = check(run)
    title = f"{metrics['model']} `{metrics.get('wht')}` on {metrics['dataset']} ({run})"
    how = (f"`keras-wht accuracy {run}`: test split of {metrics['dataset']} (seed {metrics.get('seed', 0)}); "
           f"int8 calibrated on {calibration} training images")
    if qat_epochs:
        how += f"; QAT fine-tuned for {qat_epochs} epochs (`keras-wht qat`)"
    return "\n".join([f"### {title}", "", HEADER, *map(markdown_row, rows), "", how + ".", ""])


def write(rows, run, **settings):
    """RUN/accuracy.md and RUN/accuracy.json, each whole or not at all (`settings`: those
    of `markdown`)."""
    _files.write_file(os.path.join(run, "accuracy.md"), markdown(rows, run, **settings))
    _files.write_file(os.path.join(run, "accuracy.json"), json.dumps(rows, indent=2))
