"""Reading a .tflite flatbuffer: its file identifier and the operators it uses."""

IDENTIFIER = b"TFL3"


def is_tflite(content):
    """True when `content` (bytes) carries the TFLite flatbuffer file identifier."""
    return len(content) >= 8 and bytes(content[4:8]) == IDENTIFIER


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        from tensorflow.lite.python import schema_py_generated as schema
    return schema


def operators(content):
    """The operator of each node in subgraph order: builtin names ("CONV_2D") or, for
    custom operators, their custom code."""
    schema = _schema()
    model = schema.Model.GetRootAsModel(bytearray(content), 0)
    builtin = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        number = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = builtin.get(number, str(number))
        codes.append(code.CustomCode().decode() if name == "CUSTOM" else name)
    used = []
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        used += [codes[graph.Operators(o).OpcodeIndex()] for o in range(graph.OperatorsLength())]
    return used
