"""What `keras-wht info` reports: the versions of Python, TensorFlow, Keras and the TFLite
runtimes found, and whether keras-wht's custom-op kernels are built."""

import importlib.metadata
import os
import platform

# Packages that `info` reports.
PACKAGES = ("tensorflow", "keras", "tf-keras", "numpy", "tensorflow-model-optimization")
# How info names a runtime where its module alone would mislead ("tensorflow" is tf.lite).
_LABELS = {"tensorflow": "tensorflow.lite"}


def collect():
    """What keras-wht runs on: versions of Python, TF, Keras and the TFLite runtimes found."""
    import keras_wht
    from keras_wht import _checks
    from keras_wht.tflite.runtime import runtimes

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
        "tflite_runtimes": {_LABELS.get(name, name): runtimes.version(name) for name in runtimes.RUNTIMES},
        "custom_op_kernels": _kernels(),
    }


def table(data):
    """`collect()`'s data as a rich Table. Cells are plain text, not rich markup, so that
    `keras-wht[tensorflow]` is printed as written rather than read as a style tag."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(f"keras-wht {data['keras_wht']}"), show_header=False)

    def row(name, value):
        table.add_row(Text(name), Text(value))

    row("python", data["python"])
    row("machine", data["machine"])
    for name, version in data["packages"].items():
        row(name, version or "not installed")
    row("layers use", data["layers_use"] or "not installed (pip install 'keras-wht[tensorflow]')")
    for module, version in data["tflite_runtimes"].items():
        row(f"TFLite runtime {module}", version or "not installed")
    row("custom-op kernels", data["custom_op_kernels"] or "not built")
    return table


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _kernels():
    from keras_wht.tflite.runtime import custom_ops

    return f"built ({custom_ops.isa()}, {custom_ops.thread_pool()} threads)" if custom_ops.available() else None
