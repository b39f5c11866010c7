"""Checking what a .tflite file holds before a runtime sees it.

TFLite runtimes trust the flatbuffer they are given: a truncated file, a flipped byte or a
hostile model can make them read out of bounds or crash the process (one int8 zero point
of -47877 made XNNPACK segfault at `allocate_tensors()`). `check` reads the model with
the `tflite` schema package (no TensorFlow) and raises a ValueError saying what is wrong.
"""

import math
import struct

import numpy as np
import tflite as schema

IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3
_MIN_SIZE = 16  # root offset, file identifier, one vtable and one table

# What TFLite's schema added after the tflite package's release (2.18), as ai-edge-litert
# 2.3's schema numbers it (tests/tflite/test_damaged.py compares): a model may use them.
_NEWER_TYPES = {19: "int2", 20: "uint4", 21: "float8_e4m3fn", 22: "float8_e5m2"}
_NEWER_BUILTINS = {209: "STABLEHLO_CASE"}
_NEWER_OPTIONS2 = {23: "StablehloCaseOptions"}
_TYPES = {value: name.lower() for name, value in vars(schema.TensorType).items() if not name.startswith("_")}
_TYPES.update({value: name for value, name in _NEWER_TYPES.items() if value not in _TYPES})
# Bytes per element of the types whose constant data has a fixed size (INT4 packs two).
_ELEMENT_BYTES = {
    "float32": 4, "float16": 2, "int32": 4, "uint8": 1, "int64": 8, "bool": 1, "int16": 2,
    "complex64": 8, "int8": 1, "float64": 8, "complex128": 16, "uint64": 8, "uint32": 4,
    "uint16": 2, "bfloat16": 2, "int4": 0.5, "float8_e4m3fn": 1, "float8_e5m2": 1,
}
# The zero points a quantized tensor of each integer type may have.
_ZERO_POINTS = {
    "int8": (-128, 127), "uint8": (0, 255), "int16": (0, 0), "int4": (-8, 7),
    "uint16": (0, 65535), "int32": (-2**31, 2**31 - 1), "uint4": (0, 15), "int2": (-2, 1),
}
_BUILTINS = {value for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")} | \
    set(_NEWER_BUILTINS)
_OPTIONS = {value for name, value in vars(schema.BuiltinOptions).items() if not name.startswith("_")}
_OPTIONS2 = {value for name, value in vars(schema.BuiltinOptions2).items() if not name.startswith("_")} | \
    set(_NEWER_OPTIONS2)
# The inputs that builtin operators may leave out (tensor index -1): kernels and delegates
# (XNNPACK) read a left-out required input out of bounds. None: any but the first.
_OPTIONAL_INPUTS = {
    getattr(schema.BuiltinOperator, name): positions
    for name, positions in {
        "FULLY_CONNECTED": {2}, "CONV_3D": {2}, "TRANSPOSE_CONV": {3}, "CONV_3D_TRANSPOSE": {3},
        "SVDF": {3}, "LSTM": None, "UNIDIRECTIONAL_SEQUENCE_LSTM": None,
        "BIDIRECTIONAL_SEQUENCE_LSTM": None, "BIDIRECTIONAL_SEQUENCE_RNN": None,
    }.items() if hasattr(schema.BuiltinOperator, name)
}
# The fewest inputs common builtin operators read: kernels check, but delegates (XNNPACK)
# read that many without looking (a DEPTHWISE_CONV_2D without its bias crashes it). Each
# has an output (ASSIGN_VARIABLE none).
_MIN_INPUTS = {
    getattr(schema.BuiltinOperator, name): count
    for count, names in {
        1: "ABS AVERAGE_POOL_2D CAST CEIL CONCATENATION COS DEPTH_TO_SPACE DEQUANTIZE ELU EXP FLOOR GELU "
           "HARD_SWISH L2_NORMALIZATION LEAKY_RELU LOCAL_RESPONSE_NORMALIZATION LOG LOGISTIC LOG_SOFTMAX "
           "MAX_POOL_2D NEG PACK QUANTIZE READ_VARIABLE RELU RELU6 RELU_0_TO_1 RELU_N1_TO_1 RESHAPE ROUND "
           "RSQRT SHAPE SIGN SIN SOFTMAX SPACE_TO_DEPTH SQRT SQUARE SQUEEZE TANH UNPACK ZEROS_LIKE",
        2: "ADD ARG_MAX ARG_MIN ASSIGN_VARIABLE BATCH_MATMUL BROADCAST_TO CUMSUM DIV EQUAL EXPAND_DIMS FILL "
           "FLOOR_DIV FLOOR_MOD FULLY_CONNECTED GATHER GATHER_ND GREATER GREATER_EQUAL LESS LESS_EQUAL "
           "LOGICAL_AND LOGICAL_OR MAXIMUM MEAN MINIMUM MIRROR_PAD MUL NOT_EQUAL PAD POW PRELU REDUCE_ANY "
           "REDUCE_MAX REDUCE_MIN REDUCE_PROD RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR REVERSE_V2 SPLIT "
           "SQUARED_DIFFERENCE SUB SUM TILE TOP_K_V2 TRANSPOSE",
        3: "BATCH_TO_SPACE_ND CONV_2D DEPTHWISE_CONV_2D PADV2 RANGE SELECT SELECT_V2 SLICE SPACE_TO_BATCH_ND "
           "SPLIT_V TRANSPOSE_CONV",
        4: "ONE_HOT STRIDED_SLICE",
    }.items() for name in names.split() if hasattr(schema.BuiltinOperator, name)
}
# The inputs of builtin operators that hold indices, sizes or axes, as integers:
# tflite_runtime 2.14 aborts the process when a RESHAPE's shape is a float tensor.
_INTEGER_INPUTS = {
    name: positions for positions, names in {
        (0,): "FILL SPLIT",
        (0, 1): "ONE_HOT",
        (1,): "ARG_MAX ARG_MIN BROADCAST_TO CUMSUM EXPAND_DIMS GATHER GATHER_ND MEAN MIRROR_PAD PAD PADV2 "
              "REDUCE_ANY REDUCE_MAX REDUCE_MIN REDUCE_PROD RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR "
              "REVERSE_V2 SUM TILE TOP_K_V2 TRANSPOSE",
        (1, 2): "BATCH_TO_SPACE_ND SLICE SPACE_TO_BATCH_ND SPLIT_V",
        (1, 2, 3): "STRIDED_SLICE",
    }.items() for name in names.split()
}
# The builtin options each operator takes, where the names do not say (CONV_2D takes
# Conv2DOptions): options of another operator's type make runtimes read them as their own.
_OPTIONS_OF = {"AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions",
               "L2_POOL_2D": "Pool2DOptions",
               "MAXIMUM": "MaximumMinimumOptions", "MINIMUM": "MaximumMinimumOptions",
               "L2_NORMALIZATION": "L2NormOptions", **{name: "ReducerOptions" for name in (
                   "MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "REDUCE_ANY", "REDUCE_ALL")}}
_OPTIONS_NAMES = {value: name for name, value in vars(schema.BuiltinOptions).items()
                  if not name.startswith("_")}


def _expected_options():
    by_lower = {name.lower(): value for value, name in _OPTIONS_NAMES.items()}
    expected = {}
    for name, code in vars(schema.BuiltinOperator).items():
        if name.startswith("_"):
            continue
        options = _OPTIONS_OF.get(name, name.replace("_", "") + "Options").lower()
        if options in by_lower:
            expected[code] = by_lower[options]
    return expected


_EXPECTED_OPTIONS = _expected_options()
_GREATER_OP_CODES = schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES
# Where the strings checked below sit in their tables' vtables (fixed by the schema).
_TENSOR_NAME, _CUSTOM_CODE, _SIGNATURE_KEY, _TENSOR_MAP_NAME, _BUILTIN_CODE = 10, 6, 8, 4, 10
_METADATA_NAME, _SUBGRAPH_NAME, _DESCRIPTION = 4, 12, 10
# Exceptions the flatbuffers reader raises on offsets that lead outside the buffer.
_READ_ERRORS = (struct.error, IndexError, TypeError, ValueError, UnicodeDecodeError, OverflowError,
                RecursionError, AttributeError, MemoryError)


def check(content, source):
    """Raises ValueError unless `content` is a TFLite model a runtime can safely load.

    Checks the file identifier and size, that every table and vector read lies within the
    file, the schema version, operator codes, tensor types, shapes and buffers (constant
    data sized as its shape says), quantization parameters (finite positive scales, zero
    points in the range of the tensor's type, per-channel counts), that the tensor,
    operator code, buffer and subgraph indices of operators, subgraphs, signatures and
    metadata are in range, and what runtimes were seen to crash on: operators without
    the inputs they need, indices or sizes that are not integers, tensors read before
    they are written, and STRIDED_SLICEs whose constant bounds do not fit their shapes.

    Args:
        content: the model's bytes.
        source: where they came from, for messages (e.g. "`model_path` 'm.tflite'").

    Raises:
        ValueError: "<source> is damaged: <what is wrong>."
    """
    checker = _Checker(bytes(content))
    try:
        checker.model()
    except _Damaged as err:
        raise ValueError(f"{source} is damaged: {err}") from None
    except _READ_ERRORS as err:
        raise ValueError(f"{source} is damaged: {checker.where} cannot be read, it leads outside the file "
                         f"({type(err).__name__}: {err}).") from None


class _Damaged(Exception):
    pass


def _numpy(array, dtype):
    # The generated `...AsNumpy()` accessors return 0 for an absent vector.
    return np.zeros(0, dtype) if isinstance(array, int) else array


def _listed(values, limit=8):
    values = [int(v) for v in values]
    return str(values) if len(values) <= limit else f"[{', '.join(map(str, values[:limit]))}, ...]"


class _Checker:
    def __init__(self, content):
        self.buf = content
        self.size = len(content)
        self.where = "the model"
        self.multiple_subgraphs = False

    # --- the flatbuffer's layout -------------------------------------------------------

    def _u32(self, pos):
        return struct.unpack_from("<I", self.buf, pos)[0]

    def table(self, tab, what):
        """Checks that the table at tab.Pos and its vtable lie within the file."""
        pos, size = tab.Pos, self.size
        if not 0 <= pos <= size - 4:
            raise _Damaged(f"{what} lies outside the file (at byte {pos} of {size}).")
        vtable = pos - struct.unpack_from("<i", self.buf, pos)[0]
        if not 0 <= vtable <= size - 4:
            raise _Damaged(f"{what} has its field table outside the file (at byte {vtable} of {size}).")
        vsize, osize = struct.unpack_from("<HH", self.buf, vtable)
        if vsize < 4 or vsize % 2 or osize < 4:
            raise _Damaged(f"{what} has a broken field table (sizes {vsize} and {osize} at byte {vtable}).")
        if vtable + vsize > size or pos + osize > size:
            raise _Damaged(f"{what} runs past the end of the file ({size} bytes).")
        fields = np.frombuffer(self.buf, "<u2", count=(vsize - 4) // 2, offset=vtable + 4)
        if fields.size and int(fields.max()) >= osize:
            raise _Damaged(f"{what} has a field outside its table (offset {int(fields.max())} of {osize}).")

    def string(self, tab, slot, what):
        """The string in field `slot` of a checked table (None if absent), decoded."""
        field = tab.Offset(slot)
        if not field:
            return None
        start = tab.Pos + field
        start += self._u32(start)
        if start + 4 > self.size or start + 4 + self._u32(start) > self.size:
            raise _Damaged(f"{what} runs past the end of the file.")
        data = self.buf[start + 4:start + 4 + self._u32(start)]
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise _Damaged(f"{what} is not UTF-8 text ({data[:32]!r}).") from None

    def count(self, n, what):
        """Checks that a vector of `n` offsets can fit in the file."""
        if n * 4 > self.size:
            raise _Damaged(f"{what} count {n} cannot fit in a file of {self.size} bytes.")
        return n

    # --- the model -----------------------------------------------------------------------

    def model(self):
        size = self.size
        if size < _MIN_SIZE:
            raise _Damaged(f"the file is {size} bytes, too short for a TFLite model.")
        if self.buf[4:8] != IDENTIFIER:
            raise _Damaged(f"it has no TFLite file identifier ({IDENTIFIER!r} expected, got "
                           f"{self.buf[4:8]!r}).")
        root = self._u32(0)
        if not 8 <= root <= size - 4:
            raise _Damaged(f"its root table offset {root} lies outside the file ({size} bytes).")
        model = schema.Model.GetRootAsModel(self.buf, 0)
        self.table(model._tab, "the model table")
        self.string(model._tab, _DESCRIPTION, "the model's description")
        version = model.Version()
        if version != SCHEMA_VERSION:
            raise _Damaged(f"it has schema version {version}; TFLite runtimes read version {SCHEMA_VERSION}.")
        self.buffers = self.model_buffers(model)
        codes = self.operator_codes(model)
        subgraphs = self.count(model.SubgraphsLength(), "subgraph")
        if subgraphs < 1:
            raise _Damaged("it has no subgraph.")
        self.multiple_subgraphs = subgraphs > 1
        tensor_counts = [self.subgraph(model, s, codes) for s in range(subgraphs)]
        self.signatures(model, tensor_counts)
        self.metadata(model)

    def model_buffers(self, model):
        """The data size of each buffer (None for buffer 0 and empty ones)."""
        sizes = []
        for b in range(self.count(model.BuffersLength(), "buffer")):
            self.where = what = f"buffer {b}"
            buffer = model.Buffers(b)
            self.table(buffer._tab, what)
            try:
                data = _numpy(buffer.DataAsNumpy(), np.uint8)
            except ValueError:
                raise _Damaged(f"{what}'s data runs past the end of the file.") from None
            offset, length = buffer.Offset(), buffer.Size()
            if offset > 1:  # data stored after the flatbuffer (models over 2 GB)
                if offset + length > self.size:
                    raise _Damaged(f"{what}'s data (bytes {offset} to {offset + length}) lies outside the "
                                   f"file ({self.size} bytes).")
                sizes.append(length or None)
            else:
                sizes.append(data.size or None)
        return sizes

    def operator_codes(self, model):
        """(builtin operator, name) of each operator code; the name is the custom code of
        custom operators."""
        names = []
        for c in range(self.count(model.OperatorCodesLength(), "operator code")):
            self.where = what = f"operator code {c}"
            code = model.OperatorCodes(c)
            self.table(code._tab, what)
            # The field itself: the package's BuiltinCode() answers the deprecated one below 127.
            field = code._tab.Offset(_BUILTIN_CODE)
            deprecated = code.DeprecatedBuiltinCode()
            builtin = struct.unpack_from("<i", self.buf, code._tab.Pos + field)[0] if field else 0
            if deprecated < 0 or builtin < 0:
                raise _Damaged(f"{what} has a negative builtin operator ({min(deprecated, builtin)}).")
            if builtin and deprecated != min(builtin, _GREATER_OP_CODES):
                raise _Damaged(f"{what} has builtin operator {builtin} but deprecated builtin operator "
                               f"{deprecated}, which disagree.")
            number = max(deprecated, builtin)  # as runtimes read it
            if number not in _BUILTINS:
                raise _Damaged(f"{what} has builtin operator {number}, unknown to the tflite schema package "
                               f"{getattr(schema, '__version__', '')}".rstrip() + ".")
            if number == schema.BuiltinOperator.CUSTOM:
                custom = self.string(code._tab, _CUSTOM_CODE, f"{what}'s custom code")
                if not custom:
                    raise _Damaged(f"{what} is a custom operator without a custom code.")
                names.append((number, custom))
            else:
                names.append((number, schema.BUILTIN_OPCODE2NAME.get(number, str(number))))
        return names

    def tensor_label(self, s, t, name=None):
        label = f"tensor {t}" + (f" ({name!r})" if name else "")
        return f"subgraph {s} {label}" if self.multiple_subgraphs else label

    def indices(self, values, low, high, what):
        values = _numpy(values, np.int32)
        if values.size and (int(values.min()) < low or int(values.max()) >= high):
            bad = values[(values < low) | (values >= high)]
            raise _Damaged(f"{what} {_listed(values)} refer to tensor {int(bad[0])}; the subgraph has "
                           f"{high} tensors.")
        return values

    def subgraph(self, model, s, codes):
        self.where = f"subgraph {s}"
        graph = model.Subgraphs(s)
        self.table(graph._tab, self.where)
        self.string(graph._tab, _SUBGRAPH_NAME, f"subgraph {s}'s name")
        n = self.count(graph.TensorsLength(), f"subgraph {s} tensor")
        tensors = [self.tensor(graph, s, t) for t in range(n)]  # (label, holds a value, rank, type)
        prefix = f"subgraph {s}'s" if self.multiple_subgraphs else "the model's"
        self.where = f"subgraph {s}"
        given = set(self.indices(graph.InputsAsNumpy(), 0, n, f"{prefix} inputs").tolist())
        self.indices(graph.OutputsAsNumpy(), 0, n, f"{prefix} outputs")
        operators = [self.operator(graph, s, o, n, codes)
                     for o in range(self.count(graph.OperatorsLength(), f"subgraph {s} operator"))]
        # Operators run in order: each reads tensors that have a value by then (runtimes
        # leave the others unallocated, or free them while still in use).
        given |= {t for t, (_, value, _, _) in enumerate(tensors) if value}
        written = {t: label for label, _, _, outputs in operators for t in outputs.tolist()}
        for o, (label, name, inputs, outputs) in enumerate(operators):
            if name == "STRIDED_SLICE":
                self.strided_slice(model, graph, graph.Operators(o), label, inputs, outputs, tensors)
            integer = _INTEGER_INPUTS.get(name, ())
            for position in integer:
                t = int(inputs[position]) if position < inputs.size else -1
                if t >= 0 and tensors[t][3] not in ("int16", "int32", "int64"):
                    raise _Damaged(f"{label} takes {tensors[t][0]} of {tensors[t][3]} as its input {position}, "
                                   "which must hold integer indices, sizes or axes.")
            for position, t in enumerate(inputs.tolist()):
                if t < 0 or t in given or (position == 1 and name == "RESHAPE"
                                           and tensors[t][2] != 1):
                    continue
                if t in written:
                    raise _Damaged(f"{label} reads {tensors[t][0]} before {written[t]} writes it.")
                raise _Damaged(f"{label} reads {tensors[t][0]}, which never gets a value: it is not an "
                               f"input of the {'subgraph' if self.multiple_subgraphs else 'model'}, no "
                               f"operator writes it and it holds no data.")
            given |= set(outputs.tolist())
        return n

    def strided_slice(self, model, graph, op, label, inputs, outputs, tensors):
        """A STRIDED_SLICE with constant begin, end and strides on a static shape must slice
        within the shape and give its output tensor's shape: tflite_runtime 2.14 aborts the
        process otherwise."""
        if inputs.size < 4 or outputs.size < 1 or op.BuiltinOptionsType() != schema.BuiltinOptions.StridedSliceOptions:
            return
        table = op.BuiltinOptions()
        options = schema.StridedSliceOptions()
        options.Init(table.Bytes, table.Pos)
        if options.EllipsisMask() or options.NewAxisMask() or options.Offset():
            return
        shape = _numpy(graph.Tensors(int(inputs[0])).ShapeAsNumpy(), np.int32).astype(np.int64)
        begin, end, strides = (self.constant(model, graph, int(t), tensors) for t in inputs[1:4])
        if begin is None or end is None or strides is None or not (begin.size == end.size == strides.size == shape.size):
            return
        if (strides == 0).any():
            raise _Damaged(f"{label} has a stride of 0.")
        masked = [(options.BeginMask() >> a & 1, options.EndMask() >> a & 1 or options.ShrinkAxisMask() >> a & 1)
                  for a in range(shape.size)]
        for axis, (dim, b, e) in enumerate(zip(shape.tolist(), begin.tolist(), end.tolist())):
            # TensorFlow clamps these; tflite_runtime 2.14 aborts the process on them.
            for what, value, skip in (("begin", b, masked[axis][0]), ("end", e, masked[axis][1])):
                if not skip and not -dim <= value <= dim:
                    raise _Damaged(f"{label} has {what} {value} on axis {axis} of {tensors[int(inputs[0])][0]}, "
                                   f"outside [{-dim}, {dim}] for its size {dim}.")
        sizes = []
        for axis, (dim, b, e, step) in enumerate(zip(shape.tolist(), begin.tolist(), end.tolist(), strides.tolist())):
            low, high = (0, dim) if step > 0 else (-1, dim - 1)
            b = (0 if step > 0 else dim - 1) if options.BeginMask() >> axis & 1 else min(max(b + dim if b < 0 else b, low), high)
            if options.ShrinkAxisMask() >> axis & 1:
                continue
            e = (dim if step > 0 else -1) if options.EndMask() >> axis & 1 else min(max(e + dim if e < 0 else e, low), high)
            sizes.append(max(0, -(-(e - b) // step)))
        stored = _numpy(graph.Tensors(int(outputs[0])).ShapeAsNumpy(), np.int32).tolist()
        if sizes != stored:
            raise _Damaged(f"{label} slices {tensors[int(inputs[0])][0]} of shape {_listed(shape)} to shape "
                           f"{_listed(sizes)} by its constant begin {_listed(begin)}, end {_listed(end)} and "
                           f"strides {_listed(strides)}, but its output has shape {_listed(stored)}.")

    def constant(self, model, graph, t, tensors):
        """The integers a constant tensor holds, or None for other tensors."""
        tensor = graph.Tensors(t)
        dtype = {"int32": "<i4", "int64": "<i8"}.get(tensors[t][3])
        if dtype is None or not tensor.Buffer():
            return None
        data = _numpy(model.Buffers(tensor.Buffer()).DataAsNumpy(), np.uint8)
        return np.frombuffer(data.tobytes(), dtype=dtype).astype(np.int64) if data.size else None

    def tensor(self, graph, s, t):
        self.where = label = self.tensor_label(s, t)
        tensor = graph.Tensors(t)
        self.table(tensor._tab, label)
        name = self.string(tensor._tab, _TENSOR_NAME, f"{label}'s name")
        self.where = label = self.tensor_label(s, t, name)
        kind = _TYPES.get(tensor.Type())
        if kind is None:
            raise _Damaged(f"{label} has unknown type {tensor.Type()}.")
        shape = _numpy(tensor.ShapeAsNumpy(), np.int32)
        if shape.size and int(shape.min()) < 0:
            raise _Damaged(f"{label} has a negative dimension in its shape {_listed(shape)}.")
        signature = _numpy(tensor.ShapeSignatureAsNumpy(), np.int32)
        if signature.size and int(signature.min()) < -1:
            raise _Damaged(f"{label} has a dimension below -1 in its shape signature {_listed(signature)}.")
        if not tensor.ShapeSignatureIsNone() and (
                signature.size != shape.size or ((signature != -1) & (signature != shape)).any()):
            raise _Damaged(f"{label} has shape {_listed(shape)}, which its shape signature "
                           f"{_listed(signature)} does not allow.")
        buffer = tensor.Buffer()
        if buffer >= len(self.buffers):
            raise _Damaged(f"{label} refers to buffer {buffer}; the model has {len(self.buffers)} buffers.")
        sparsity = tensor.Sparsity()
        if sparsity is not None:
            self.table(sparsity._tab, f"{label}'s sparsity parameters")
        stored = self.buffers[buffer] if buffer else None
        elements = math.prod(int(d) for d in shape)
        if stored is not None and sparsity is None and kind in _ELEMENT_BYTES:
            expected = math.ceil(elements * _ELEMENT_BYTES[kind])
            if stored != expected:
                raise _Damaged(f"{label} has shape {_listed(shape)} of {kind}, {expected} bytes, but its "
                               f"buffer {buffer} holds {stored} bytes.")
        quantization = tensor.Quantization()
        if quantization is not None:
            self.quantization(quantization, label, kind, shape)
        return label, stored is not None or tensor.IsVariable() or elements == 0, shape.size, kind

    def quantization(self, q, label, kind, shape):
        self.table(q._tab, f"{label}'s quantization parameters")
        scale = _numpy(q.ScaleAsNumpy(), np.float32)
        zero_point = _numpy(q.ZeroPointAsNumpy(), np.int64)
        # A subnormal scale (3e-45) crashed XNNPACK, which divides by it.
        good = np.isfinite(scale) & (scale >= np.finfo(np.float32).tiny)
        if scale.size and not good.all():
            bad = float(scale[~good][0])
            raise _Damaged(f"{label} has quantization scale {bad!r}; scales must be finite "
                           f"and above 0 (at least {float(np.finfo(np.float32).tiny):.4g}).")
        if scale.size and zero_point.size and scale.size != zero_point.size:
            raise _Damaged(f"{label} has {scale.size} quantization scales but {zero_point.size} zero points.")
        if zero_point.size and kind in _ZERO_POINTS:
            low, high = _ZERO_POINTS[kind]
            bad = zero_point[(zero_point < low) | (zero_point > high)]
            if bad.size:
                allowed = "must be 0" if low == high else f"outside [{low}, {high}]"
                raise _Damaged(f"{label} has {kind} zero point {int(bad[0])}, {allowed}.")
        channels = max(scale.size, zero_point.size)
        if channels > 1:
            dimension = q.QuantizedDimension()
            if not 0 <= dimension < shape.size:
                raise _Damaged(f"{label} is quantized per channel along dimension {dimension}, but has "
                               f"shape {_listed(shape)}.")
            if int(shape[dimension]) != channels:
                raise _Damaged(f"{label} has {channels} quantization scales for the {int(shape[dimension])} "
                               f"channels of dimension {dimension} of its shape {_listed(shape)}.")

    def operator(self, graph, s, o, n, codes):
        self.where = label = f"subgraph {s} operator {o}" if self.multiple_subgraphs else f"operator {o}"
        op = graph.Operators(o)
        self.table(op._tab, label)
        index = op.OpcodeIndex()
        if index >= len(codes):
            raise _Damaged(f"{label} has operator code {index}; the model has {len(codes)}.")
        label = f"{label} ({codes[index][1]})"
        inputs = self.indices(op.InputsAsNumpy(), -1, n, f"{label}'s inputs")
        builtin = codes[index][0]
        if builtin in _MIN_INPUTS:
            needed, outputs = _MIN_INPUTS[builtin], op.OutputsLength()
            if inputs.size < needed:
                raise _Damaged(f"{label} has {inputs.size} input(s); it needs at least {needed}.")
            if outputs < 1 and builtin != schema.BuiltinOperator.ASSIGN_VARIABLE:
                raise _Damaged(f"{label} has no output.")
        if builtin != schema.BuiltinOperator.CUSTOM and inputs.size and int(inputs.min()) < 0:
            optional = _OPTIONAL_INPUTS.get(builtin, set())
            for position in np.flatnonzero(inputs < 0).tolist():
                if position == 0 or (optional is not None and position not in optional):
                    raise _Damaged(f"{label} has no tensor (-1) as its input {position}, which it needs.")
        self.indices(op.IntermediatesAsNumpy(), -1, n, f"{label}'s intermediates")
        for kind, known, options in ((op.BuiltinOptionsType(), _OPTIONS, op.BuiltinOptions),
                                     (op.BuiltinOptions2Type(), _OPTIONS2, op.BuiltinOptions2)):
            if kind not in known:
                raise _Damaged(f"{label} has unknown builtin options type {kind}.")
            if kind:
                table = options()
                if table is None:
                    raise _Damaged(f"{label} has options of type {kind} but no options.")
                self.table(table, f"{label}'s options")
        kind, wanted = op.BuiltinOptionsType(), _EXPECTED_OPTIONS.get(builtin)
        if kind and wanted is not None and kind != wanted:
            raise _Damaged(f"{label} has {_OPTIONS_NAMES[kind]}; it takes {_OPTIONS_NAMES[wanted]}.")
        try:
            _numpy(op.CustomOptionsAsNumpy(), np.uint8)
        except ValueError:
            raise _Damaged(f"{label}'s custom options run past the end of the file.") from None
        offset, length = op.LargeCustomOptionsOffset(), op.LargeCustomOptionsSize()
        if length and offset + length > self.size:
            raise _Damaged(f"{label}'s custom options (bytes {offset} to {offset + length}) lie outside the "
                           f"file ({self.size} bytes).")
        name = None if builtin == schema.BuiltinOperator.CUSTOM else codes[index][1]  # a builtin's name
        return label, name, inputs, self.indices(op.OutputsAsNumpy(), 0, n, f"{label}'s outputs")

    def signatures(self, model, tensor_counts):
        for d in range(self.count(model.SignatureDefsLength(), "signature")):
            self.where = what = f"signature {d}"
            signature = model.SignatureDefs(d)
            self.table(signature._tab, what)
            key = self.string(signature._tab, _SIGNATURE_KEY, f"{what}'s key")
            what = f"signature {d} ({key!r})" if key else what
            s = signature.SubgraphIndex()
            if s >= len(tensor_counts):
                raise _Damaged(f"{what} refers to subgraph {s}; the model has {len(tensor_counts)}.")
            for side, length, entry in (("input", signature.InputsLength, signature.Inputs),
                                        ("output", signature.OutputsLength, signature.Outputs)):
                for i in range(self.count(length(), f"{what} {side}")):
                    tensor_map = entry(i)
                    self.table(tensor_map._tab, f"{what} {side} {i}")
                    name = self.string(tensor_map._tab, _TENSOR_MAP_NAME, f"{what} {side} {i}'s name")
                    index = tensor_map.TensorIndex()
                    if index >= tensor_counts[s]:
                        raise _Damaged(f"{what} {side} {name or i!r} refers to tensor {index}; subgraph {s} "
                                       f"has {tensor_counts[s]} tensors.")

    def metadata(self, model):
        for m in range(self.count(model.MetadataLength(), "metadata")):
            self.where = what = f"metadata {m}"
            entry = model.Metadata(m)
            self.table(entry._tab, what)
            self.string(entry._tab, _METADATA_NAME, f"{what}'s name")  # runtimes compare it
            if entry.Buffer() >= len(self.buffers):
                raise _Damaged(f"{what} refers to buffer {entry.Buffer()}; the model has {len(self.buffers)} "
                               f"buffers.")
        buffers = _numpy(model.MetadataBufferAsNumpy(), np.int32)
        if buffers.size and (int(buffers.min()) < 0 or int(buffers.max()) >= len(self.buffers)):
            raise _Damaged(f"the model's metadata buffers {_listed(buffers)} are not all among its "
                           f"{len(self.buffers)} buffers.")
