"""The keras-wht command: info, models, train, convert, bench, demo."""

import argparse
import json
import os
import sys


def _fail(command, err):
    print(f"keras-wht {command}: {err}", file=sys.stderr)
    return 2


def _info(args):
    from keras_wht import info

    data = info.collect()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        from rich.console import Console

        Console().print(info.table(data))
    return 0


def _models(args):
    from keras_wht.models import registry

    try:
        rows = registry.parameter_counts(args.model or registry.names(), input_size=args.input_size,
                                         classes=args.classes)
    except ValueError as err:
        return _fail("models", err)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console

    Console().print(registry.parameter_table(rows, input_size=args.input_size, classes=args.classes))
    return 0


def _train(args):
    from keras_wht import _files, training

    try:  # every check, the data and the network before --out is made; training errors are not ours to word
        _files.check_output(args.out, "--out", folder=True)
        run = training.prepare(
            model=args.model, wht=training.parse_wht(args.wht), alpha=args.alpha, dataset=args.dataset,
            epochs=args.epochs,
            batch_size=args.batch_size, learning_rate=args.lr, schedule=args.schedule, optimizer=args.optimizer,
            seed=args.seed, out=args.out, resume=args.resume, augment=args.augment,
            distribute=args.distribute, input_size=args.input_size, fit=args.fit, train_size=args.train_size,
            recalibrate_bn=args.recalibrate_bn, init_from=args.init_from, teacher=args.teacher,
            distill_temperature=args.distill_temperature, distill_alpha=args.distill_alpha,
        )
    except (ValueError, FileNotFoundError, RuntimeError, ImportError) as err:
        return _fail("train", err)
    if run.copied:
        print(f"--init-from {args.init_from}: {run.copied}", flush=True)
    metrics = run.fit()
    where = f"model, checkpoint, history and metrics in {args.out}"
    if run.workers > 1:  # the same command on each worker: say which one wrote them
        task = " ".join(map(str, run.task))
        where = (f"{where} (written by this worker, {task}, the chief of {run.workers} workers)" if run.chief else
                 f"model, checkpoint, history and metrics written by the chief, into its --out (this worker, "
                 f"{task} of {run.workers}, wrote nothing)")
    replicas = f", {metrics['replicas']} replicas" if metrics["replicas"] > 1 else ""
    print(f"test accuracy {metrics['test_accuracy']:.4f} ({metrics['parameters']:,} parameters{replicas}); {where}")
    return 0


def _convert(args):
    import collections

    import keras_wht.layers  # noqa: F401  (registers the WHT layers, so load_model finds them)
    from keras_wht import _checks, _files, datasets, tflite, training

    try:
        _files.check_output(args.output, "--output", folder=False)
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
            data = datasets.calibration_inputs(args.calibration, tuple(model.inputs[0].shape[1:]))
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
    _files.write_file(args.output, content)
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
    from keras_wht.bench import job

    try:
        threads = _int_list(args.threads, "--threads")
        if args.repeats < 1:
            raise ValueError(f"`--repeats` must be at least 1, got {args.repeats}")
        if args.what == "layers":
            if args.batch < 1:
                raise ValueError(f"`--batch` must be at least 1, got {args.batch}")
            work = dict(size=args.size, batch=args.batch)
        else:
            wht = args.wht[0] if args.wht and len(args.wht) == 1 else (args.wht or "paper")
            work = dict(models=args.model or None, wht=wht, input_sizes=args.input_size)
        chosen = [p.strip() for p in args.paths.split(",") if p.strip()] if args.paths else None
        bench = job.prepare(args.what, paths=chosen, threads=threads, schedule=args.schedule, repeats=args.repeats,
                            memory=args.memory, runtime=args.runtime, out=args.out, json_file=args.json,
                            markdown_file=args.markdown, **work)
    except (ValueError, ImportError) as err:
        return _fail("bench", err)
    try:
        doc = bench.run()
    except ImportError as err:  # the kernels or a runtime that does not load: named; anything else is a bug
        return _fail("bench", err)
    bench.write(doc)
    return 0


def _accuracy(args):
    from keras_wht import _checks, accuracy, quantization_aware

    try:
        accuracy.check(args.run)
        _checks.positive_int("--calibration", args.calibration)
        if args.qat_epochs:
            _checks.positive_int("--qat-epochs", args.qat_epochs)
    except ValueError as err:
        return _fail("accuracy", err)
    qat = None
    if args.qat_epochs:
        qat = os.path.join(args.run, "qat")
        print(f"quantization-aware fine-tuning, {args.qat_epochs} epochs, into {qat}", flush=True)
        try:
            quantization_aware.fine_tune(args.run, epochs=args.qat_epochs, out=qat, verbose=0)
        except (ValueError, ImportError, RuntimeError) as err:
            return _fail("accuracy", f"{err} (--qat-epochs 0 leaves QAT out)")
    print(accuracy.HEADER, flush=True)
    rows = accuracy.measure(args.run, calibration=args.calibration, qat=qat,
                            progress=lambda line: print(line, flush=True))
    accuracy.write(rows, args.run, calibration=args.calibration, qat_epochs=args.qat_epochs)
    print(f"written to {os.path.join(args.run, 'accuracy.md')} and accuracy.json")
    return 0


def _qat(args):
    from keras_wht import quantization_aware

    try:
        metrics = quantization_aware.fine_tune(args.run, epochs=args.epochs, learning_rate=args.lr,
                                               batch_size=args.batch_size, seed=args.seed, out=args.out,
                                               custom_ops=args.custom_ops, verbose=2)
    except (ValueError, ImportError, RuntimeError) as err:
        return _fail("qat", err)
    out = args.out or os.path.join(args.run, "qat")
    tflite = ", ".join(f"{name} {metrics[key]:.4f}" for name, key in (("int8.tflite", "int8_test_accuracy"),
                       ("int8-custom.tflite", "int8_custom_test_accuracy")) if key in metrics)
    print(f"test accuracy: float {metrics['float_test_accuracy']:.4f}, QAT {metrics['test_accuracy']:.4f}, {tflite}; "
          f"models and metrics in {out}")
    return 0


def _demo(args):
    from keras_wht import demo

    epochs = args.epochs if args.epochs is not None else (1 if args.quick else 30)
    try:
        demo.check(epochs=epochs, seed=args.seed, out=args.out, wht=args.wht)
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
    p.add_argument("--dataset", default="digits",
                   help="digits (default) or fashion_mnist (offline: apt-get install dataset-fashion-mnist), cifar10 "
                        "or cifar100 (downloaded once), a folder with one sub-folder of images per class (20%% held "
                        "out for testing), or an .npz file of x_train, y_train, x_test, y_test")
    p.add_argument("--alpha", type=float, default=1.0,
                   help="width multiplier of the network (default 1): a smaller plain network to set "
                        "against a WHT preset")
    p.add_argument("--train-size", type=int, default=None, metavar="N",
                   help="train on the first N training images only (a tenth of them validates)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="(initial) learning rate")
    p.add_argument("--schedule", default="cosine", help="constant or cosine (default)")
    p.add_argument("--optimizer", default="adam", help="adam (default) or sgd (momentum 0.9)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input-size", type=int, default=32, help="the network's square input size (default 32)")
    p.add_argument("--fit", choices=["resize", "pad"], default="resize",
                   help="how images reach --input-size: resize (default), or pad with zeros around the centre "
                        "(images no larger than it, such as Fashion-MNIST's 28x28 to 32)")
    p.add_argument("--augment", action="store_true", help="pad-and-crop and horizontal flips")
    p.add_argument("--distribute", nargs="?", const="mirrored", default=False, metavar="STRATEGY",
                   help="mirrored (bare --distribute): tf.distribute.MirroredStrategy over this machine's devices; "
                        "multi-worker: tf.distribute.MultiWorkerMirroredStrategy over the cluster that TF_CONFIG "
                        "describes (run the same command on each worker; the chief writes --out)")
    p.add_argument("--init-from", default=None, metavar="RUN_OR_FILE",
                   help="start from a trained network's weights (a run folder, or a .keras or .weights.h5 file): "
                        "every layer of the same name and shapes, such as a plain network's in its WHT variant")
    p.add_argument("--teacher", default=None, metavar="RUN",
                   help="distil from this trained network (a run folder or a .keras file) of the same data set and "
                        "classes")
    p.add_argument("--distill-temperature", type=float, default=4.0, metavar="T",
                   help="with --teacher: the softmax temperature (default 4)")
    p.add_argument("--distill-alpha", type=float, default=0.9, metavar="A",
                   help="with --teacher: the weight of the teacher's term, 0..1 (default 0.9)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.keras up to --epochs in all (a cosine schedule stretches to them)")
    p.add_argument("--no-recalibrate-bn", dest="recalibrate_bn", action="store_false",
                   help="keep the batch-norm statistics training left (default: recompute them after training)")
    p.add_argument("--out", default="runs/train", help="output folder (default runs/train)")

    p = commands.add_parser("accuracy", help="the accuracy table of a `keras-wht train` run: Keras, TFLite float32, "
                            "int8 with builtin and with custom ops, int8 after QAT")
    p.add_argument("run", help="a folder `keras-wht train --out` wrote")
    p.add_argument("--calibration", type=int, default=128,
                   help="training images the int8 models are calibrated on (default 128)")
    p.add_argument("--qat-epochs", type=int, default=3,
                   help="epochs of quantization-aware fine-tuning for the QAT rows (keras-wht qat; default 3, "
                        "0: no QAT rows)")

    p = commands.add_parser("qat", help="quantization-aware fine-tuning of a `keras-wht train` run, and its int8 "
                            "TFLite models (builtin and custom ops)")
    p.add_argument("run", help="a folder `keras-wht train --out` wrote")
    p.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs (default 3)")
    p.add_argument("--lr", type=float, default=1e-4, help="initial learning rate, cosine decay to 0 (default 1e-4)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=None, help="the run's --seed (default: its metrics.json's, else 0)")
    p.add_argument("--no-custom-ops", dest="custom_ops", action="store_false",
                   help="skip int8-custom.tflite (the custom-op model needs the kernels)")
    p.add_argument("--out", default=None, help="output folder (default RUN/qat)")

    p = commands.add_parser("convert", help="convert a .keras model to .tflite and check it against Keras")
    p.add_argument("model", help="a .keras file")
    p.add_argument("-o", "--output", required=True, help="the .tflite file to write")
    p.add_argument("--custom-ops", action="store_true",
                   help="each WHT layer as one native KerasWht1D/KerasWht2D op (needs the kernels; see docs/TFLITE.md)")
    p.add_argument("--quantize", choices=["dynamic", "float16", "int8"], default=None)
    p.add_argument("--calibration", default=None,
                   help="int8 calibration inputs: a data set as `train --dataset` takes it (its first training "
                        "images, resized to the model's input) or a .npy file of inputs")
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
        q.add_argument("--paths", default=None, help="comma-separated: keras, function, builtin, custom, int8, int8-custom "
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
        return _info(args)
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
    if args.command == "accuracy":
        return _accuracy(args)
    if args.command == "bench":
        return _bench(args)
    if args.command == "qat":
        return _qat(args)
    if args.command == "demo":
        return _demo(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
