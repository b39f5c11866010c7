"""The README's main job, as far as the project goes today: WHT layers against the
convolutions they replace, trained on the offline digits set, saved and reloaded,
converted to TFLite, checked against Keras and timed side by side."""

import json
import os
import statistics
import time

import numpy as np

from keras_wht._keras import keras
from keras_wht.datasets import load_digits
from keras_wht.layers import WHT1D, WHT2D


def _model(kind, channels=32):
    """A stem conv, then a 3x3-conv slot and a 1x1-conv slot, filled by `kind`."""
    layers = [
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(channels, 3, padding="same", activation="relu", name="stem"),
    ]
    if kind == "wht":
        # Residual, as the binary layers sit in the paper's bottleneck blocks.
        layers += [WHT2D(residual=True, name="wht2d"), WHT1D(residual=True, name="wht1d")]
    else:
        layers += [
            keras.layers.Conv2D(channels, 3, padding="same", activation="relu", name="conv3x3"),
            keras.layers.Conv2D(channels, 1, activation="relu", name="conv1x1"),
        ]
    layers += [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")]
    return keras.Sequential(layers, name=f"digits_{kind}")


def _slot_params(model):
    return sum(layer.count_params() for layer in model.layers if layer.name in ("wht2d", "wht1d", "conv3x3", "conv1x1"))


def _tflite(model, path, x_test, y_test):
    """Converts, checks parity on test images, and returns size, accuracy and an invoke timer."""
    from keras_wht import tflite

    content = tflite.convert(model)
    with open(path, "wb") as f:
        f.write(content)
    report = tflite.check_parity(model, content, inputs=x_test[:64])
    it = tflite.Interpreter(model_content=content, num_threads=1)
    accuracy = float(np.mean(np.argmax(it.predict(x_test, batch_size=64, progress=False), 1) == y_test))
    single = tflite.Interpreter(model_content=content, num_threads=1)
    index = single.get_input_details()[0]["index"]

    def invoke():
        single.set_tensor(index, x_test[:1])
        single.invoke()

    return {"bytes": len(content), "parity": max(report.values()), "accuracy": accuracy}, invoke


def _time_side_by_side(invokes, repeats=300):
    samples = {kind: [] for kind in invokes}
    for _ in range(repeats):
        for kind, invoke in invokes.items():
            start = time.perf_counter()
            invoke()
            samples[kind].append(time.perf_counter() - start)
    return {kind: statistics.median(s) * 1e6 for kind, s in samples.items()}


def run(*, epochs=15, seed=0, out="runs/demo"):
    from rich.console import Console
    from rich.table import Table

    console = Console()
    os.makedirs(out, exist_ok=True)
    (x_train, y_train), (x_test, y_test) = load_digits(seed=seed)
    console.print(f"digits: {len(x_train)} training and {len(x_test)} test images of 8x8 (scikit-learn)")
    results, invokes = {}, {}
    for kind in ("conv", "wht"):
        keras.utils.set_random_seed(seed)
        model = _model(kind)
        model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        console.rule(f"training the {kind} model")
        start = time.perf_counter()
        model.fit(x_train, y_train, epochs=epochs, batch_size=64, validation_split=0.1, verbose=2)
        seconds = time.perf_counter() - start
        _, accuracy = model.evaluate(x_test, y_test, verbose=0)
        path = os.path.join(out, f"{kind}.keras")
        model.save(path)
        reloaded = keras.saving.load_model(path)
        drift = float(np.max(np.abs(reloaded.predict(x_test, verbose=0) - model.predict(x_test, verbose=0))))
        try:
            converted, invokes[kind] = _tflite(model, os.path.join(out, f"{kind}.tflite"), x_test, y_test)
        except ValueError as err:  # ParityError included: fail loudly, with the reason
            console.print(f"demo failed: the {kind} model's TFLite conversion: {err}")
            return 1
        results[kind] = {
            "tflite": converted,
            "parameters": int(model.count_params()),
            "replaced_layer_parameters": int(_slot_params(model)),
            "test_accuracy": float(accuracy),
            "train_seconds": round(seconds, 2),
            "reload_max_abs_diff": drift,
            "model": path,
        }
    console.rule("TFLite, 1 thread, one image, timed side by side")
    for kind, micros in _time_side_by_side(invokes).items():
        results[kind]["tflite"]["invoke_us"] = round(micros, 1)
    table = Table(title=f"digits, {epochs} epochs, seed {seed}")
    for column in ("model", "params", "slot params", "accuracy", "TFLite acc", "parity", "bytes", "us/image"):
        table.add_column(column, justify="right")
    for kind, r in results.items():
        t = r["tflite"]
        table.add_row(kind, f"{r['parameters']:,}", f"{r['replaced_layer_parameters']:,}", f"{r['test_accuracy']:.4f}",
                      f"{t['accuracy']:.4f}", f"{t['parity']:.1e}", f"{t['bytes']:,}", f"{t['invoke_us']:.1f}")
    console.print(table)
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump({"epochs": epochs, "seed": seed, "results": results}, f, indent=2)
    console.print(f"report: {os.path.join(out, 'report.json')}")
    if results["wht"]["reload_max_abs_diff"] > 1e-6:
        console.print("demo failed: the reloaded WHT model differs from the trained one")
        return 1
    return 0
