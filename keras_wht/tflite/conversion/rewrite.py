"""Edits to a .tflite flatbuffer made while converting (the workstation side).

They use the flatbuffer schema's object API (`ModelT`), which the `tflite` package used
for reading does not generate; TensorFlow's copy of the schema has it (compat.schema),
and conversion runs with TensorFlow anyway.
"""

from keras_wht.tflite.conversion import compat
from keras_wht.tflite.runtime.flatbuffer import IDENTIFIER

schema = compat.schema()


# The narrowest range an int8 grid spans, as TensorFlow's quantizer widens a range about
# zero (an untrained network's deep activations can all be near 1e-35; a grid over that
# has a scale XNNPACK refuses).
MIN_RANGE = 2e-6


def int8_grid(low, high):
    """Asymmetric per-tensor int8 quantization (QuantizationParametersT) over [low, high],
    widened to hold 0 and to span at least MIN_RANGE."""
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    if high - low < MIN_RANGE:
        low, high = min(low, -MIN_RANGE / 2), max(high, MIN_RANGE / 2)
    scale = (high - low) / 255.0
    q = schema.QuantizationParametersT()
    q.scale, q.zeroPoint = [scale], [int(round(-128 - low / scale))]
    return q


def _int8_twin(graph, index, quantization):
    """A new int8 tensor of tensor `index`'s shape, named after it, with `quantization`
    (QuantizationParametersT); returns its index."""
    source = graph.tensors[index]
    tensor = schema.TensorT()
    tensor.shape, tensor.shapeSignature = source.shape, source.shapeSignature
    tensor.type, tensor.buffer, tensor.name = schema.TensorType.INT8, 0, (source.name or b"") + b"_int8"
    tensor.quantization = quantization
    graph.tensors.append(tensor)
    return len(graph.tensors) - 1


def _grid(tensor):
    """(scale, zero point) of an int8 tensor quantized per tensor, else None."""
    q = tensor.quantization
    if tensor.type != schema.TensorType.INT8 or q is None or q.scale is None or len(q.scale) != 1:
        return None
    return float(q.scale[0]), int(q.zeroPoint[0])


def _same_grid(tensor):
    """A copy of `tensor`'s per-tensor quantization parameters (scale and zero point)."""
    q = schema.QuantizationParametersT()
    q.scale, q.zeroPoint = list(tensor.quantization.scale), list(tensor.quantization.zeroPoint)
    return q


def _float_constant(model, graph, array, name):
    """A new float32 constant tensor holding `array`; returns its index."""
    import numpy as np

    buffer = schema.BufferT()
    buffer.data = np.frombuffer(np.ascontiguousarray(array, dtype="<f4").tobytes(), dtype=np.uint8)
    model.buffers.append(buffer)
    tensor = schema.TensorT()
    tensor.shape, tensor.type = list(np.shape(array)), schema.TensorType.FLOAT32
    tensor.buffer, tensor.name = len(model.buffers) - 1, name.encode()
    graph.tensors.append(tensor)
    return len(graph.tensors) - 1


def int8_interface(content, input_ranges, output_ranges):
    """The model with int8 inputs and outputs instead of float ones.

    Where the model quantizes a float input itself (a QUANTIZE op) or dequantizes into a
    float output (a DEQUANTIZE op), that op is dropped and its int8 side becomes the
    interface. Where a float op meets the interface directly (a WHT layer first or last),
    a DEQUANTIZE or QUANTIZE op is put in, on an asymmetric int8 grid spanning
    `input_ranges[k]` or `output_ranges[k]` ((low, high) pairs).
    """
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    graph = model.subgraphs[0]
    operators = list(graph.operators)
    inputs, outputs = [int(t) for t in graph.inputs], [int(t) for t in graph.outputs]
    renamed, dropped, front, back = {}, set(), [], []

    code = lambda op: _code(model, op)  # noqa: E731

    def int8_twin(index, low, high):
        return _int8_twin(graph, index, int8_grid(low, high))

    def operator(builtin, version, op_inputs, op_outputs):
        return _operator(model, builtin, version, op_inputs, op_outputs)

    for k, tensor in enumerate(inputs):
        consumers = [i for i, op in enumerate(operators) if tensor in [int(t) for t in op.inputs]]
        first = operators[consumers[0]] if len(consumers) == 1 else None
        if first is not None and code(first) == schema.BuiltinOperator.QUANTIZE and \
                graph.tensors[int(first.outputs[0])].type == schema.TensorType.INT8:
            renamed[tensor] = int(first.outputs[0])
            dropped.add(consumers[0])
        else:
            renamed[tensor] = int8_twin(tensor, *input_ranges[k])
            front.append(operator(schema.BuiltinOperator.DEQUANTIZE, 2, [renamed[tensor]], [tensor]))
    for k, tensor in enumerate(outputs):
        producers = [i for i, op in enumerate(operators) if tensor in [int(t) for t in op.outputs]]
        last = operators[producers[0]] if producers else None
        if last is not None and code(last) == schema.BuiltinOperator.DEQUANTIZE and \
                graph.tensors[int(last.inputs[0])].type == schema.TensorType.INT8:
            renamed[tensor] = int(last.inputs[0])
            dropped.add(producers[0])
        else:
            renamed[tensor] = int8_twin(tensor, *output_ranges[k])
            back.append(operator(schema.BuiltinOperator.QUANTIZE, 1, [tensor], [renamed[tensor]]))

    graph.operators = front + [op for i, op in enumerate(operators) if i not in dropped] + back
    graph.inputs = [renamed[t] for t in inputs]
    graph.outputs = [renamed[t] for t in outputs]
    for signature in model.signatureDefs or []:
        for entry in list(signature.inputs or []) + list(signature.outputs or []):
            entry.tensorIndex = renamed.get(int(entry.tensorIndex), entry.tensorIndex)
    return _packed(model, len(content))


def replace_custom_operators(content, placeholder, replacements):
    """Turns marked CUSTOM operators into other custom operators.

    A marked operator has custom code `placeholder` and two inputs: a float32 scalar
    constant k, then the data. When k is a key of `replacements`, the operator becomes
    `replacements[k] = (custom code, flexbuffer options, [(name, float32 array), ...])`:
    the data stays its first input, each array becomes a new constant input after it,
    and the options are set. Returns (model bytes, the keys found).
    """
    import numpy as np

    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    custom = schema.BuiltinOperator.CUSTOM
    codes = {}

    def opcode(name):
        if name not in codes:
            oc = schema.OperatorCodeT()
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.customCode, oc.version = custom, custom, name.encode(), 1
            model.operatorCodes.append(oc)
            codes[name] = len(model.operatorCodes) - 1
        return codes[name]

    def constant_value(graph, index, producers):
        """The scalar held by a constant tensor, or by a DEQUANTIZE of a float16 one
        (quantize="float16" stores constants so); with the DEQUANTIZE op, if any."""
        tensor = graph.tensors[index]
        data = model.buffers[tensor.buffer].data if tensor.buffer else None
        if data is not None and tensor.type == schema.TensorType.FLOAT32 and len(data) == 4:
            return float(np.frombuffer(np.asarray(data, dtype=np.uint8).tobytes(), dtype="<f4")[0]), None
        producer = producers.get(index)
        if producer is not None and model.operatorCodes[producer.opcodeIndex].builtinCode == \
                schema.BuiltinOperator.DEQUANTIZE:
            source = graph.tensors[int(producer.inputs[0])]
            data = model.buffers[source.buffer].data if source.buffer else None
            if data is not None and source.type == schema.TensorType.FLOAT16 and len(data) == 2:
                return float(np.frombuffer(np.asarray(data, dtype=np.uint8).tobytes(), dtype="<f2")[0]), producer
        return None, None

    found = []
    for graph in model.subgraphs:
        producers = {int(t): op for op in graph.operators for t in (op.outputs if op.outputs is not None else [])}
        orphans = []
        for op in graph.operators:
            oc = model.operatorCodes[op.opcodeIndex]
            if oc.builtinCode != custom or oc.customCode != placeholder.encode():
                continue
            if op.inputs is None or len(op.inputs) != 2:
                continue
            key, producer = constant_value(graph, int(op.inputs[0]), producers)
            if key is None or int(key) not in replacements:
                continue
            key = int(key)
            code, options, constants = replacements[key]
            name = (graph.tensors[int(op.outputs[0])].name or code.encode()).decode()
            op.opcodeIndex = opcode(code)
            op.customOptions = list(options)
            op.customOptionsFormat = schema.CustomOptionsFormat.FLEXBUFFERS
            op.inputs = [int(op.inputs[1])] + [_float_constant(model, graph, a, f"{name}/{label}")
                                              for label, a in constants]
            orphans += [producer] if producer is not None else []
            found.append(key)
        # A DEQUANTIZE that fed only a marker's key has nothing left to do.
        used = {int(t) for op in graph.operators for t in (op.inputs if op.inputs is not None else [])}
        used |= {int(t) for t in graph.outputs}
        graph.operators = [op for op in graph.operators
                           if not any(op is o for o in orphans) or int(op.outputs[0]) in used]
    _drop_unused_opcodes(model)
    return _packed(model, len(content)), found


def fold_channel_slices(content, code, key):
    """Custom operators `code` whose options carry `key` (their output's channel count)
    and whose output goes only to a SLICE or STRIDED_SLICE that keeps that many leading
    channels write the slice's output themselves; the slices are dropped. The converter
    traced such an op at its input's width and narrowed it after (the kernels narrow the
    channels themselves). Returns (model bytes, the number of ops rewired)."""
    from flatbuffers import flexbuffers

    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    slices = {schema.BuiltinOperator.SLICE, schema.BuiltinOperator.STRIDED_SLICE}
    folded = 0
    for graph in model.subgraphs:
        consumers = _consumers(graph.operators)
        outputs = {int(t) for t in graph.outputs}
        dropped = []
        for op in graph.operators:
            if model.operatorCodes[op.opcodeIndex].customCode != code.encode() or op.customOptions is None:
                continue
            channels = flexbuffers.Loads(bytes(bytearray(op.customOptions))).get(key)
            y = int(op.outputs[0])
            after = consumers.get(y, [])
            if channels is None or y in outputs or len(after) != 1 or _code(model, after[0]) not in slices:
                continue
            narrowed = graph.tensors[int(after[0].outputs[0])]
            wide = graph.tensors[y]
            if list(narrowed.shape[:-1]) != list(wide.shape[:-1]) or int(narrowed.shape[-1]) != channels:
                continue
            op.outputs[0] = int(after[0].outputs[0])
            dropped.append(after[0])
        graph.operators = [op for op in graph.operators if not any(op is d for d in dropped)]
        folded += len(dropped)
    _drop_unused_opcodes(model)
    return _packed(model, len(content)), folded


_FUSED_ACTIVATIONS = {"RELU": "relu", "RELU6": "relu6"}
_ACTIVATION_OPS = {"RELU": "relu", "RELU6": "relu6", "HARD_SWISH": "hard_swish"}


def fold_epilogues(content, codes):
    """Custom operators with a code in `codes` take in what follows them in float32, one
    sole consumer after another: MULs and ADDs by constants that are per channel (the last
    axis) or scalars (a batch norm the converter split), and then an activation (fused into
    the last of them, or a RELU, RELU6 or HARD_SWISH op). They become the op's post_scale
    and post_offset inputs and its `activation` option (contract.INPUTS), and the folded ops
    are dropped. A crop of leading channels (SLICE or STRIDED_SLICE) between the op and the
    batch norm stays, after the op: the parameters of the cropped channels are 1 and 0.
    Exact up to float rounding: (y * a + b) * c + d is computed as y * (a c) + (b c + d).
    Returns (model bytes, the number of ops folded into custom operators)."""
    import numpy as np
    from flatbuffers import flexbuffers

    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    names = {code.encode() for code in codes}
    builtin = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    fused = {v: k for k, v in vars(schema.ActivationFunctionType).items() if not k.startswith("_")}
    slices = {schema.BuiltinOperator.SLICE, schema.BuiltinOperator.STRIDED_SLICE}
    folded = 0

    def constant(graph, index):
        tensor = graph.tensors[index]
        data = model.buffers[tensor.buffer].data if tensor.buffer else None
        if data is None or tensor.type != schema.TensorType.FLOAT32:
            return None
        return np.frombuffer(np.asarray(data, dtype=np.uint8).tobytes(), dtype="<f4").reshape(
            [int(d) for d in tensor.shape] if tensor.shape is not None else [])

    for graph in model.subgraphs:
        outputs = {int(t) for t in graph.outputs}
        consumers = _consumers(graph.operators)  # folding rewires outputs, never inputs
        dropped = []
        for op in list(graph.operators):
            if model.operatorCodes[op.opcodeIndex].customCode not in names or op.inputs is None or \
                    len(op.inputs) != 3:
                continue
            options = flexbuffers.Loads(bytes(bytearray(op.customOptions)))
            y = int(op.outputs[0])
            if graph.tensors[y].type != schema.TensorType.FLOAT32:
                continue
            channels = int(graph.tensors[y].shape[-1])
            scale, offset, activation, chain, affine = np.ones(channels), np.zeros(channels), None, [], False
            crop, tensor = None, y
            while activation is None:
                readers = consumers.get(tensor, [])
                if tensor in outputs or len(readers) != 1:
                    break
                nxt = readers[0]
                code = builtin.get(_code(model, nxt))
                out = int(nxt.outputs[0])
                if graph.tensors[out].type != schema.TensorType.FLOAT32:
                    break
                if _code(model, nxt) in slices and crop is None and not chain and int(nxt.inputs[0]) == tensor:
                    kept = graph.tensors[out].shape
                    if list(kept[:-1]) != list(graph.tensors[y].shape[:-1]) or int(kept[-1]) > channels:
                        break  # not a crop of leading channels alone
                    crop, tensor = nxt, out
                    continue
                if code in ("MUL", "ADD"):
                    operands = [int(t) for t in nxt.inputs]
                    if len(operands) != 2 or tensor not in operands:
                        break
                    other = constant(graph, operands[1 - operands.index(tensor)])
                    width = int(graph.tensors[tensor].shape[-1])
                    if other is None or other.size not in (1, width) or (other.ndim and other.shape[-1] != other.size):
                        break
                    values = np.zeros(channels) + (1.0 if code == "MUL" else 0.0)
                    values[:width] = np.broadcast_to(other.reshape(-1).astype(np.float64), (width,))
                    if code == "MUL":
                        scale, offset = scale * values, offset * values
                    else:
                        offset = offset + values
                    affine = True
                    act = fused.get(getattr(nxt.builtinOptions, "fusedActivationFunction", 0), "NONE")
                    if act != "NONE" and act not in _FUSED_ACTIVATIONS:
                        break
                    activation = _FUSED_ACTIVATIONS.get(act)
                elif code in _ACTIVATION_OPS:
                    activation = _ACTIVATION_OPS[code]
                else:
                    break
                chain.append(nxt)
                tensor = out
            if not chain:
                continue
            name = (graph.tensors[tensor].name or b"").decode()
            if affine:
                op.inputs = list(op.inputs) + [_float_constant(model, graph, scale, f"{name}/post_scale"),
                                               _float_constant(model, graph, offset, f"{name}/post_offset")]
            if activation is not None:
                options["activation"] = activation
                op.customOptions = list(flexbuffers.Dumps(options))
            if crop is None:
                op.outputs = [tensor]
            else:  # op -> crop -> (folded ops): the crop now writes the last folded op's output
                crop.outputs = [tensor]
            dropped += chain
            folded += len(chain)
        graph.operators = [op for op in graph.operators if not any(op is d for d in dropped)]
    _drop_unused_opcodes(model)
    return _packed(model, len(content)), folded


def _drop_unused_opcodes(model):
    used = sorted({op.opcodeIndex for graph in model.subgraphs for op in graph.operators})
    new_index = {old: new for new, old in enumerate(used)}
    model.operatorCodes = [model.operatorCodes[i] for i in used]
    for graph in model.subgraphs:
        for op in graph.operators:
            op.opcodeIndex = new_index[op.opcodeIndex]


def calibrated_ranges(content):
    """{tensor index: (min, max)} of the main subgraph's tensors that carry a calibrated
    range (a calibrated float model's activations)."""
    graph = schema.ModelT.InitFromPackedBuf(bytearray(content), 0).subgraphs[0]
    return {index: (float(t.quantization.min[0]), float(t.quantization.max[0]))
            for index, t in enumerate(graph.tensors)
            if t.quantization is not None and t.quantization.min is not None and len(t.quantization.min) == 1}


def calibrated_ranges_by_name(content):
    """{tensor name: (min, max)} of the main subgraph's tensors that carry a calibrated range."""
    graph = schema.ModelT.InitFromPackedBuf(bytearray(content), 0).subgraphs[0]
    return {graph.tensors[index].name.decode(): r for index, r in calibrated_ranges(content).items()}


def with_ranges(content, ranges):
    """The calibrated model `content` with the ranges of the main subgraph's tensors set as
    `ranges` says ({tensor index: (min, max)}). Returns the model bytes."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    tensors = model.subgraphs[0].tensors
    for index, (low, high) in ranges.items():
        tensors[index].quantization.min, tensors[index].quantization.max = [float(low)], [float(high)]
    return _packed(model, len(content))


def float_region(content, nodes, codes=()):
    """The names (output tensor names) of the ops to keep in float when quantizing: the
    ops named `nodes`, the custom operators with a code in `codes`, and after them the
    ops that scale and shift by constants (MUL, then optionally ADD) what leaves those,
    where each is the only consumer of its input: a batch norm after a layer it cannot
    fold into."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    graph = model.subgraphs[0]
    ops = [op for op in graph.operators if op.outputs is not None and len(op.outputs)]
    name = lambda op: graph.tensors[int(op.outputs[0])].name.decode()  # noqa: E731
    custom = {code.encode() for code in codes}
    nodes = list(nodes) + [name(op) for op in ops if model.operatorCodes[op.opcodeIndex].customCode in custom]
    produced = {int(t) for op in ops for t in op.outputs} | {int(t) for t in graph.inputs}
    consumers = _consumers(ops)

    def sole_affine(tensor, builtin):
        after = consumers.get(tensor, [])
        if len(after) != 1 or _code(model, after[0]) != builtin:
            return None
        op = after[0]
        operands = [int(t) for t in op.inputs]
        return op if len(operands) == 2 and any(t >= 0 and t not in produced for t in operands) else None

    inside, found = set(nodes), list(nodes)
    for op in ops:
        if name(op) not in inside:
            continue
        for tensor in map(int, op.outputs):
            if not any(name(c) not in inside for c in consumers.get(tensor, [])):
                continue
            scale = sole_affine(tensor, schema.BuiltinOperator.MUL)
            if scale is not None:
                shift = sole_affine(int(scale.outputs[0]), schema.BuiltinOperator.ADD)
                found += [name(scale)] + ([name(shift)] if shift is not None else [])
    return found


def _code(model, op):
    """The builtin operator code of `op` (CUSTOM for custom operators)."""
    oc = model.operatorCodes[op.opcodeIndex]
    return max(oc.builtinCode, oc.deprecatedBuiltinCode)


def _consumers(ops):
    """{tensor index: [the ops among `ops` that read it]}."""
    consumers = {}
    for op in ops:
        for t in op.inputs if op.inputs is not None else []:
            consumers.setdefault(int(t), []).append(op)
    return consumers


def int8_custom_operators(content, codes, ranges=None):
    """Every custom operator with a code in `codes` takes and gives int8 tensors (per
    tensor), in the quantized model `content`, where it can: a float input from a
    DEQUANTIZE reads its int8 source, a float output going only to a QUANTIZE writes its
    int8 target, a float tensor between two such operators becomes int8, and where a float
    tensor must stay (a builtin float op's input or output, a model output) a QUANTIZE or
    DEQUANTIZE is put in. New int8 tensors get an asymmetric grid over `ranges[name]`
    ((min, max) by tensor name, from the calibrated model; None: no new grids, so only an
    operator between a DEQUANTIZE and a QUANTIZE changes, as in a QAT model whose fake
    quants set every grid). An operator meeting a float tensor without a way to int8
    stays float, and so does a lone one between float tensors (int8 would only add
    rounding). DEQUANTIZE and QUANTIZE ops left without readers are dropped. Returns the
    model bytes."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    names = {code.encode() for code in codes}
    ranges = ranges or {}
    Q, DQ = schema.BuiltinOperator.QUANTIZE, schema.BuiltinOperator.DEQUANTIZE

    def twin(graph, index):
        return _int8_twin(graph, index, int8_grid(*ranges[graph.tensors[index].name.decode()]))

    def operator(builtin, version, inputs, outputs):
        return _operator(model, builtin, version, inputs, outputs)

    for graph in model.subgraphs:
        outputs = {int(t) for t in graph.outputs}
        ops = list(graph.operators)
        float_ = lambda t: graph.tensors[t].type == schema.TensorType.FLOAT32  # noqa: E731
        ranged = lambda t: (graph.tensors[t].name or b"").decode() in ranges  # noqa: E731
        producer = {int(t): op for op in ops for t in (op.outputs if op.outputs is not None else [])}
        consumers = _consumers(ops)

        def int8_source(x):
            """The int8 tensor a DEQUANTIZE makes float tensor x from, or None."""
            before = producer.get(x)
            ok = before is not None and _code(model, before) == DQ and _grid(graph.tensors[int(before.inputs[0])])
            return int(before.inputs[0]) if ok else None

        def int8_target(y):
            """The int8 tensor a QUANTIZE, the only reader of float tensor y, makes, or None."""
            after = consumers.get(y, [])
            ok = len(after) == 1 and y not in outputs and _code(model, after[0]) == Q and \
                _grid(graph.tensors[int(after[0].outputs[0])])
            return int(after[0].outputs[0]) if ok else None

        # Custom ops that go int8: those next to an int8 tensor (a DEQUANTIZE before, a QUANTIZE
        # after), then those next to one that goes, with ranges for what they read and write.
        candidates = [op for op in ops if names and model.operatorCodes[op.opcodeIndex].customCode in names
                      and float_(int(op.inputs[0])) and float_(int(op.outputs[0]))
                      and (ranged(int(op.inputs[0])) or int8_source(int(op.inputs[0])) is not None)
                      and (ranged(int(op.outputs[0])) or int8_target(int(op.outputs[0])) is not None)]
        chosen = {id(op) for op in candidates
                  if int8_source(int(op.inputs[0])) is not None or any(
                      _code(model, a) == Q and _grid(graph.tensors[int(a.outputs[0])])
                      for a in consumers.get(int(op.outputs[0]), []))}
        grew = True
        while grew:
            grew = False
            for op in candidates:
                if id(op) in chosen:
                    continue
                before = producer.get(int(op.inputs[0]))
                linked = (before is not None and id(before) in chosen) or any(
                    id(a) in chosen for a in consumers.get(int(op.outputs[0]), []))
                if linked:
                    chosen.add(id(op))
                    grew = True
        # Tensors between two such ops become int8 themselves.
        for index in range(len(graph.tensors)):
            before, after = producer.get(index), consumers.get(index, [])
            if before is not None and id(before) in chosen and after and index not in outputs and \
                    all(id(c) in chosen for c in after) and float_(index):
                graph.tensors[index].quantization = int8_grid(*ranges[graph.tensors[index].name.decode()])
                graph.tensors[index].type = schema.TensorType.INT8
        new_ops, dropped = [], set()
        for op in ops:
            if id(op) not in chosen:
                new_ops.append(op)
                continue
            x, y = int(op.inputs[0]), int(op.outputs[0])
            if float_(x):
                if int8_source(x) is not None:
                    op.inputs[0] = int8_source(x)
                else:
                    q = twin(graph, x)
                    new_ops.append(operator(Q, 1, [x], [q]))
                    op.inputs[0] = q
            new_ops.append(op)
            if float_(y):
                if int8_target(y) is not None:
                    dropped.add(id(consumers[y][0]))
                    op.outputs[0] = int8_target(y)
                else:
                    q = twin(graph, y)
                    op.outputs[0] = q
                    new_ops.append(operator(DQ, 2, [q], [y]))
        new_ops = [op for op in new_ops if id(op) not in dropped]
        read = {int(t) for op in new_ops for t in (op.inputs if op.inputs is not None else [])} | outputs
        graph.operators = [op for op in new_ops if not (_code(model, op) == DQ and int(op.outputs[0]) not in read)]
    _drop_unused_opcodes(model)
    return _packed(model, len(content))


def int8_pass_through(content, ranges):
    """Ops that only move values (CONCATENATION, PAD, RESHAPE, SLICE, STRIDED_SLICE,
    MAX_POOL_2D) left in float after DEQUANTIZEs run on the int8 tensors instead, where all
    their data inputs share one scale and zero point: the output takes that grid, so every
    value passes unchanged (PAD's zeros are the zero point), and a DEQUANTIZE follows them. A float ADD
    of two DEQUANTIZEs (a residual sum the quantizer left in float because its output fed
    a custom op) likewise becomes int8, its output on a grid over `ranges[name]` ((min,
    max) by tensor name). Then a QUANTIZE of a DEQUANTIZE reads the int8 tensor directly.
    Such ops sit between the custom operators (a growing WHT1D's window copies and crop,
    the sum before it). Returns the model bytes."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    B = schema.BuiltinOperator
    # Ops whose int8 kernels take the output's grid from the input (pooling averages or picks
    # values, so its output stays within the input's range): {code: data inputs (None: all)}.
    # (Not AVERAGE_POOL_2D: XNNPACK leaves its int8 kernel to TFLite's, 12x slower than the
    # float pool in ResNet20 at 224x224.)
    moving = {B.CONCATENATION: None, B.PAD: 1, B.RESHAPE: 1, B.SLICE: 1, B.STRIDED_SLICE: 1, B.MAX_POOL_2D: 1}

    def grid(graph, t):
        return _grid(graph.tensors[t])

    for graph in model.subgraphs:
        outputs = {int(t) for t in graph.outputs}
        ops = list(graph.operators)
        changed = True
        while changed:  # each round moves the DEQUANTIZEs one op further
            changed = False
            producer = {int(t): op for op in ops for t in (op.outputs if op.outputs is not None else [])}
            for k, op in enumerate(ops):
                code = _code(model, op)
                y = int(op.outputs[0]) if op.outputs is not None and len(op.outputs) else None
                summing = code == B.ADD and y is not None and (graph.tensors[y].name or b"").decode() in ranges
                if (code not in moving and not summing) or y is None or \
                        graph.tensors[y].type != schema.TensorType.FLOAT32:
                    continue
                data = [0] if moving.get(code, 0) == 1 else list(range(len(op.inputs)))
                before = [producer.get(int(op.inputs[p])) for p in data]
                if any(b is None or _code(model, b) != B.DEQUANTIZE for b in before):
                    continue
                sources = [int(b.inputs[0]) for b in before]
                grids = {grid(graph, t) for t in sources}
                if None in grids or (len(grids) != 1 and not summing):
                    continue
                made = _int8_twin(graph, y, int8_grid(*ranges[graph.tensors[y].name.decode()]) if summing
                                  else _same_grid(graph.tensors[sources[0]]))
                for p, t in zip(data, sources):
                    op.inputs[p] = t
                op.outputs[0] = made
                ops.insert(k + 1, _operator(model, B.DEQUANTIZE, 2, [made], [y]))
                changed = True
                break
        # QUANTIZE(DEQUANTIZE(a)): its readers read a, where they take any grid; the ops
        # that move values need their input's grid to be their output's, so for them the
        # QUANTIZE requantizes a (int8 to int8) instead.
        producer = {int(t): op for op in ops for t in (op.outputs if op.outputs is not None else [])}
        consumers = _consumers(ops)
        renamed = {}
        for op in ops:
            if _code(model, op) != B.QUANTIZE or int(op.outputs[0]) in outputs:
                continue
            before = producer.get(int(op.inputs[0]))
            if before is None or _code(model, before) != B.DEQUANTIZE:
                continue
            a, b = int(before.inputs[0]), int(op.outputs[0])
            if not (grid(graph, a) and grid(graph, b)):
                continue
            if grid(graph, a) == grid(graph, b) or not any(_code(model, c) in moving for c in consumers.get(b, [])):
                renamed[b] = a
            else:
                op.inputs = [a]
        for op in ops:
            if op.inputs is not None:
                op.inputs = [renamed.get(int(t), int(t)) for t in op.inputs]
        # Drop the QUANTIZE and DEQUANTIZE ops nothing reads any more.
        while True:
            read = {int(t) for op in ops for t in (op.inputs if op.inputs is not None else [])} | outputs
            unread = [op for op in ops if _code(model, op) in (B.QUANTIZE, B.DEQUANTIZE)
                      and int(op.outputs[0]) not in read]
            if not unread:
                break
            ops = [op for op in ops if not any(op is u for u in unread)]
        graph.operators = ops
    _drop_unused_opcodes(model)
    return _packed(model, len(content))


def _operator(model, builtin, version, inputs, outputs):
    """A new builtin operator (OperatorT) of `model` with these inputs and outputs."""
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = _opcode(model, builtin, version), inputs, outputs
    return op


def _opcode(model, builtin, version):
    """The index of builtin operator `builtin`'s code in `model`, added if missing."""
    for index, oc in enumerate(model.operatorCodes):
        if max(oc.builtinCode, oc.deprecatedBuiltinCode) == builtin:
            return index
    oc = schema.OperatorCodeT()
    oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = builtin, min(builtin, 127), version
    model.operatorCodes.append(oc)
    return len(model.operatorCodes) - 1


# LiteRT's CompiledModel hands a custom op its constant inputs as tensor buffers over the
# model's own memory, and refuses memory that is not 64-byte aligned ("Unaligned host memory
# pointer"; LITERT_HOST_MEMORY_BUFFER_ALIGNMENT), where TFLite's converter aligns constants
# to 16 bytes and the schema's object API to 1. So every constant is written at a multiple
# of 64 bytes from the model's start.
BUFFER_ALIGNMENT = 64


class _AlignedBuffer(schema.BufferT):
    """A BufferT whose data the builder places at a multiple of BUFFER_ALIGNMENT."""

    def Pack(self, builder):  # noqa: N802 (the object API's name)
        import numpy as np

        if self.data is not None:
            self.data = np.asarray(self.data, dtype=np.uint8)  # packed in one piece
            # Pads so that the data, once written, starts at a multiple of the alignment
            # from the buffer's end; Finish then makes the size a multiple of it too.
            builder.Prep(BUFFER_ALIGNMENT, self.data.size)
        return super().Pack(builder)


def _packed(model, size):
    """The bytes of a ModelT (object API), with TFLite's file identifier and every
    constant 64-byte aligned."""
    import flatbuffers

    for k, buffer in enumerate(model.buffers or []):
        if type(buffer) is not _AlignedBuffer:
            aligned = _AlignedBuffer()
            aligned.__dict__.update(buffer.__dict__)
            model.buffers[k] = aligned
    builder = flatbuffers.Builder(size + 1024)
    builder.Finish(model.Pack(builder), file_identifier=IDENTIFIER)
    return bytes(builder.Output())


def aligned_constants(content):
    """The model with every constant at a multiple of 64 bytes (BUFFER_ALIGNMENT), as
    LiteRT's CompiledModel needs for the constant inputs of custom ops."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    return _packed(model, len(content))


def io_order(content, input_names=None, output_names=None):
    """The model with subgraph 0's inputs and outputs in the order of the signature
    names given (the Keras model's order), its signature def's entries in that order too.

    TensorFlow's converter orders a multi-input model's input tensors as its graph
    happens to list them, not as the Keras model does; the signature def maps each name
    to its tensor. A side whose names are None, or are not exactly the signature's names
    on that side, keeps its order. Returns (model bytes, inputs reordered, outputs
    reordered), the flags True when that side now follows the names given.
    """
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    graph = model.subgraphs[0]
    signatures = [s for s in model.signatureDefs or [] if s.subgraphIndex == 0]
    if len(signatures) != 1:
        return content, False, False
    signature = signatures[0]

    def ordered(entries, tensors, names):
        """(entries, tensors) in the order of `names`, or None when they do not match."""
        entries = list(entries or [])
        by_name = {e.name.decode() if isinstance(e.name, bytes) else e.name: e for e in entries}
        if names is None or len(by_name) != len(entries) or sorted(by_name) != sorted(names):
            return None
        current = [int(t) for t in tensors]
        wanted = [int(by_name[n].tensorIndex) for n in names]
        if sorted(wanted) != sorted(current):
            return None
        return [by_name[n] for n in names], wanted

    done = []
    for side, names in (("inputs", input_names), ("outputs", output_names)):
        found = ordered(getattr(signature, side), getattr(graph, side), names)
        if found is not None:
            setattr(signature, side, found[0])
            setattr(graph, side, found[1])
        done.append(found is not None)
    return (_packed(model, len(content)), *done)


def rename_inputs(content, names):
    """The model with subgraph 0's signature inputs renamed by `names` ({old: new}), and
    each input tensor named "serving_default_<old>:0" renamed to match. Returns bytes."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    graph = model.subgraphs[0]
    renamed = False
    for signature in model.signatureDefs or []:
        if signature.subgraphIndex != 0:
            continue
        for entry in signature.inputs or []:
            old = entry.name.decode() if isinstance(entry.name, bytes) else entry.name
            if old not in names or names[old] == old:
                continue
            entry.name = names[old].encode()
            tensor = graph.tensors[int(entry.tensorIndex)]
            if tensor.name == f"serving_default_{old}:0".encode():
                tensor.name = f"serving_default_{names[old]}:0".encode()
            renamed = True
    return _packed(model, len(content)) if renamed else content


def quantize_before_selection(content, codes):
    """Where a custom operator with a code in `codes` gives a float tensor that only a
    STRIDED_SLICE, SLICE or RESHAPE reads, and only a QUANTIZE (to per-tensor int8) reads
    that op's output, the QUANTIZE moves before the selection, with the same scale and
    zero point, so the selection runs in int8 and the custom operator meets a QUANTIZE
    (see `int8_custom_operators`). Exact: those ops pass values through unchanged, and a
    value they drop cannot be clipped. Returns the model bytes.

    A QAT model needs this where a WHT layer crops its output channels after its core:
    the fake quant QAT learnt sits after the crop, so the converter leaves the crop float."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    names = {code.encode() for code in codes}
    selections = {schema.BuiltinOperator.STRIDED_SLICE, schema.BuiltinOperator.SLICE, schema.BuiltinOperator.RESHAPE}
    code = lambda op: _code(model, op)  # noqa: E731

    for graph in model.subgraphs:
        ops = list(graph.operators)
        consumers = _consumers(ops)
        outputs = {int(t) for t in graph.outputs}
        moves = []
        for op in ops:
            if model.operatorCodes[op.opcodeIndex].customCode not in names:
                continue
            y = int(op.outputs[0])
            selection = consumers.get(y, [])
            if len(selection) != 1 or y in outputs or code(selection[0]) not in selections or \
                    int(selection[0].inputs[0]) != y:
                continue
            selection = selection[0]
            z = int(selection.outputs[0])
            quantize = consumers.get(z, [])
            if len(quantize) != 1 or z in outputs or code(quantize[0]) != schema.BuiltinOperator.QUANTIZE:
                continue
            quantize, out = quantize[0], int(quantize[0].outputs[0])
            target = graph.tensors[out]
            q = target.quantization
            if graph.tensors[y].type != schema.TensorType.FLOAT32 or target.type != schema.TensorType.INT8 or \
                    q is None or q.scale is None or len(q.scale) != 1:
                continue
            made = _int8_twin(graph, y, _same_grid(target))
            quantize.inputs, quantize.outputs = [y], [made]
            selection.inputs[0], selection.outputs[0] = made, out
            moves.append((quantize, selection))
        for quantize, selection in moves:  # the QUANTIZE now runs just before the selection
            ops.remove(quantize)
            ops.insert(next(k for k, op in enumerate(ops) if op is selection), quantize)
        graph.operators = ops
    return _packed(model, len(content))
