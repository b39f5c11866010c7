"""`keras-wht demo`, the README's main job: a WHT MobileNet-V2 against the plain one, from
training to a benchmark, offline.

1. Train MobileNetV2, plain and with the paper's WHT layers (preset `paper-540k`), on
   scikit-learn's digits (shipped inside its wheel), resized to 32x32x3.
2. Convert both to TFLite: builtin operators, and the WHT network also with keras-wht's
   custom ops.
3. Check every converted model against its Keras model (fail loudly if one differs) and
   score it on the test set.
4. Time them side by side (1 thread) with their peak memory, and run the paper's layer
   test (WHT2D vs 3x3 convolution on 8x8x1024, WHT1D vs 1x1 convolution on 32x32x1024).
5. Write the report into the output folder: report.md, report.json, and PNG plots.
"""

import json
import os
import sys

import numpy as np

from keras_wht import _files, datasets, training
from keras_wht._keras import keras
from keras_wht.datasets import pipeline
from keras_wht.models import registry

MODEL = "mobilenet_v2"
INPUT_SIZE = 32


class DemoFailed(RuntimeError):
    """A step whose failure ends the demo with exit status 1 and this message."""


def check(*, epochs, seed, out, wht):
    """Raises ValueError naming the argument and its value (ImportError without matplotlib)
    unless `run` can start with these. Cheap: loads, builds and makes nothing."""
    if epochs < 1:
        raise ValueError(f"`--epochs` must be at least 1, got {epochs}")
    if wht not in registry.presets(MODEL):
        raise ValueError(f"`--wht` must be a MobileNetV2 preset ({', '.join(registry.presets(MODEL))}), "
                         f"got {wht!r}")
    from keras_wht.bench import report

    training.check(model=MODEL, wht=wht, epochs=epochs, seed=seed, input_size=INPUT_SIZE)
    report.require_plots()
    _files.check_output(out, "--out", folder=True)


def _test_images(seed):
    """The digits test split, resized to INPUT_SIZE x INPUT_SIZE x 3 as training sees it."""
    _, (x, y) = datasets.load_digits(seed=seed)
    return pipeline.images(x, input_size=INPUT_SIZE), y


def _train(name, wht, *, epochs, seed, out, console):
    console.rule(f"[1/5] training MobileNetV2 {name} on digits ({epochs} epochs)")
    metrics = training.train(model=MODEL, wht=wht, dataset="digits", epochs=epochs, batch_size=16,
                             learning_rate=1e-3, seed=seed, out=os.path.join(out, name),
                             verbose=1 if sys.stdout.isatty() else 2)
    model = keras.saving.load_model(os.path.join(out, name, "model.keras"))
    with open(os.path.join(out, name, "history.json")) as f:
        history = json.load(f)
    return model, metrics, history


def _convert_and_check(models, x_test, y_test, *, out, console, use_custom_ops):
    """{(name, path): flatbuffer}, and per (name, path): size, parity and test accuracy."""
    from keras_wht import tflite
    from keras_wht.bench import paths

    console.rule("[2/5] converting to TFLite, [3/5] checking against Keras")
    converted, results = {}, {}
    for name, model in models.items():
        for path in ("builtin", "custom") if name != "plain" and use_custom_ops else ("builtin",):
            with console.status(f"converting {name} ({path} ops)"):
                try:
                    content = paths.convert(model, path, None)
                    report = tflite.check_parity(model, content, inputs=x_test[:64])
                except ValueError as err:  # ParityError included
                    raise DemoFailed(f"the {name} network's TFLite conversion ({path} ops): {err}") from err
            file = os.path.join(out, f"{name}-{path}.tflite")
            with open(file, "wb") as f:
                f.write(content)
            it = tflite.Interpreter(model_content=content, num_threads=1)
            accuracy = float(np.mean(np.argmax(it.predict(x_test, batch_size=64, progress=False), 1) == y_test))
            converted[name, path] = content
            results[f"{name} ({path})"] = {"file": file, "bytes": len(content), "operators": len(tflite.operators(content)),
                                           "parity": float(max(report.values())), "test_accuracy": accuracy}
            console.print(f"{name} ({path} ops): {len(content):,} bytes, largest |TFLite - Keras| "
                          f"{max(report.values()):.2g}, test accuracy {accuracy:.4f}")
    return converted, results


def _benchmark(models, converted, x, *, layer_size, repeats, use_custom_ops, console):
    from keras_wht.bench import compare, job, layers, report

    console.rule("[4/5] benchmark: TFLite, 1 thread, side by side")
    chosen = ("builtin", "custom") if use_custom_ops else ("builtin",)
    settings = {"paths": list(chosen), "threads": [1], "schedule": "warm", "repeats": repeats, "memory": True,
                "runtime": None}
    total = len(chosen) * (1 + len(layers.cases(layer_size)))
    with job.progress(console, total, "benchmark") as step:
        network = compare.compare(f"MobileNetV2 {INPUT_SIZE}x{INPUT_SIZE} digits", models, x[:1], paths=chosen,
                                  repeats=repeats, calibration=x[:32], converted=converted, step=step)
        layer_rows = layers.run(layer_size, paths=chosen, repeats=repeats, step=step)
    return (report.document("models", network, {**settings, "models": [MODEL]}),
            report.document("layers", layer_rows, {**settings, "size": layer_size}))


def _training_plot(histories, metrics, path):
    """Training loss, training and validation accuracy per epoch, and each network's test
    accuracy after training."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for (name, history), color in zip(histories.items(), ("tab:blue", "tab:orange")):
        epochs = [row["epoch"] + 1 for row in history]
        left.plot(epochs, [row["loss"] for row in history], color=color, label=name)
        right.plot(epochs, [row["accuracy"] for row in history], color=color, label=f"{name}, training")
        right.plot(epochs, [row["val_accuracy"] for row in history], color=color, linestyle=":",
                   label=f"{name}, validation")
        right.axhline(metrics[name]["test_accuracy"], color=color, linestyle="--",
                      label=f"{name}, test after training ({metrics[name]['test_accuracy']:.3f})")
    left.set(xlabel="epoch", ylabel="training loss", yscale="log", title="training loss")
    right.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02), title="accuracy")
    for ax in (left, right):
        ax.legend(fontsize=7)
    fig.suptitle("MobileNetV2 on digits (32x32): plain and with WHT layers")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _markdown(summary, bench_models, bench_layers):
    from keras_wht.bench import report

    lines = [f"# keras-wht demo: MobileNetV2 with WHT layers ({summary['wht']}) on digits", "",
             f"{summary['epochs']} epoch{'s' if summary['epochs'] != 1 else ''}, seed {summary['seed']}, input {INPUT_SIZE}x{INPUT_SIZE}x3.", "",
             "| network | parameters | Keras test accuracy |", "|---|---:|---:|"]
    for name, m in summary["training"].items():
        lines.append(f"| {name} | {m['parameters']:,} | {m['test_accuracy']:.4f} |")
    lines += ["", "| TFLite model | bytes | operators | largest abs. difference from Keras | test accuracy |",
              "|---|---:|---:|---:|---:|"]
    for name, t in summary["tflite"].items():
        lines.append(f"| {name} | {t['bytes']:,} | {t['operators']} | {t['parity']:.2g} | {t['test_accuracy']:.4f} |")
    lines += ["", "## The networks, side by side", "", report.markdown(bench_models),
              "## The paper's layer test", "", report.markdown(bench_layers),
              "Plots: training.png, bench-models-latency.png, bench-layers-speedup.png (and the rest "
              "in this folder)."]
    return "\n".join(lines) + "\n"


def run(*, epochs=30, seed=0, out="runs/demo", wht="paper-540k", quick=False):
    """Runs the demo into `out`; returns the exit status (0, or 1 with the reason printed)."""
    from keras_wht.bench import report
    from keras_wht.tflite.runtime import custom_ops

    console = report.console()
    os.makedirs(out, exist_ok=True)
    use_custom_ops = custom_ops.available()
    if not use_custom_ops:
        console.print("[yellow]keras-wht's kernels are not built here: the custom-op models are left out "
                      "(install g++ and libflatbuffers-dev, then reinstall keras-wht).[/]")
    try:
        trained, metrics, histories = {}, {}, {}
        for name, preset in (("plain", None), (wht, wht)):
            trained[name], metrics[name], histories[name] = _train(name, preset, epochs=epochs, seed=seed, out=out,
                                                                   console=console)
        x_test, y_test = _test_images(seed)
        converted, tflite_results = _convert_and_check(trained, x_test, y_test, out=out, console=console,
                                                       use_custom_ops=use_custom_ops)
        bench_models, bench_layers = _benchmark(trained, converted, x_test, layer_size="tiny" if quick else "paper",
                                                repeats=5 if quick else 50, use_custom_ops=use_custom_ops,
                                                console=console)
    except DemoFailed as err:
        print(f"keras-wht demo failed: {err}".replace("\n", " "), file=sys.stderr)
        return 1

    console.rule("[5/5] report")
    summary = {"model": MODEL, "wht": wht, "epochs": epochs, "seed": seed, "quick": quick, "training": metrics,
               "tflite": tflite_results}
    written = {**{f"models_{k}": v for k, v in report.write(bench_models, out).items()},
               **{f"layers_{k}": v for k, v in report.write(bench_layers, out).items()}}
    _training_plot(histories, metrics, os.path.join(out, "training.png"))
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump({**summary, "bench_models": bench_models, "bench_layers": bench_layers}, f, indent=2)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(_markdown(summary, bench_models, bench_layers))
    console.print(report.table(bench_models))
    console.print(report.table(bench_layers))
    console.print(f"report: {os.path.join(out, 'report.md')}, report.json, training.png and "
                  f"{len(written)} benchmark files in {out}")
    return 0
