"""Damaged and hostile .tflite files: integrity.check names what is wrong, and
Interpreter raises ValueError for them instead of crashing the process."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from keras_wht import tflite
from keras_wht._keras import keras
from keras_wht.layers import WHT1D, WHT2D
from keras_wht.tflite.conversion import rewrite
from keras_wht.tflite.runtime import custom_ops, integrity
from tests.tflite import mutant_runner

schema = rewrite.schema
ROOT = Path(__file__).resolve().parents[2]
# The subprocess imports no TensorFlow, so tf.lite is not among its runtimes.
RUNTIMES = [r for r in tflite.runtimes() if r not in ("tensorflow", "tflite_runtime")]
MUTANTS_PER_MODEL = 120


def _network():
    # The cropping gives the graph a STRIDED_SLICE that cuts for real (an 8x8 WHT2D crops
    # nothing, so it has none); the operator indices the tests name come before it.
    return keras.Sequential([
        keras.Input((8, 8, 4)), keras.layers.Conv2D(8, 3, padding="same"), WHT2D(),
        keras.layers.Cropping2D(1), keras.layers.DepthwiseConv2D(3), keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3),
    ])


@pytest.fixture(scope="module")
def models():
    """Small models of each kind convert makes: {name: bytes}."""
    keras.utils.set_random_seed(7)
    network = _network()
    data = np.random.default_rng(7).standard_normal((16, 8, 8, 4)).astype(np.float32)
    made = {"float": tflite.convert(network),
            "int8": tflite.convert(network, quantize="int8", representative_data=data)}
    if custom_ops.available():
        made["custom"] = tflite.convert(network, custom_ops=True)
        made["int8_custom"] = tflite.convert(network, custom_ops=True, quantize="int8",
                                             representative_data=data)
    return made


def _edited(content, edit):
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    edit(model)
    return rewrite._packed(model, len(content))


def _find(model, predicate):
    graph = model.subgraphs[0]
    return next(i for i, t in enumerate(graph.tensors) if predicate(t))


def _int8_tensor(model):
    index = _find(model, lambda t: t.type == schema.TensorType.INT8 and t.quantization is not None
                  and t.quantization.scale is not None)
    return model.subgraphs[0].tensors[index]


def _constant(model):
    index = _find(model, lambda t: t.buffer and model.buffers[t.buffer].data is not None and
                  len(model.buffers[t.buffer].data) > 4 and t.type == schema.TensorType.FLOAT32)
    return index, model.subgraphs[0].tensors[index]


def _rejected(content, match):
    with pytest.raises(ValueError, match=match):
        integrity.check(content, "`model_content`")


# --- what check names --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["float", "int8", "custom", "int8_custom"])
def test_healthy_models_pass(models, name):
    if name not in models:
        pytest.skip("keras-wht's kernel library is not built")
    integrity.check(models[name], "`model_content`")


def test_a_truncated_file(models):
    content = models["float"]
    _rejected(content[:12], r"^`model_content` is damaged: the file is 12 bytes, too short")
    for size in (len(content) // 2, len(content) - 3, 40):
        with pytest.raises(ValueError, match="^`model_content` is damaged: .*(outside|past the end)"):
            integrity.check(content[:size], "`model_content`")


def test_no_file_identifier_and_a_root_outside_the_file(models):
    content = bytearray(models["float"])
    _rejected(bytes(content[:4]) + b"XXXX" + bytes(content[8:]), "no TFLite file identifier")
    content[0:4] = (len(content) + 100).to_bytes(4, "little")
    _rejected(bytes(content), "root table offset .* lies outside the file")


def test_a_zero_point_out_of_range(models):
    def edit(model):
        tensor = _int8_tensor(model)
        tensor.quantization.zeroPoint = [-47877] * len(tensor.quantization.zeroPoint)

    _rejected(_edited(models["int8"], edit),
              r"tensor \d+ \('.*'\) has int8 zero point -47877, outside \[-128, 127\]\.$")


@pytest.mark.parametrize("scale, word", [(-0.5, "-0.5"), (0.0, "0.0"), (float("nan"), "nan"),
                                         (float("inf"), "inf"), (3e-45, "2.8[0-9]*e-45")])
def test_a_scale_that_is_not_positive_and_finite(models, scale, word):
    def edit(model):
        tensor = _int8_tensor(model)
        tensor.quantization.scale = [scale] * len(tensor.quantization.scale)

    _rejected(_edited(models["int8"], edit), f"has quantization scale {word}; scales must be finite and")


def test_per_channel_quantization_that_does_not_fit_the_shape(models):
    def channel_count(model):
        tensor = next(t for t in model.subgraphs[0].tensors if t.quantization is not None and
                      t.quantization.scale is not None and len(t.quantization.scale) > 1)
        tensor.quantization.scale = list(tensor.quantization.scale) + [0.1]
        tensor.quantization.zeroPoint = list(tensor.quantization.zeroPoint) + [0]

    def dimension(model):
        tensor = next(t for t in model.subgraphs[0].tensors if t.quantization is not None and
                      t.quantization.scale is not None and len(t.quantization.scale) > 1)
        tensor.quantization.quantizedDimension = 7

    def counts(model):
        tensor = _int8_tensor(model)
        tensor.quantization.zeroPoint = list(tensor.quantization.zeroPoint) * 2

    _rejected(_edited(models["int8"], channel_count),
              r"has \d+ quantization scales for the \d+ channels of dimension")
    _rejected(_edited(models["int8"], dimension), "is quantized per channel along dimension 7, but has shape")
    _rejected(_edited(models["int8"], counts), r"has (\d+) quantization scales but \d+ zero points")


def test_tensor_indices_out_of_range(models):
    def operator_input(model):
        model.subgraphs[0].operators[0].inputs[0] = len(model.subgraphs[0].tensors) + 5

    def model_output(model):
        model.subgraphs[0].outputs[0] = -2

    def signature(model):
        model.signatureDefs[0].outputs[0].tensorIndex = 10_000

    n = "refer to tensor {}; the subgraph has \\d+ tensors"
    _rejected(_edited(models["float"], operator_input),
              r"operator 0 \(CONV_2D\)'s inputs \[\d+, .*\] " + n.format(r"\d+"))
    _rejected(_edited(models["float"], model_output), "the model's outputs \\[-2\\] " + n.format(-2))
    _rejected(_edited(models["float"], signature),
              r"signature 0 \('serving_default'\) output '.*' refers to tensor 10000")


def _operator(model, name):
    code = getattr(schema.BuiltinOperator, name)
    return next(o for o in model.subgraphs[0].operators
                if max(model.operatorCodes[o.opcodeIndex].builtinCode,
                       model.operatorCodes[o.opcodeIndex].deprecatedBuiltinCode) == code)


@pytest.mark.parametrize("name, position", [("CONV_2D", 1), ("CONV_2D", 2), ("STRIDED_SLICE", 3)])
def test_a_required_input_left_out(models, name, position):
    def edit(model):
        _operator(model, name).inputs[position] = -1

    _rejected(_edited(models["float"], edit),
              rf"operator \d+ \({name}\) has no tensor \(-1\) as its input {position}, which it needs")


def test_an_optional_input_left_out_passes(models):
    def edit(model):
        _operator(model, "FULLY_CONNECTED").inputs[2] = -1  # the bias

    integrity.check(_edited(models["float"], edit), "`model_content`")


def test_a_shape_that_is_not_integers(models):
    # tflite_runtime 2.14 aborted the process on a RESHAPE whose shape was the float input.
    def edit(model):
        _operator(model, "RESHAPE").inputs[1] = int(model.subgraphs[0].inputs[0])

    _rejected(_edited(models["float"], edit), r"operator \d+ \(RESHAPE\) takes tensor \d+ \('serving_default_.*'\) "
              r"of float32 as its input 1, which must hold integer indices, sizes or axes")


def _slice_bounds(model):
    """The STRIDED_SLICE with an unmasked last axis, its begin and end arrays (own copies)."""
    graph = model.subgraphs[0]
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.STRIDED_SLICE and \
                not op.builtinOptions.beginMask >> 3 & 1:
            arrays = []
            for position in (1, 2):
                tensor = graph.tensors[op.inputs[position]]
                values = np.frombuffer(bytes(model.buffers[tensor.buffer].data), "<i4").copy()
                buffer = schema.BufferT()
                model.buffers.append(buffer)
                copy = schema.TensorT()
                copy.shape, copy.type, copy.buffer, copy.name = tensor.shape, tensor.type, len(model.buffers) - 1, b"c"
                graph.tensors.append(copy)
                op.inputs[position] = len(graph.tensors) - 1
                arrays.append((buffer, values))
            return arrays
    raise AssertionError("no STRIDED_SLICE slices the last axis")


@pytest.mark.parametrize("which, value, match", [
    (0, -1000, r"has begin -1000 on axis 3 of tensor \d+ \('.*'\), outside \[-\d+, \d+\]"),
    (1, 1000, r"has end 1000 on axis 3 of tensor \d+ \('.*'\), outside \[-\d+, \d+\]"),
    (1, 0, r"slices tensor \d+ \('.*'\) of shape \[.*\] to shape \[.*, 0\] by its constant begin .* but its "
           r"output has shape"),
])
def test_a_slice_that_does_not_fit(models, which, value, match):
    # tflite_runtime 2.14 aborted the process on each (TensorFlow clamps the first two).
    def edit(model):
        arrays = _slice_bounds(model)
        for k, (buffer, values) in enumerate(arrays):
            if k == which:
                values[3] = value
            buffer.data = np.frombuffer(values.astype("<i4").tobytes(), np.uint8)

    grow = keras.Sequential([keras.Input((4, 4, 16)), WHT1D(40, block_size=8)])  # windows of 8 at offsets 0-8
    _rejected(_edited(tflite.convert(grow), edit), r"operator \d+ \(STRIDED_SLICE\) " + match)


def test_names_that_run_past_the_file(models):
    content = bytearray(models["float"])
    at = content.index(b"CONVERSION_METADATA") - 4  # the metadata name's length
    content[at + 2] = 0x95
    _rejected(bytes(content), r"metadata \d+'s name runs past the end of the file")


@pytest.mark.parametrize("name, needed",
                         [("BATCH_MATMUL", 2), ("DEPTHWISE_CONV_2D", 3), ("STRIDED_SLICE", 4)])
def test_too_few_inputs(models, name, needed):
    def edit(model):
        op = _operator(model, name)
        op.inputs = op.inputs[:needed - 1]

    _rejected(_edited(models["float"], edit),
              rf"operator \d+ \({name}\) has {needed - 1} input\(s\); it needs at least {needed}")


def test_an_opcode_index_out_of_range(models):
    def edit(model):
        model.subgraphs[0].operators[1].opcodeIndex = 99

    _rejected(_edited(models["float"], edit), r"operator 1 has operator code 99; the model has \d+")


def test_an_unknown_or_negative_builtin_operator(models):
    def unknown(model):
        model.operatorCodes[0].builtinCode, model.operatorCodes[0].deprecatedBuiltinCode = 4000, 127

    def disagree(model):
        model.operatorCodes[0].builtinCode = 49

    def negative(model):
        model.operatorCodes[0].deprecatedBuiltinCode = -3

    _rejected(_edited(models["float"], unknown),
              "operator code 0 has builtin operator 4000, unknown to the tflite")
    _rejected(_edited(models["float"], negative), r"operator code 0 has a negative builtin operator \(-3\)")
    _rejected(_edited(models["float"], disagree),
              r"operator code 0 has builtin operator 49 but deprecated builtin operator \d+, which disagree")


def test_options_of_another_operator(models):
    def edit(model):
        code = model.operatorCodes[_operator(model, "STRIDED_SLICE").opcodeIndex]
        code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.SPLIT

    _rejected(_edited(models["float"], edit),
              r"operator \d+ \(SPLIT\) has StridedSliceOptions; it takes SplitOptions")


def test_a_tensor_read_before_it_is_written(models):
    def edit(model):
        ops = model.subgraphs[0].operators
        ops[1].inputs[0] = ops[-1].outputs[0]

    _rejected(_edited(models["float"], edit),
              r"operator 1 \(RESHAPE\) reads .* before operator \d+ \(FULLY_CONNECTED\) writes")


def test_a_custom_code_that_is_not_text(models):
    if "custom" not in models:
        pytest.skip("keras-wht's kernel library is not built")

    def edit(model):
        code = next(c for c in model.operatorCodes if c.customCode)
        code.customCode = b"Keras\xff\xfeWht"

    _rejected(_edited(models["custom"], edit), r"operator code \d+'s custom code is not UTF-8 text")


def test_a_buffer_too_short_for_the_shape(models):
    def edit(model):
        _, tensor = _constant(model)
        model.buffers[tensor.buffer].data = model.buffers[tensor.buffer].data[:-4]

    _rejected(_edited(models["float"], edit),
              r"tensor \d+ \('.*'\) has shape \[.*\] of float32, \d+ bytes, but its buffer \d+ holds \d+")


def test_tensor_fields_out_of_range(models):
    def buffer(model):
        _constant(model)[1].buffer = 5000

    def kind(model):
        _constant(model)[1].type = 99

    def shape(model):
        _constant(model)[1].shape = [3, -2]

    def signature(model):
        model.subgraphs[0].tensors[model.subgraphs[0].inputs[0]].shape[2] = 12345

    _rejected(_edited(models["float"], buffer), r"refers to buffer 5000; the model has \d+ buffers")
    _rejected(_edited(models["float"], kind), "has unknown type 99")
    _rejected(_edited(models["float"], shape), r"has a negative dimension in its shape \[3, -2\]")
    _rejected(_edited(models["float"], signature), r"has shape \[1, 8, 12345, 4\], which its shape signature "
                                                   r"\[-1, 8, 8, 4\] does not allow")


def test_a_constant_without_its_data(models):
    def edit(model):
        _constant(model)[1].buffer = 0

    _rejected(_edited(models["float"], edit),
              r"operator \d+ \(.*\) reads tensor \d+ \('.*'\), which never gets a value")


def test_a_signature_or_metadata_out_of_range(models):
    def subgraph(model):
        model.signatureDefs[0].subgraphIndex = 3

    def metadata(model):
        model.metadata[0].buffer = 7777

    def version(model):
        model.version = 4

    _rejected(_edited(models["float"], subgraph),
              r"signature 0 \('serving_default'\) refers to subgraph 3; the model has 1")
    _rejected(_edited(models["float"], metadata), r"metadata 0 refers to buffer 7777")
    _rejected(_edited(models["float"], version), "it has schema version 4; TFLite runtimes read version 3")


def test_the_interpreter_names_the_file(models, tmp_path):
    def edit(model):
        tensor = _int8_tensor(model)
        tensor.quantization.zeroPoint = [-47877] * len(tensor.quantization.zeroPoint)

    path = tmp_path / "m.tflite"
    path.write_bytes(_edited(models["int8"], edit))
    with pytest.raises(ValueError, match=rf"^`model_path` '{path}' is damaged: tensor \d+ .* point -47877"):
        tflite.Interpreter(model_path=path)
    with pytest.raises(ValueError, match=r"^`model_content` is damaged: tensor \d+ .* zero point -47877"):
        tflite.Interpreter(model_content=path.read_bytes())


def test_every_type_operator_and_option_of_the_runtimes_schema_is_known():
    # The tflite package's schema (2.18) is older than the runtimes'; integrity lists what
    # came after, so a model that uses it is not refused as damaged.
    runtime_schema = pytest.importorskip("ai_edge_litert.schema_py_generated")

    def values(enum):
        return {value for name, value in vars(enum).items() if not name.startswith("_")}

    assert values(runtime_schema.TensorType) <= set(integrity._TYPES)
    assert values(runtime_schema.BuiltinOperator) <= integrity._BUILTINS
    assert values(runtime_schema.BuiltinOptions) <= integrity._OPTIONS
    assert values(runtime_schema.BuiltinOptions2) <= integrity._OPTIONS2
    for value, name in integrity._NEWER_TYPES.items():
        assert getattr(runtime_schema.TensorType, name.upper()) == value


def test_check_imports_no_tensorflow():
    script = ("import sys; from keras_wht.tflite.runtime import integrity, interpreter; "
              "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=120).returncode == 0


# --- fuzzing: mutants run in a process of their own, which a crash would kill ------------


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("name", ["float", "custom", "int8", "int8_custom"])
def test_mutants_raise_value_error_or_run(models, name, runtime, tmp_path):
    if name not in models:
        pytest.skip("keras-wht's kernel library is not built")
    seed = ["float", "custom", "int8", "int8_custom"].index(name)
    folder = tmp_path / name
    folder.mkdir()
    for label, data in mutant_runner.mutants(models[name], MUTANTS_PER_MODEL, np.random.default_rng(seed)):
        (folder / f"{name}-{label}.tflite").write_bytes(data)
    outcomes = mutant_runner.run(folder, runtime)
    assert len(outcomes) == MUTANTS_PER_MODEL
    unexpected = {f: o for f, o in outcomes.items() if not o.startswith(("ok", "ValueError: "))}
    assert not unexpected
    assert sum(o.startswith("ValueError: ") for o in outcomes.values()) > MUTANTS_PER_MODEL // 2


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_zero_point_that_crashed_xnnpack(models, runtime, tmp_path):
    # A zero point of -47877 on an int8 tensor made XNNPACK segfault at allocate_tensors().
    def edit(model):
        tensor = _int8_tensor(model)
        tensor.quantization.zeroPoint = [-47877] * len(tensor.quantization.zeroPoint)

    folder = tmp_path / "zero_point"
    folder.mkdir()
    (folder / "m.tflite").write_bytes(_edited(models["int8"], edit))
    (folder / "n.tflite").write_bytes(models["int8"])
    outcome = mutant_runner.run(folder, runtime)
    assert "is damaged: tensor" in outcome["m.tflite"] and "int8 zero point -47877, outside [-128, 127]" in \
        outcome["m.tflite"]
    assert outcome["m.tflite"].startswith("ValueError: ") and outcome["n.tflite"] == "ok"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_what_crashed_the_runtime_before(models, runtime, tmp_path):
    # What the fuzzing found crashing ai_edge_litert 2.3 (XNNPACK) when it passed the checks
    # of the time; each now raises ValueError before the runtime sees it.
    def zero_point(model):
        tensor = _int8_tensor(model)
        tensor.quantization.zeroPoint = [-47877] * len(tensor.quantization.zeroPoint)

    def left_out(name, position):
        def edit(model):
            _operator(model, name).inputs[position] = -1
        return edit

    def too_few(name, count):
        def edit(model):
            op = _operator(model, name)
            op.inputs = op.inputs[:count]
        return edit

    def read_early(model):
        ops = model.subgraphs[0].operators
        ops[9].inputs[0] = ops[13].outputs[0]

    def codes_disagree(model):
        model.operatorCodes[_operator(model, "STRIDED_SLICE").opcodeIndex].builtinCode = 49

    def huge_input(model):  # beyond its shape signature: memory runs out downstream
        model.subgraphs[0].tensors[model.subgraphs[0].inputs[0]].shape[2] = 11272200

    cases = {
        "zero_point": ("int8", zero_point, "int8 zero point -47877, outside [-128, 127]"),
        "strides_left_out": ("float", left_out("STRIDED_SLICE", 3), "has no tensor (-1) as its input 3"),
        "weights_left_out": ("int8", left_out("FULLY_CONNECTED", 1), "has no tensor (-1) as its input 1"),
        "matmul_one_input": ("float", too_few("BATCH_MATMUL", 1), "has 1 input(s); it needs at least 2"),
        "depthwise_no_bias": ("float", too_few("DEPTHWISE_CONV_2D", 2), "2 input(s); it needs at least 3"),
        "read_early": ("float", read_early, "before operator 13 (BATCH_MATMUL) writes it"),
        "codes_disagree": ("int8", codes_disagree, "builtin operator 49 but deprecated builtin operator 45"),
        "huge_input": ("float", huge_input, "which its shape signature [-1, 8, 8, 4] does not allow"),
    }
    folder = tmp_path / "crashes"
    folder.mkdir()
    for label, (name, edit, _) in cases.items():
        (folder / f"{label}.tflite").write_bytes(_edited(models[name], edit))
    outcome = mutant_runner.run(folder, runtime)
    for label, (_, _, message) in cases.items():
        got = outcome[f"{label}.tflite"]
        assert got.startswith("ValueError: ") and "is damaged: " in got and message in got, label
