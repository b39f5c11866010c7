"""Quantization-aware fine-tuning of a `keras-wht train` run: its int8 TFLite models,
with the ranges learnt in a few epochs of QAT (what `keras-wht qat RUN` runs).

tensorflow-model-optimization works with tf_keras only, and a run's model.keras is a
Keras 3 file that tf_keras does not load. So `fine_tune` works on two sides: the Keras 3
side reads the trained weights out of model.keras, layer by layer, into an .npz file; the
tf_keras side rebuilds the same network with keras_wht.models.build, loads them, fine-tunes
it with keras_wht.tflite.qat on the run's data set and converts it. The side whose Keras
this process has runs here, the other in a subprocess (`python -m keras_wht.quantization_aware`,
with TF_USE_LEGACY_KERAS set for it).
"""

import argparse
import contextlib
import json
import numbers
import os
import subprocess
import sys
import tempfile

import numpy as np

from keras_wht import _checks, _files

RUN_FILES = ("model.keras", "metrics.json")
OUTPUTS = ("int8.tflite", "int8-custom.tflite", "metrics.json")


def fine_tune(run_dir, *, epochs=3, learning_rate=1e-4, batch_size=16, seed=None, out=None, custom_ops=True,
              verbose=1):
    """Fine-tunes the network of the run folder `run_dir` quantization-aware and converts it.

    Rebuilds the run's network (metrics.json's model and wht, model.keras's input size)
    with its trained weights, makes it quantization-aware (keras_wht.tflite.qat), trains
    it `epochs` more epochs on the run's training split (the same split and pipeline as
    `keras-wht train`) with its batch norms frozen (their trained statistics, in inference
    mode: what the converted model computes; training-mode batch norms made the test
    accuracy swing by 2-3 points from epoch to epoch, see docs/TFLITE.md), then writes
    into `out` (default `run_dir`/qat): int8.tflite
    (builtin ops), int8-custom.tflite (each WHT layer one KerasWht op; unless
    `custom_ops=False`) and metrics.json, which it returns: the test accuracy of the
    rebuilt float network, of the QAT Keras model and of each .tflite file. Nothing is
    written unless all of it is done.

    Args:
        run_dir: a folder `keras-wht train` wrote (model.keras and metrics.json).
        epochs, learning_rate, batch_size: the fine-tuning (Adam, cosine decay to 0).
        seed: the run's `--seed`, which chose its data split; None: the seed metrics.json
            records (0, `keras-wht train`'s default, for runs from before it did).
        verbose: Keras' fit verbosity.

    Raises ValueError naming the folder when it is not a finished run, or an argument and
    its value; ImportError when tf_keras, tensorflow-model-optimization or the custom-op
    kernels are missing; RuntimeError when the subprocess fails otherwise.
    """
    import importlib.util

    run = read_run(run_dir)
    options = _options(run, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, seed=seed,
                       custom_ops=custom_ops, verbose=verbose)
    out = os.path.join(run_dir, "qat") if out is None else out
    _files.check_output(out, "out", folder=True)
    missing = [name for name in ("tf_keras", "tensorflow_model_optimization") if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"quantization-aware training needs {' and '.join(missing)}: pip install 'keras-wht[legacy]'")
    if custom_ops:
        from keras_wht.tflite.runtime import custom_ops as native

        native.library()  # a clear error now, not after the training
    with tempfile.TemporaryDirectory(prefix="keras-wht-qat-") as scratch:
        weights = os.path.join(scratch, "weights.npz")
        if _checks.legacy_keras():
            _subprocess(["export", run_dir, weights], legacy=False, verbose=verbose)
            metrics = fine_tune_in_tf_keras(run_dir, weights, out=out, **options)
        else:
            export_run(run_dir, weights)
            flags = [f"--{name.replace('_', '-')}={value}" for name, value in options.items()]
            _subprocess(["fine-tune", run_dir, weights, f"--out={out}", *flags], legacy=True, verbose=verbose)
            with open(os.path.join(out, "metrics.json")) as f:
                metrics = json.load(f)
    return metrics


def read_run(run_dir, name="run_dir"):
    """metrics.json of the run folder `run_dir` as a dict, or a ValueError naming the folder
    (as the argument `name`) when it is not a finished `keras-wht train` run."""
    if not isinstance(run_dir, (str, os.PathLike)):
        raise ValueError(f"`{name}` must be a folder path, got {run_dir!r}")
    if not os.path.isdir(run_dir):
        raise ValueError(f"`{name}` {os.fspath(run_dir)!r} is not a folder: give a `keras-wht train` run folder")
    missing = [name for name in RUN_FILES if not os.path.isfile(os.path.join(run_dir, name))]
    if missing:
        raise ValueError(f"`{name}` {os.fspath(run_dir)!r} is not a finished `keras-wht train` run: it has no "
                         f"{' and no '.join(missing)}")
    path = os.path.join(run_dir, "metrics.json")
    try:
        with open(path) as f:
            run = json.load(f)
    except ValueError as err:
        raise ValueError(f"`{name}` {os.fspath(run_dir)!r} holds a metrics.json that is not JSON: {err}") from err
    lacking = [key for key in ("model", "wht", "dataset") if not isinstance(run, dict) or key not in run]
    if lacking:
        raise ValueError(f"`{name}` {os.fspath(run_dir)!r} holds a metrics.json without {', '.join(lacking)}: not "
                         "one `keras-wht train` wrote")
    return run


def _options(run, *, epochs, learning_rate, batch_size, seed, custom_ops, verbose):
    """The fine-tuning options, checked, as keyword arguments of `fine_tune_in_tf_keras`."""
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real) or \
            not 0 < learning_rate < float("inf"):
        raise ValueError(f"`learning_rate` must be a positive number, got {learning_rate!r}.")
    seed = run.get("seed", 0) if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        raise ValueError(f"`seed` must be an integer from 0 to 2**32 - 1, got {seed!r}.")
    if not isinstance(custom_ops, bool):
        raise ValueError(f"`custom_ops` must be True or False, got {custom_ops!r}.")
    _checks.one_of("verbose", verbose, (0, 1, 2))
    return dict(epochs=_checks.positive_int("epochs", epochs), learning_rate=float(learning_rate),
                batch_size=_checks.positive_int("batch_size", batch_size), seed=int(seed), custom_ops=custom_ops,
                verbose=int(verbose))


def export_weights(model, path):
    """Writes `model`'s weights to the .npz file `path`, layer by layer (the layers that
    have weights, in `model.layers` order), with its input shape: what `load_weights`
    reads into the same network built under the other Keras."""
    layers = [layer for layer in model.layers if layer.weights]
    arrays = {"input_shape": np.asarray(model.inputs[0].shape[1:], dtype=np.int64),
              "names": np.asarray([layer.name for layer in layers])}
    for k, layer in enumerate(layers):
        for j, value in enumerate(layer.get_weights()):
            arrays[f"{k}/{j}"] = value
    np.savez(path, **arrays)


def load_weights(model, path):
    """Sets `model`'s weights from `export_weights`' file `path`, layer by layer; a
    ValueError names the first layer whose weights do not fit."""
    layers = [layer for layer in model.layers if layer.weights]
    with np.load(path) as data:
        names = [str(name) for name in data["names"]]
        if len(names) != len(layers):
            raise ValueError(f"the run's network has {len(names)} layers with weights, the network rebuilt from its "
                             f"metrics.json {len(layers)}: they are not the same network")
        for k, (name, layer) in enumerate(zip(names, layers)):
            count = sum(1 for key in data.files if key.startswith(f"{k}/"))
            values = [data[f"{k}/{j}"] for j in range(count)]
            got, want = [tuple(v.shape) for v in values], [tuple(int(d) for d in w.shape) for w in layer.weights]
            if got != want:
                raise ValueError(f"layer {k} with weights of the run's network, {name!r}, has weights of shapes {got}; "
                                 f"the rebuilt network's, {layer.name!r}, takes {want}: they are not the same network")
            layer.set_weights(values)


def export_run(run_dir, path):
    """The Keras 3 side: the run's model.keras's weights to the .npz file `path`."""
    import keras_wht.layers  # noqa: F401  (registers the WHT layers, so load_model finds them)
    from keras_wht import training

    export_weights(training.load_saved(os.path.join(run_dir, "model.keras"), "run_dir/model.keras"), path)


def fine_tune_in_tf_keras(run_dir, weights, *, out, epochs, learning_rate, batch_size, seed, custom_ops, verbose):
    """The tf_keras side of `fine_tune` (TF_USE_LEGACY_KERAS=1): from the run's metrics and
    the weights `export_run` wrote, the fine-tuned QAT model's files in `out`. Returns
    the metrics it writes."""
    from keras_wht import datasets, models, tflite
    from keras_wht._keras import keras, walk_layers
    from keras_wht.datasets.pipeline import pipeline
    from keras_wht.tflite import qat

    run = read_run(run_dir)
    with np.load(weights) as data:
        input_shape = tuple(int(d) for d in data["input_shape"])
    if len(input_shape) != 3 or input_shape[0] != input_shape[1] or input_shape[2] != 3:
        raise ValueError(f"`run_dir` {os.fspath(run_dir)!r} holds a model for inputs of shape {input_shape}, not "
                         "the square RGB images `keras-wht train` makes")
    input_size = input_shape[0]
    keras.utils.set_random_seed(seed)
    fit = run.get("fit", "resize")  # `keras-wht train`'s splits, prepared as it did (its validation left out)
    data = datasets.splits(run["dataset"], seed=seed, input_size=input_size, fit=fit, train_size=run.get("train_size"))
    (x_test, y_test), classes = data.test, data.classes
    batches = dict(input_size=input_size, batch_size=batch_size, fit=fit)
    train_data = pipeline(*data.train, shuffle=True, seed=seed, **batches)
    test_data = pipeline(x_test, y_test, **batches)

    net = models.build(run["model"], wht=run["wht"], alpha=run.get("alpha", 1.0), input_size=input_size,
                       classes=classes)
    load_weights(net, weights)
    for layer in (layer for layer in walk_layers(net) if isinstance(layer, keras.layers.BatchNormalization)):
        # Fine-tuning keeps the trained statistics, and trains in inference mode, which is
        # what the converted model computes (see docs/TFLITE.md for the measurements).
        layer.trainable = False
    net.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    metrics = {"model": run["model"], "wht": run["wht"], "dataset": run["dataset"], "input_size": input_size,
               "epochs": epochs, "learning_rate": learning_rate, "batch_size": batch_size, "seed": seed,
               "float_test_accuracy": float(net.evaluate(test_data, verbose=0)[1])}

    aware = qat.quantize_model(net)
    steps = epochs * len(train_data)
    aware.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, steps)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    aware.fit(train_data, epochs=epochs, verbose=verbose)
    metrics["test_accuracy"] = float(aware.evaluate(test_data, verbose=0)[1])

    images = np.concatenate([x.numpy() for x, _ in test_data])
    contents = {"int8.tflite": tflite.convert(aware, quantize="qat")}
    if custom_ops:
        contents["int8-custom.tflite"] = tflite.convert(aware, quantize="qat", custom_ops=True)
    for name, content in contents.items():
        scores = tflite.Interpreter(model_content=content).predict(images, batch_size=64, progress=False)
        metrics[f"{name.split('.')[0].replace('-', '_')}_test_accuracy"] = float(np.mean(scores.argmax(-1) == y_test))
    _write(out, contents, metrics)
    return metrics


def _write(out, contents, metrics):
    """The files into `out`, each whole, metrics.json last; a metrics.json or .tflite file
    of an earlier fine-tuning that this one does not replace is removed first, so the
    folder never mixes two."""
    os.makedirs(out, exist_ok=True)
    for name in OUTPUTS:
        if name not in contents:
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(out, name))
    for name, content in contents.items():
        _files.write_file(os.path.join(out, name), content)
    _files.write_file(os.path.join(out, "metrics.json"), json.dumps(metrics, indent=2))


def _subprocess(arguments, *, legacy, verbose):
    """Runs this module's `main(arguments)` in a Python subprocess with tf_keras (`legacy`)
    or Keras 3; re-raises its ValueError, or a RuntimeError with the end of its stderr."""
    env = dict(os.environ)
    if legacy:
        env["TF_USE_LEGACY_KERAS"] = "1"
    else:
        env.pop("TF_USE_LEGACY_KERAS", None)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # The child imports this copy of keras_wht, installed or not.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-m", "keras_wht.quantization_aware", *arguments], env=env,
                          stdout=None if verbose else subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode == 0:
        return
    lines = done.stderr.strip().splitlines()
    if done.returncode == 2 and lines and lines[-1].startswith(_ERROR):
        raise ValueError(lines[-1][len(_ERROR):])
    side = "tf_keras" if legacy else "Keras 3"
    tail = "\n".join(lines[-20:])
    raise RuntimeError(f"fine_tune's {side} side ({' '.join(arguments[:1])}) failed with exit code "
                       f"{done.returncode}:\n{tail}")


_ERROR = "keras_wht.quantization_aware: ValueError: "


def main(argv=None):
    """The subprocess side: `export RUN WEIGHTS` (Keras 3) or `fine-tune RUN WEIGHTS --out OUT ...`
    (tf_keras)."""
    parser = argparse.ArgumentParser(prog="python -m keras_wht.quantization_aware")
    sides = parser.add_subparsers(dest="side", required=True)
    p = sides.add_parser("export")
    p.add_argument("run_dir")
    p.add_argument("weights")
    p = sides.add_parser("fine-tune")
    p.add_argument("run_dir")
    p.add_argument("weights")
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--learning-rate", type=float, required=True)
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--custom-ops", choices=["True", "False"], required=True)
    p.add_argument("--verbose", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        if args.side == "export":
            export_run(args.run_dir, args.weights)
        else:
            fine_tune_in_tf_keras(args.run_dir, args.weights, out=args.out, epochs=args.epochs,
                               learning_rate=args.learning_rate, batch_size=args.batch_size, seed=args.seed,
                               custom_ops=args.custom_ops == "True", verbose=args.verbose)
    except ValueError as err:
        print(_ERROR + " ".join(str(err).split()), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
