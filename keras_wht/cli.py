"""The keras-wht command: `keras-wht info`, `keras-wht demo`."""

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import sys

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

    legacy = os.environ.get("TF_USE_LEGACY_KERAS", "").strip().lower() in ("1", "true", "yes")
    return {
        "keras_wht": keras_wht.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "packages": {name: _version(name) for name in PACKAGES},
        "layers_use": "tf_keras (TF_USE_LEGACY_KERAS=1)" if legacy else "keras 3",
        "tflite_runtimes": {
            module: _version(dist) if _has_module(module) else None for module, dist in RUNTIMES.items()
        },
    }


def _print_info(data):
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"keras-wht {data['keras_wht']}", show_header=False)
    table.add_row("python", data["python"])
    table.add_row("machine", data["machine"])
    for name, version in data["packages"].items():
        table.add_row(name, version or "not installed")
    table.add_row("layers use", data["layers_use"])
    for module, version in data["tflite_runtimes"].items():
        table.add_row(f"TFLite runtime {module}", version or "not installed")
    Console().print(table)


def build_parser():
    parser = argparse.ArgumentParser(prog="keras-wht", description="Walsh-Hadamard-transform layers for Keras and TFLite.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("info", help="versions of TensorFlow, Keras and the TFLite runtimes found")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = commands.add_parser("demo", help="train WHT layers against convolutions on the offline digits set")
    p.add_argument("--epochs", type=int, default=15, help="training epochs per model (default 15)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "info":
        data = info()
        if args.json:
            print(json.dumps(data, indent=2))
        else:
            _print_info(data)
        return 0
    if args.command == "demo":
        from keras_wht import demo

        if args.epochs < 1:
            print(f"keras-wht demo: --epochs must be at least 1, got {args.epochs}", file=sys.stderr)
            return 2
        return demo.run(epochs=args.epochs, seed=args.seed, out=args.out)
    return 2


if __name__ == "__main__":
    sys.exit(main())
