"""Walsh-Hadamard-transform (WHT) layers for Keras and TensorFlow Lite.

Subpackages load on first use, so `import keras_wht` stays light:
`keras_wht.ops` (the FWHT in TF graph ops), `keras_wht.layers` (Keras layers),
`keras_wht.models` (MobileNet and ResNet builders), `keras_wht.training`,
`keras_wht.tflite` (conversion on the workstation, the runtime on the device).
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("ops", "layers", "initializers", "models", "datasets", "training", "tflite", "cli")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"keras_wht.{name}")
    raise AttributeError(f"module 'keras_wht' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
