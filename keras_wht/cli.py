"""The keras-wht command: info, models, train, convert, bench, demo."""

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import sys
import tempfile

# Packages that `info` reports, and the TFLite runtimes the project can run on.
PACKAGES = ("tensorflow", "keras", "tf-keras", "numpy", "tensorflow-model-optimization")
RUNTIMES = {
    "ai_edge_litert": "ai-edge-litert",
    "tflite_runtime": "tflite-runtime",
    "tensorflow.lite": "tensorflow",
}


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _has_module(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def info():
    """What keras-wht runs on: versions of Python, TF, Keras and the TFLite runtimes found."""
    import keras_wht
    from keras_wht import _checks

    try:
        _checks.require_tensorflow()
        layers = "tf_keras (TF_USE_LEGACY_KERAS=1)" if _checks.legacy_keras() else "keras 3"
    except ImportError:
        layers = None  # a device: it runs converted models only
    return {
        "keras_wht": keras_wht.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "packages": {name: _version(name) for name in PACKAGES},
        "layers_use": layers,
        "tflite_runtimes": {
            module: _version(dist) if _has_module(module) else None for module, dist in RUNTIMES.items()
        },
        "custom_op_kernels": _kernels(),
    }


def _kernels():
    from keras_wht.tflite import custom_ops

    return f"built ({custom_ops.isa()})" if custom_ops.available() else None


def _print_info(data):
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"keras-wht {data['keras_wht']}", show_header=False)
    table.add_row("python", data["python"])
    table.add_row("machine", data["machine"])
    for name, version in data["packages"].items():
        table.add_row(name, version or "not installed")
    table.add_row("layers use", data["layers_use"] or "not installed (pip install 'keras-wht[tensorflow]')")
    for module, version in data["tflite_runtimes"].items():
        table.add_row(f"TFLite runtime {module}", version or "not installed")
    table.add_row("custom-op kernels", data["custom_op_kernels"] or "not built")
    Console().print(table)


def _fail(command, err):
    print(f"keras-wht {command}: {err}", file=sys.stderr)
    return 2


def check_output(path, name, *, folder):
    """Raises ValueError, naming the option, unless `path` can be written: a folder (made
    later if missing), or a file in an existing folder. Checked before any work starts, so a
    typo does not cost a training run or a benchmark."""
    if folder and os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"`{name}` must be a folder, got {path!r}, which is a file")
    if not folder and os.path.isdir(path):
        raise ValueError(f"`{name}` must be a file, got {path!r}, which is a folder")
    existing = os.path.abspath(path) if folder else os.path.dirname(os.path.abspath(path))
    if not folder and not os.path.isdir(existing):
        raise ValueError(f"`{name}` must be a file in an existing folder, got {path!r}")
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(f"`{name}` cannot be made as a folder, got {path!r}: {existing!r} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"`{name}` cannot be written, got {path!r}: no write permission in {existing!r}")
    if not folder and os.path.exists(path) and not os.access(path, os.W_OK):
        raise ValueError(f"`{name}` cannot be written, got {path!r}: the file is read-only")


def write_file(path, content):
    """Writes `content` (bytes or str) to `path` whole or not at all: into a temporary file in
    the same folder, then os.replace, so a failure never leaves a half-written output."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if isinstance(content, bytes) else "w") as f:
            f.write(content)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(temporary, 0o666 & ~mask)  # what open() would have made; mkstemp makes 0600
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def parameter_counts(names, *, input_size, classes):
    """[{model, wht, parameters, of_plain}] for each model, plain and with each preset."""
    from keras_wht import models
    from keras_wht._keras import keras

    rows = []
    for name in names:
        builder = models.get(name)
        plain = None
        for preset in [None, *models.presets(name)]:
            count = builder((input_size, input_size, 3), classes=classes, wht=preset).count_params()
            keras.backend.clear_session()
            plain = plain or count
            rows.append({"model": name, "wht": preset or "none", "parameters": count, "of_plain": count / plain})
    return rows


def _models(args):
    from keras_wht import models

    try:
        rows = parameter_counts(args.model or list(models.BUILDERS), input_size=args.input_size, classes=args.classes)
    except ValueError as err:
        return _fail("models", err)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"parameters, {args.input_size}x{args.input_size}x3 input, {args.classes} classes")
    for column in ("model", "wht", "parameters", "of plain"):
        table.add_column(column, justify="left" if column in ("model", "wht") else "right")
    for r in rows:
        table.add_row(r["model"], r["wht"], f"{r['parameters']:,}", f"{r['of_plain']:.1%}")
    Console().print(table)
    return 0


def _train(args):
    from keras_wht import training

    try:  # every check, the data and the network before --out is made; training errors are not ours to word
        check_output(args.out, "--out", folder=True)
        run = training.prepare(
            model=args.model, wht=training.parse_wht(args.wht), dataset=args.dataset, epochs=args.epochs,
            batch_size=args.batch_size, learning_rate=args.lr, schedule=args.schedule, optimizer=args.optimizer,
            seed=args.seed, out=args.out, resume=args.resume, augment=args.augment,
            distribute=args.distribute, input_size=args.input_size, recalibrate_bn=args.recalibrate_bn,
        )
    except (ValueError, FileNotFoundError, RuntimeError, ImportError) as err:
        return _fail("train", err)
    metrics = run.fit()
    print(f"test accuracy {metrics['test_accuracy']:.4f} ({metrics['parameters']:,} parameters); "
          f"model, checkpoint, history and metrics in {args.out}")
    return 0


def calibration_inputs(name, input_shape, count=128):
    """`count` float32 inputs of `input_shape` (the model's, batch excluded; None where any
    size goes): 'digits' resized and tiled to it, or a .npy file's first `count`. Raises
    ValueError naming `--calibration` and the value unless they fit the model."""
    import numpy as np

    input_shape = tuple(input_shape)
    if name.endswith(".npy"):
        x = _load_npy(name, "--calibration")
        if x.ndim < 1 or x.ndim != len(input_shape) + 1 or any(
                want is not None and got != want for got, want in zip(x.shape[1:], input_shape)):
            held = f"arrays of shape {tuple(x.shape[1:])}" if x.ndim >= 1 else "a single number"
            raise ValueError(f"`--calibration` {name!r} holds {held}, the model takes {_shape(input_shape)}")
        x = x[:count]
    elif name == "digits":
        if len(input_shape) != 3 or None in input_shape:
            raise ValueError(f"`--calibration` 'digits' are images (height, width, channels), the model takes "
                             f"{_shape(input_shape)}: give a .npy file")
        import tensorflow as tf

        from keras_wht import datasets

        (x, _), _ = datasets.load_digits()
        height, width, channels = input_shape
        x = tf.image.resize(x[:count], (height, width)).numpy()
        return np.tile(x, (1, 1, 1, channels))
    else:
        raise ValueError(f"`--calibration` must be 'digits' or a .npy file, got {name!r}.")
    if len(x) == 0:
        raise ValueError(f"`--calibration` {name!r} holds no samples (an array of shape {x.shape})")
    bad = int(np.count_nonzero(~np.isfinite(x)))
    if bad:
        raise ValueError(f"`--calibration` {name!r} holds NaN or infinite values ({bad:,} of {x.size:,} in the first "
                         f"{len(x)} samples)")
    return x


def _shape(shape):
    return "(" + ", ".join("any" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _load_npy(path, name):
    """The float32 array in the .npy file `path`, or ValueError naming `name` and `path`."""
    import numpy as np

    if os.path.isdir(path):
        raise ValueError(f"`{name}` {path!r} is a folder, not a .npy file")
    if not os.path.isfile(path):
        raise ValueError(f"`{name}` {path!r} does not exist")
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
            f.seek(0)
            x = np.load(f, allow_pickle=False) if magic == b"\x93NUMPY" else None
    except (OSError, EOFError) as err:
        raise ValueError(f"`{name}` {path!r} does not read: {err}") from err
    except ValueError as err:  # a damaged header or a short file
        raise ValueError(f"`{name}` {path!r} is not a valid .npy file: {' '.join(str(err).split())}") from err
    if x is None:
        raise ValueError(f"`{name}` {path!r} is not a .npy file (saved by numpy.save)")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"`{name}` {path!r} holds {x.dtype} values, not real numbers")
    return x.astype(np.float32)


def _convert(args):
    import collections

    import keras_wht.layers  # noqa: F401  (registers the WHT layers, so load_model finds them)
    from keras_wht import _checks, tflite, training

    try:
        check_output(args.output, "--output", folder=False)
        if os.path.exists(args.output) and os.path.exists(args.model) and os.path.samefile(args.output, args.model):
            raise ValueError(f"`--output` {args.output!r} is the model itself")
        if args.tolerance is not None:
            _checks.positive_number("--tolerance", args.tolerance)
        model = training.load_saved(args.model, "model")
        data = None
        if args.calibration:
            if len(model.inputs) != 1:
                raise ValueError(f"`--calibration` {args.calibration!r} gives one input, the model takes "
                                 f"{len(model.inputs)}")
            data = calibration_inputs(args.calibration, tuple(model.inputs[0].shape[1:]))
        content = tflite.convert(model, custom_ops=args.custom_ops, quantize=args.quantize, representative_data=data,
                                 io_dtype=args.io_dtype)
        report = None
        if args.verify:
            try:
                report = tflite.check_parity(model, content, inputs=data, quantize=args.quantize,
                                             tolerance=args.tolerance)
            except tflite.ParityError as err:
                raise ValueError(f"{err} {args.output!r} not written (--no-verify writes it unchecked).") from err
    except (ValueError, TypeError, NotImplementedError, ImportError) as err:
        return _fail("convert", err)
    write_file(args.output, content)
    print(f"wrote {args.output}: {len(content):,} bytes")
    counts = collections.Counter(tflite.operators(content))
    print("operators: " + ", ".join(f"{name} x{n}" for name, n in sorted(counts.items())))
    if report is not None:
        worst = max(report.values()) if report else 0.0
        print(f"parity: largest |TFLite - Keras| {worst:.3g} over {len(report)} output(s)")
    return 0


def _int_list(text, name):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"`{name}` must be a comma-separated list of integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise ValueError(f"`{name}` must list integers of at least 1, got {text!r}")
    return tuple(dict.fromkeys(values))


def _bench(args):
    from keras_wht.bench import paths

    try:
        threads = _int_list(args.threads, "--threads")
        if args.repeats < 1:
            raise ValueError(f"`--repeats` must be at least 1, got {args.repeats}")
        if args.what == "layers" and args.batch < 1:
            raise ValueError(f"`--batch` must be at least 1, got {args.batch}")
        chosen = paths.check(p.strip() for p in args.paths.split(",") if p.strip()) if args.paths \
            else paths.default_paths()
        from keras_wht.tflite import runtime

        runtime.interpreter_class(args.runtime)  # an unknown or missing runtime fails here, not mid-run
        if args.out:
            from keras_wht.bench import report

            report.require_plots()
            check_output(args.out, "--out", folder=True)
        for name, path in (("--json", args.json), ("--markdown", args.markdown)):
            if path and path != "-":
                check_output(path, name, folder=False)
        if args.json == "-" and args.markdown == "-":
            raise ValueError("`--json` and `--markdown` cannot both be '-' (standard output)")
        if args.what == "models":
            from keras_wht.bench import models as bench_models

            sizes = tuple(args.input_size or bench_models.INPUT_SIZES)
            names = args.model or None
            wht = args.wht[0] if args.wht and len(args.wht) == 1 else (args.wht or "paper")
            planned = bench_models.plan(names, wht, sizes)  # unknown models, presets and sizes fail here
    except (ValueError, ImportError) as err:
        return _fail("bench", err)
    keras_threads = paths.set_keras_threads(max(threads))  # before TensorFlow runs anything

    from rich.progress import Progress

    from keras_wht.bench import layers, models, report

    settings = {"paths": list(chosen), "threads": list(threads), "keras_threads": keras_threads,
                "schedule": args.schedule, "repeats": args.repeats, "memory": args.memory, "runtime": args.runtime}
    options = dict(paths=chosen, threads=threads, schedule=args.schedule, repeats=args.repeats, memory=args.memory,
                   runtime=args.runtime)
    try:
        if args.what == "layers":
            settings.update(size=args.size, batch=args.batch)
            steps = len(layers.cases(args.size, args.batch)) * len(chosen)
            work = lambda step: layers.run(args.size, batch=args.batch, step=step, **options)  # noqa: E731
        else:
            settings.update(models=list(planned), wht=wht, input_sizes=list(sizes))
            steps = len(settings["models"]) * len(sizes) * len(chosen)
            work = lambda step: models.run(names, wht=wht, input_sizes=sizes, step=step, **options)  # noqa: E731
        console = report.console(stderr=True)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("bench", total=steps)

            def step(description):  # called as each (case, path) starts: the one before is done
                progress.update(task, description=description, completed=step.done)
                step.done += 1

            step.done = 0
            rows = work(step)
    except ImportError as err:  # the kernels or a runtime that does not load: named; anything else is a bug
        return _fail("bench", err)
    doc = report.document(args.what, rows, settings, runtime=args.runtime)
    _write_bench(doc, args)
    return 0


def _write_bench(doc, args):
    import json

    from keras_wht.bench import report

    to_stdout = "-" in (args.json, args.markdown)
    if not to_stdout:
        report.console().print(report.table(doc))
    if args.out:
        written = report.write(doc, args.out)
        if not to_stdout:
            print("wrote " + ", ".join(written.values()))
    if args.json:
        text = json.dumps(doc, indent=2)
        if args.json == "-":
            print(text)
        else:
            write_file(args.json, text)
    if args.markdown:
        if args.markdown == "-":
            print(report.markdown(doc), end="")
        else:
            write_file(args.markdown, report.markdown(doc))


def _demo(args):
    from keras_wht import models

    epochs = args.epochs if args.epochs is not None else (1 if args.quick else 30)
    if epochs < 1:
        return _fail("demo", f"`--epochs` must be at least 1, got {epochs}")
    if args.wht not in models.presets("mobilenet_v2"):
        return _fail("demo", f"`--wht` must be a MobileNetV2 preset ({', '.join(models.presets('mobilenet_v2'))}), "
                             f"got {args.wht!r}")
    from keras_wht import demo, training
    from keras_wht.bench import report

    try:
        training.check(model=demo.MODEL, wht=args.wht, epochs=epochs, seed=args.seed, input_size=demo.INPUT_SIZE)
        report.require_plots()
        check_output(args.out, "--out", folder=True)
    except (ImportError, ValueError) as err:
        return _fail("demo", err)
    return demo.run(epochs=epochs, seed=args.seed, out=args.out, wht=args.wht, quick=args.quick)


def build_parser():
    parser = argparse.ArgumentParser(prog="keras-wht", description="Walsh-Hadamard-transform layers for Keras and TFLite.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("info", help="versions of TensorFlow, Keras and the TFLite runtimes found")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = commands.add_parser("models", help="parameter counts of each model builder, plain and per WHT preset")
    p.add_argument("--model", action="append", help="only this model (repeatable; default: all)")
    p.add_argument("--input-size", type=int, default=32, help="square input size (default 32, CIFAR)")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = commands.add_parser("train", help="train a model builder's network, with checkpoints and history")
    p.add_argument("--model", default="mobilenet_v2", help="mobilenet_v2, mobilenet_v3_large, resnet20 or resnet50")
    p.add_argument("--wht", default=None, help="a preset name, 'none', or a JSON Placement such as "
                   "'{\"blocks\": [15, 16], \"layers\": [\"project\"]}'")
    p.add_argument("--dataset", default="digits", help="digits (offline), cifar10 or cifar100 (downloaded once)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="(initial) learning rate")
    p.add_argument("--schedule", default="cosine", help="constant or cosine (default)")
    p.add_argument("--optimizer", default="adam", help="adam (default) or sgd (momentum 0.9)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input-size", type=int, default=32, help="images are resized to this square size")
    p.add_argument("--augment", action="store_true", help="pad-and-crop and horizontal flips")
    p.add_argument("--distribute", action="store_true", help="tf.distribute.MirroredStrategy over all devices")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.keras")
    p.add_argument("--no-recalibrate-bn", dest="recalibrate_bn", action="store_false",
                   help="keep the batch-norm statistics training left (default: recompute them after training)")
    p.add_argument("--out", default="runs/train", help="output folder (default runs/train)")

    p = commands.add_parser("convert", help="convert a .keras model to .tflite and check it against Keras")
    p.add_argument("model", help="a .keras file")
    p.add_argument("-o", "--output", required=True, help="the .tflite file to write")
    p.add_argument("--custom-ops", action="store_true",
                   help="each WHT layer as one native KerasWht1D/KerasWht2D op (needs the kernels; see README)")
    p.add_argument("--quantize", choices=["dynamic", "float16", "int8"], default=None)
    p.add_argument("--calibration", default=None,
                   help="int8 calibration inputs: 'digits' (resized to the model's input) or a .npy file")
    p.add_argument("--io-dtype", choices=["float32", "int8"], default="float32",
                   help="with --quantize int8: the model's input and output type")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="skip the parity check against the Keras model")
    p.add_argument("--tolerance", type=float, default=None,
                   help="the largest |TFLite - Keras| the parity check accepts (default: 1e-4 for float32, "
                        "1e-2 float16, 5e-2 dynamic; int8 outputs need 20 dB signal-to-quantization-noise)")

    p = commands.add_parser("bench", help="latency, size and memory: WHT layers and networks against convolutions")
    whats = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    for what, text in (("layers", "the paper's layer test: WHT2D vs 3x3 conv and squeeze-excite, WHT1D vs 1x1 conv"),
                       ("models", "each model builder's network, plain against its WHT presets")):
        q = whats.add_parser(what, help=text)
        if what == "layers":
            q.add_argument("--size", choices=["paper", "full", "tiny"], default="full",
                           help="paper: the paper's two shapes; full (default): more shapes and block sizes; tiny")
            q.add_argument("--batch", type=int, default=1, help="images per call (default 1; the paper timed 10)")
            q.add_argument("--repeats", type=int, default=50, help="timed calls per model (default 50)")
        else:
            q.add_argument("--model", action="append", help="only this model (repeatable; default: all four)")
            q.add_argument("--wht", action="append", help="'paper' (default: the paper's preset per model), 'all', "
                           "or a preset name (repeatable)")
            q.add_argument("--input-size", type=int, action="append", help="square input size (repeatable; "
                           "default 32 and 224)")
            q.add_argument("--repeats", type=int, default=20, help="timed calls per model (default 20)")
        q.add_argument("--paths", default=None, help="comma-separated: keras, function, builtin, custom, int8 "
                       "(default: all this installation runs)")
        q.add_argument("--threads", default="1", help="comma-separated TFLite thread counts (default 1), e.g. 1,2,4")
        q.add_argument("--schedule", choices=["warm", "cold"], default="warm",
                       help="warm (default): rounds of calls per model; cold: models called alternately")
        q.add_argument("--no-memory", dest="memory", action="store_false",
                       help="skip the peak-memory measurement (a fresh process per TFLite model)")
        q.add_argument("--runtime", default=None, help="ai_edge_litert, tensorflow or tflite_runtime")
        q.add_argument("--out", default=None, help="write JSON, Markdown and PNG plots into this folder")
        q.add_argument("--json", default=None, help="write the JSON report to this file ('-': standard output)")
        q.add_argument("--markdown", default=None, help="write the Markdown table to this file ('-': standard output)")

    p = commands.add_parser("demo", help="MobileNetV2 with WHT layers against the plain one: train on digits, "
                            "convert, check, benchmark, report")
    p.add_argument("--epochs", type=int, default=None, help="training epochs per network (default 30; 1 with --quick)")
    p.add_argument("--wht", default="paper-540k", help="the MobileNetV2 WHT preset (default paper-540k)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a smoke run: 1 epoch, tiny layer shapes, 5 timed calls")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    return parser


def main(argv=None):
    # TensorFlow's C++ start-up and converter logging, unless the user asked for it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    if args.command == "info":
        data = info()
        if args.json:
            print(json.dumps(data, indent=2))
        else:
            _print_info(data)
        return 0
    from keras_wht import _checks

    try:
        _checks.require_tensorflow()  # every other command builds, trains or converts models
    except ImportError as err:
        return _fail(args.command, err)
    if args.command == "models":
        return _models(args)
    if args.command == "train":
        return _train(args)
    if args.command == "convert":
        return _convert(args)
    if args.command == "bench":
        return _bench(args)
    if args.command == "demo":
        return _demo(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
