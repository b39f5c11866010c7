"""Digits accuracy of a trained model: Keras, TFLite float32, stock full-integer int8,
and keras-wht's int8 (WHT layers kept in float32), with each one's signal-to-quantization-
noise ratio and largest difference against Keras over the test set's outputs.

    python benchmarks/int8_accuracy.py [--run runs/mnv2_paper-540k]

`--run` is a folder written by `keras-wht train` (its model.keras is used); when it holds
no model yet, the training command of docs/TFLITE.md fills it first (MobileNetV2 paper-540k, 30
epochs on digits, about 3 minutes on 2 cores).
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_wht.layers  # noqa: E402,F401  (registers the layers for load_model)
from keras_wht import datasets, tflite, training  # noqa: E402
from keras_wht._keras import keras  # noqa: E402


def _sqnr_db(want, got):
    """Signal-to-quantization-noise ratio of `got` against `want`, in dB (check_parity asks
    int8 models for 20 dB)."""
    return float(10 * np.log10(np.mean(np.square(want)) / np.mean(np.square(want - got))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/mnv2_paper-540k")
    args = parser.parse_args()
    path = os.path.join(args.run, "model.keras")
    if not os.path.isfile(path):
        training.train(model="mobilenet_v2", wht="paper-540k", dataset="digits", epochs=30, batch_size=16,
                       learning_rate=1e-3, out=args.run, verbose=2)
    model = keras.saving.load_model(path)
    size = tuple(model.inputs[0].shape[1:3])
    (x_train, _), (x_test, y_test) = datasets.load_digits()
    prepare = lambda x: np.tile(tf.image.resize(x, size).numpy(), (1, 1, 1, 3))  # noqa: E731
    x_test, calibration = prepare(x_test), prepare(x_train[:128])

    def run(content):
        return lambda x: tflite.Interpreter(model_content=content).predict(x, batch_size=64, progress=False)

    stock = tf.lite.TFLiteConverter.from_keras_model(model)
    stock.optimizations = [tf.lite.Optimize.DEFAULT]
    stock.representative_dataset = lambda: ([calibration[i:i + 1]] for i in range(len(calibration)))
    rows = [
        ("Keras", lambda x: model.predict(x, verbose=0)),
        ("TFLite float32", run(tflite.convert(model))),
        ("TFLite int8, stock full-integer", run(stock.convert())),
        ("TFLite int8, keras-wht (WHT layers in float32)",
         run(tflite.convert(model, quantize="int8", representative_data=calibration))),
    ]
    print(f"| {path} on digits | test accuracy | SQNR against Keras | largest difference |")
    print("|---|---:|---:|---:|")
    keras_out = None
    for name, predict in rows:
        out = predict(x_test)
        against = ["", ""]
        if keras_out is None:  # the first row is Keras itself
            keras_out = out
        else:
            against = [f"{_sqnr_db(keras_out, out):.1f} dB", f"{np.max(np.abs(keras_out - out)):.3g}"]
        accuracy = np.mean(np.argmax(out, axis=1) == y_test)
        print(f"| {name} | {accuracy:.3f} | {' | '.join(against)} |", flush=True)


if __name__ == "__main__":
    main()
