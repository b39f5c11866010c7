"""TFLite: convert Keras models with WHT layers, check them, and run them on any runtime.

Two sides, named for where they run:
- `keras_wht.tflite.conversion` (the workstation, with TensorFlow): `convert`, and `qat`
  for quantization-aware training;
- `keras_wht.tflite.runtime` (the device, without TensorFlow): `Interpreter`,
  `custom_op_registerers`, `runtimes`.
`check_parity` (keras_wht.tflite.verification) runs a converted model on a runtime
against its Keras model. `contract` is what both sides and the C++ kernels agree on.

Names load on first use, so running a model does not import TensorFlow.
"""

import importlib

_NAMES = {
    "convert": "conversion.converter",
    "qat": "conversion.qat",
    "ParityError": "verification",
    "check_parity": "verification",
    "Interpreter": "runtime.interpreter",
    "custom_op_registerers": "runtime.custom_ops",
    "CustomOpsUnavailable": "runtime.custom_ops",
    "operators": "runtime.flatbuffer",
    "runtimes": "runtime.runtimes",
}
_ATTRIBUTE = {"runtimes": "available"}
_MODULES = {"qat"}

__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        # keras_wht.tflite.conversion says what to install on a device without TensorFlow.
        module = importlib.import_module(f"keras_wht.tflite.{_NAMES[name]}")
        value = module if name in _MODULES else getattr(module, _ATTRIBUTE.get(name, name))
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keras_wht.tflite' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_NAMES))
