"""Interpreter: tf.lite.Interpreter's interface on whichever TFLite runtime is installed."""

import os

import numpy as np

from keras_wht import _checks
from keras_wht.tflite import contract
from keras_wht.tflite.runtime import custom_ops as native
from keras_wht.tflite.runtime import flatbuffer, integrity
from keras_wht.tflite.runtime.runtimes import interpreter_class


class Interpreter:
    """A TFLite interpreter on ai_edge_litert, tflite_runtime or tf.lite.

    Everything tf.lite.Interpreter offers (`allocate_tensors`, `get_input_details`,
    `set_tensor`, `invoke`, `get_tensor`, `resize_tensor_input`, `get_signature_runner`,
    ...) is passed through to the runtime's own interpreter; `predict` runs many inputs.

    Args:
        model_path: path of a .tflite file.
        model_content: the model as bytes (exactly one of the two).
        num_threads: CPU threads for the interpreter (default: the runtime's).
        runtime: "ai_edge_litert", "tensorflow" (tf.lite) or "tflite_runtime"; default:
            the first of these installed. tflite_runtime runs in a process that has not
            imported TensorFlow before it (an ImportError says so otherwise).
        **kwargs: passed to the runtime's Interpreter (e.g. `experimental_delegates`).

    Models with keras-wht's custom ops (`convert(model, custom_ops=True)`) get the native
    kernels registered on the runtime's interpreter (its InterpreterWithCustomOps).
    The file is checked before the runtime sees it (`keras_wht.tflite.runtime.integrity`): a
    damaged or hostile one raises ValueError naming the file and what is wrong.

    Attributes:
        runtime: the name of the runtime in use.
        custom_ops: the keras-wht custom operators the model uses (a sorted list).

    Example:
        >>> import keras
        >>> from keras_wht import tflite
        >>> from keras_wht.layers import WHT2D
        >>> model = keras.Sequential([keras.Input((8, 8, 4)), WHT2D()])
        >>> it = tflite.Interpreter(model_content=tflite.convert(model))
        >>> it.predict(np.zeros((3, 8, 8, 4), "float32"), progress=False).shape
        (3, 8, 8, 4)
    """

    def __init__(self, model_path=None, model_content=None, num_threads=None, *, runtime=None, **kwargs):
        if (model_path is None) == (model_content is None):
            raise ValueError("Interpreter needs exactly one of `model_path` and `model_content`.")
        if model_path is not None:
            model_path = os.fspath(model_path)
            if os.path.isdir(model_path):
                raise ValueError(f"`model_path` must be a .tflite file, got {model_path!r}, which is a folder.")
            if not os.path.isfile(model_path):
                raise FileNotFoundError(f"`model_path` {model_path!r} does not exist.")
            with open(model_path, "rb") as f:
                stored = f.read()
            if not flatbuffer.is_tflite(stored):
                raise ValueError(f"`model_path` {model_path!r} is not a TFLite model (no TFL3 file identifier).")
        elif not isinstance(model_content, (bytes, bytearray)) or not flatbuffer.is_tflite(model_content):
            raise ValueError("`model_content` must be the bytes of a TFLite model (with the TFL3 file identifier).")
        num_threads = _checks.positive_int("num_threads", num_threads, allow_none=True)
        # The runtime gets the bytes checked here, not the path (which could change meanwhile).
        content = bytes(model_content) if model_content is not None else stored
        integrity.check(content, f"`model_path` {model_path!r}" if model_path is not None else "`model_content`")
        self.custom_ops = sorted(set(flatbuffer.operators(content)) & set(contract.OPS))
        self._signatures = flatbuffer.signature_inputs(content)
        if self.custom_ops:
            native.library()  # CustomOpsUnavailable, saying how to build them, if missing
            kwargs["custom_op_registerers"] = [*native.custom_op_registerers(),
                                               *kwargs.get("custom_op_registerers", [])]
        self.runtime, cls = interpreter_class(runtime, custom_ops="custom_op_registerers" in kwargs)
        if self.runtime == "tflite_runtime" and "experimental_op_resolver_type" not in kwargs:
            wrong = flatbuffer.same_padding_below_zero(content)
            if wrong:
                raise ValueError(
                    f"tflite_runtime 2.14's XNNPACK computes {', '.join(wrong)} wrong: \"same\" padding with a "
                    "stride that outruns the kernel. Use runtime='ai_edge_litert', or run without XNNPACK: "
                    "Interpreter(..., experimental_op_resolver_type=tflite_runtime.interpreter.OpResolverType"
                    ".BUILTIN_WITHOUT_DEFAULT_DELEGATES)."
                )
        self._make = lambda: cls(model_content=content, num_threads=num_threads, **kwargs)
        self._input_shapes = {}
        try:
            self._interpreter = self._make()
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            raise ValueError(f"The {self.runtime} runtime could not load the model: {err}.") from err

    def __getattr__(self, name):
        return getattr(self._interpreter, name)

    def resize_tensor_input(self, input_index, tensor_size, strict=False):
        """As tf.lite's, on a fresh runtime interpreter that gets every resize made so far
        before its first allocate_tensors(); call allocate_tensors() next, as there.

        Resizing an interpreter whose tensors were allocated is what the runtimes offer,
        but with XNNPACK (ai_edge_litert 2.3, tf.lite 2.21) it can give wrong outputs:
        seen on an int8 model whose WHT layer computes in float between a DEQUANTIZE and a
        QUANTIZE, every value off after a resize from batch 1 to 64, right when the
        interpreter was made at batch 64 or run without XNNPACK.
        """
        inputs = [d["index"] for d in self._interpreter.get_input_details()]
        if input_index not in inputs:
            raise ValueError(f"`input_index` must be one of the model's input tensors {inputs}, got {input_index!r}.")
        shapes = {**self._input_shapes, int(input_index): (list(tensor_size), strict)}
        fresh = self._make()
        for index, (shape, exact) in shapes.items():
            fresh.resize_tensor_input(index, shape, strict=exact)
        # Only a resize the runtime took is kept (a rejected one would fail every later one).
        self._input_shapes, self._interpreter = shapes, fresh

    def predict(self, x, batch_size=32, *, progress=None):
        """Runs inputs through the model in batches; returns NumPy outputs.

        Args:
            x: an array (one-input models), a list of arrays in the model's input order
                (for a model from `convert`, the Keras model's), or a dict {input name:
                array} with the names of the model's signature (the Keras input names);
                batch first.
            batch_size: inputs per invoke (the input tensors are resized to it); a model
                whose inputs fix the batch size takes batches of that size instead.
            progress: show a progress bar (default: when there is more than one batch).

        Returns:
            An array for a one-output model, else a list of arrays in the model's output
            order.

        Quantized inputs and outputs are (de)quantized with their scale and zero point, so
        `x` and the results are always float, as for the Keras model. A ValueError names
        an input that is missing, unknown or of the wrong shape, and an `x` with no samples.
        """
        details = self._interpreter.get_input_details()
        inputs = self._ordered(x, details)
        names = self._input_names(details)
        inputs = [np.asarray(a) for a in inputs]
        for d, a, name in zip(details, inputs, names):
            _check_shape(a, d, name)
        total = len(inputs[0])
        if any(len(a) != total for a in inputs):
            raise ValueError(f"All inputs need the same batch size, got {[len(a) for a in inputs]}.")
        if total == 0:
            raise ValueError("`x` has no samples (a batch of 0): nothing to predict.")
        batch_size = _checks.positive_int("batch_size", batch_size)
        # A model whose inputs fix the batch size (keras.Input(batch_size=b)) cannot be
        # resized: it takes batches of b, the last one padded with zeros.
        fixed = max((int(d["shape_signature"][0]) for d in details if len(d.get("shape_signature", ()))),
                    default=-1)
        batch_size = fixed if fixed > 0 else batch_size
        starts = range(0, total, batch_size)
        show = len(starts) > 1 if progress is None else progress
        results = []
        for start in _track(starts, show, "predict"):
            batch = [a[start:start + batch_size] for a in inputs]
            if fixed > 0 and len(batch[0]) < fixed:
                batch = [np.concatenate([b, np.zeros((fixed - len(b), *b.shape[1:]), b.dtype)]) for b in batch]
            self._resize([len(batch[0])] * len(batch), details)
            for d, values in zip(self._interpreter.get_input_details(), batch):
                self._interpreter.set_tensor(d["index"], _quantize(values, d))
            try:
                self._interpreter.invoke()
            except RuntimeError as err:  # a model the runtime loaded but cannot run
                raise ValueError(f"The {self.runtime} runtime could not run the model: {err}") from err
            results.append([_dequantize(self._interpreter.get_tensor(d["index"]), d)
                            for d in self._interpreter.get_output_details()])
        outputs = [np.concatenate(parts)[:total] for parts in zip(*results)]
        return outputs[0] if len(outputs) == 1 else outputs

    def _signature_inputs(self):
        """{name: input tensor index} from the signature def over the model's inputs, or
        {} when the model has none."""
        inputs = sorted(int(d["index"]) for d in self._interpreter.get_input_details())
        for mapping in self._signatures:
            if sorted(mapping.values()) == inputs:
                return mapping
        return {}

    def _input_names(self, details):
        """Each input's name for messages: its signature name, else its tensor name."""
        by_index = {index: name for name, index in self._signature_inputs().items()}
        return [by_index.get(int(d["index"]), d["name"]) for d in details]

    def _ordered(self, x, details):
        """`x` as a list of arrays in the order of the model's inputs."""
        if isinstance(x, dict):
            mapping = self._signature_inputs()
            if not mapping:
                raise ValueError("`x` is a dict, but the model has no signature naming its inputs: pass a list "
                                 f"in the order of its {len(details)} input(s).")
            names = self._input_names(details)
            unknown = sorted(str(k) for k in x if k not in mapping)
            missing = [n for n in names if n not in x]
            if unknown or missing:
                raise ValueError(
                    f"`x` names the model's inputs {names}: "
                    + "; ".join(part for part in (f"missing {missing}" if missing else "",
                                                  f"unknown {unknown}" if unknown else "") if part) + "."
                )
            return [x[n] for n in names]
        inputs = list(x) if isinstance(x, (list, tuple)) else [x]
        if len(inputs) != len(details):
            raise ValueError(f"The model has {len(details)} input(s), got {len(inputs)}.")
        return inputs

    def _resize(self, sizes, details):
        current = self._interpreter.get_input_details()
        if all(d["shape"][0] == n for d, n in zip(current, sizes)):
            return
        for d, n in zip(current, sizes):
            self.resize_tensor_input(d["index"], [n, *d["shape"][1:]])
        self._interpreter.allocate_tensors()


def _check_shape(values, detail, name):
    """A ValueError naming the input when `values` (batch first) cannot fill it."""
    shape = [int(n) for n in detail.get("shape_signature", detail["shape"])]
    fixed = [int(n) for n in detail["shape"]]
    wanted = [None if s < 0 else f for s, f in zip(shape, fixed)]
    expected = "(batch, " + ", ".join("?" if d is None else str(d) for d in wanted[1:]) + ")"
    if values.ndim != len(wanted) or any(d is not None and d != n for d, n in zip(wanted[1:], values.shape[1:])):
        raise ValueError(f"Input {name!r} takes arrays of shape {expected}, got shape {tuple(values.shape)}.")


def _quantize(values, detail):
    dtype = detail["dtype"]
    scale, zero_point = detail["quantization"]
    if np.issubdtype(dtype, np.integer) and scale:
        info = np.iinfo(dtype)
        return np.clip(np.round(values / scale) + zero_point, info.min, info.max).astype(dtype)
    return values.astype(dtype)


def _dequantize(values, detail):
    scale, zero_point = detail["quantization"]
    if np.issubdtype(values.dtype, np.integer) and scale:
        return (values.astype(np.float32) - zero_point) * scale
    return values


def _track(items, show, description):
    if not show:
        return items
    from rich.progress import track

    return track(items, description=description, transient=True)
