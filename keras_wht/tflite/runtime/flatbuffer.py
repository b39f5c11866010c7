"""Reading a .tflite flatbuffer: its file identifier, operators and interface.

This is the device side: it reads with `tflite` (TFLite's flatbuffer schema as Python,
from PyPI), never with TensorFlow's copy of the schema, so running a model imports no
TensorFlow. Edits made while converting live in `keras_wht.tflite.rewrite`.
"""

import tflite as schema

IDENTIFIER = b"TFL3"


def is_tflite(content):
    """True when `content` (bytes) carries the TFLite flatbuffer file identifier."""
    return len(content) >= 8 and bytes(content[4:8]) == IDENTIFIER


def _model(content):
    return schema.Model.GetRootAsModel(bytearray(content), 0)


def _builtin_code(code):
    # Codes below 127 are kept in the deprecated byte field too; newer ones only in the int.
    return max(code.BuiltinCode(), code.DeprecatedBuiltinCode())


def operators(content):
    """The operator of each node in subgraph order: builtin names ("CONV_2D") or, for
    custom operators, their custom code."""
    return [name for name, _ in _operators(content)]


def custom_operators(content):
    """The custom code of each custom operator node, in subgraph order."""
    return [name for name, custom in _operators(content) if custom]


def _operators(content):
    model = _model(content)
    builtin = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        number = _builtin_code(code)
        name = builtin.get(number, str(number))
        codes.append((code.CustomCode().decode(), True) if name == "CUSTOM" else (name, False))
    used = []
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        used += [codes[graph.Operators(o).OpcodeIndex()] for o in range(graph.OperatorsLength())]
    return used


def tensor_names(content):
    """The names of the tensors the operators write, in subgraph order."""
    model = _model(content)
    names = []
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        for o in range(graph.OperatorsLength()):
            op = graph.Operators(o)
            names += [graph.Tensors(op.Outputs(i)).Name().decode() for i in range(op.OutputsLength())]
    return names


def quantized_inputs(content):
    """{input tensor index: index of the QUANTIZE op's output} for float model inputs that
    the model quantizes itself (int8 models with float inputs)."""
    return _boundary(content, "QUANTIZE", inputs=True)


def dequantized_outputs(content):
    """{output tensor index: index of the DEQUANTIZE op's input} for float model outputs
    that the model dequantizes itself (int8 models with float outputs)."""
    return _boundary(content, "DEQUANTIZE", inputs=False)


def _boundary(content, operator, *, inputs):
    model = _model(content)
    graph = model.Subgraphs(0)
    ends = (
        {graph.Inputs(i) for i in range(graph.InputsLength())}
        if inputs
        else {graph.Outputs(i) for i in range(graph.OutputsLength())}
    )
    wanted = getattr(schema.BuiltinOperator, operator)
    found = {}
    for o in range(graph.OperatorsLength()):
        op = graph.Operators(o)
        code = model.OperatorCodes(op.OpcodeIndex())
        if _builtin_code(code) != wanted or not op.InputsLength():
            continue
        if inputs and op.Inputs(0) in ends:
            found[op.Inputs(0)] = op.Outputs(0)
        elif not inputs and op.Outputs(0) in ends:
            found[op.Outputs(0)] = op.Inputs(0)
    return found


def signature_inputs(content):
    """[{input name: tensor index}] of each signature def over the main subgraph, in the
    model's order (the converter names inputs after the Keras model's)."""
    model = _model(content)
    found = []
    for s in range(model.SignatureDefsLength()):
        signature = model.SignatureDefs(s)
        if signature.SubgraphIndex() != 0:
            continue
        entries = (signature.Inputs(i) for i in range(signature.InputsLength()))
        found.append({entry.Name().decode(): entry.TensorIndex() for entry in entries})
    return found


def same_padding_below_zero(content):
    """The CONV_2D and DEPTHWISE_CONV_2D operators with a kernel over 1x1 and "same"
    padding whose stride outruns the kernel so far that the padding TensorFlow computes
    is negative (a 3x3 kernel, stride 4, on 32x32), as "operator k (NAME)" strings.
    tflite_runtime 2.14's XNNPACK computes them wrong (1x1 kernels right)."""
    model = _model(content)
    graph = model.Subgraphs(0)
    options_of = {schema.BuiltinOperator.CONV_2D: schema.Conv2DOptions,
                  schema.BuiltinOperator.DEPTHWISE_CONV_2D: schema.DepthwiseConv2DOptions}
    names = {schema.BuiltinOperator.CONV_2D: "CONV_2D", schema.BuiltinOperator.DEPTHWISE_CONV_2D: "DEPTHWISE_CONV_2D"}
    found = []
    for o in range(graph.OperatorsLength()):
        op = graph.Operators(o)
        code = _builtin_code(model.OperatorCodes(op.OpcodeIndex()))
        table = op.BuiltinOptions()
        if code not in options_of or table is None or op.InputsLength() < 2:
            continue
        options = options_of[code]()
        options.Init(table.Bytes, table.Pos)
        if options.Padding() != schema.Padding.SAME:
            continue
        image = graph.Tensors(op.Inputs(0)).ShapeAsNumpy()
        kernel = graph.Tensors(op.Inputs(1)).ShapeAsNumpy()
        if len(image) != 4 or len(kernel) != 4:
            continue
        for size, k, stride, dilation in ((image[1], kernel[1], options.StrideH(), options.DilationHFactor()),
                                          (image[2], kernel[2], options.StrideW(), options.DilationWFactor())):
            out = -(-int(size) // max(stride, 1))
            reach = (int(k) - 1) * max(dilation, 1)
            if reach > 0 and (out - 1) * stride + reach + 1 < size:
                found.append(f"operator {o} ({names[code]})")
                break
    return found
