"""The batch norm and activation after a WHT layer fold into its custom op (the op's
post_scale and post_offset inputs and its `activation` option), in float32 and int8, and
in int8 the ops, and the window copies and crops between them, read and write int8."""

import numpy as np
import pytest
from flatbuffers import flexbuffers

from keras_wht import tflite
from keras_wht._keras import keras
from keras_wht.layers import WHT1D, WHT2D
from keras_wht.tflite import contract
from keras_wht.tflite.conversion import rewrite
from keras_wht.tflite.verification import sqnr_db
from tests.layers.helpers import randomize

schema = rewrite.schema
L = keras.layers


def _norm(name, rng, channels):
    """A batch norm with statistics far from 0 and 1 (set once the layer is built)."""
    norm = L.BatchNormalization(name=name)
    norm.build((None, None, None, channels))
    norm.set_weights([rng.uniform(0.5, 2, channels), rng.normal(0, 0.5, channels), rng.normal(0, 0.3, channels),
                      rng.uniform(0.2, 4, channels)])
    return norm


def _network(rng):
    """A convolution (int8 in an int8 model, as a network's stem is), then every kind of
    fold: a residual WHT2D with batch norm and ReLU6, a growing WHT1D
    (its window copies before the op, its crop after) with batch norm and hard-swish, a
    narrowing WHT1D with batch norm and ReLU, a WHT2D with an activation alone, and a
    WHT2D with a batch norm alone whose output is the model's second output."""
    inputs = keras.Input((12, 12, 16))
    x = L.Conv2D(16, 1, name="stem")(inputs)
    layers = [WHT2D(residual=True, name="w2d_residual"), WHT1D(24, name="w1d_grow"), WHT1D(8, name="w1d_narrow"),
              WHT2D(name="w2d_act"), WHT2D(name="w2d_norm")]
    x = layers[0](x)
    x = L.ReLU(6.0)(_norm("norm0", rng, 16)(x))
    x = layers[1](x)
    x = L.Activation("hard_swish")(_norm("norm1", rng, 24)(x))
    x = layers[2](x)
    x = L.ReLU()(_norm("norm2", rng, 8)(x))
    x = L.ReLU()(layers[3](x))
    y = _norm("norm4", rng, 8)(layers[4](x))
    model = keras.Model(inputs, [x, y])
    for layer in layers:
        randomize(layer, rng)
    return model


@pytest.fixture(scope="module")
def network():
    rng = np.random.default_rng(11)
    return _network(rng), rng.standard_normal((32, 12, 12, 16)).astype(np.float32)


def _ops(content):
    """[(name, op, graph, model)] of the main subgraph's operators."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    graph = model.subgraphs[0]
    builtin = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    out = []
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = code.customCode.decode() if code.customCode else builtin[max(code.builtinCode,
                                                                             code.deprecatedBuiltinCode)]
        out.append((name, op, graph, model))
    return out


def _custom(content):
    """[(options, [post_scale, post_offset] or None, input type, output type)] of the custom ops, in order."""
    found = []
    for name, op, graph, model in _ops(content):
        if name not in contract.OPS:
            continue
        options = flexbuffers.Loads(bytes(bytearray(op.customOptions)))
        post = None
        if len(op.inputs) == len(contract.INPUTS):
            post = [np.frombuffer(bytes(bytearray(model.buffers[graph.tensors[int(t)].buffer].data)), "<f4")
                    for t in op.inputs[contract.REQUIRED_INPUTS:]]
        found.append((options, post, graph.tensors[int(op.inputs[0])].type, graph.tensors[int(op.outputs[0])].type))
    return found


def _folded(norm):
    """The batch norm as the op's post_scale and post_offset, by its formula."""
    gamma, beta, mean, variance = (np.asarray(w, np.float64) for w in norm.weights)
    scale = gamma / np.sqrt(variance + norm.epsilon)
    return scale, beta - mean * scale


def test_float_model_folds_every_batch_norm_and_activation(network):
    model, data = network
    content = tflite.convert(model, custom_ops=True)
    names = [name for name, *_ in _ops(content)]
    # Left: the five ops, the growing layer's window copy (CONCATENATION) and crop (STRIDED_SLICE).
    assert not {"MUL", "ADD", "RELU", "RELU6", "HARD_SWISH"} & set(names), names
    ops = _custom(content)
    assert [o.get("activation") for o, *_ in ops] == ["relu6", "hard_swish", "relu", "relu", None]
    for (options, post, _, _), norm, width in zip(ops, ["norm0", "norm1", "norm2", None, "norm4"],
                                                   [16, 32, 8, None, 8]):
        if norm is None:
            assert post is None  # an activation alone: the op keeps three inputs
            continue
        scale, offset = _folded(model.get_layer(norm))
        assert post[0].shape == (width,)
        # The growing layer's op writes its window copies (32 channels); the crop keeps 24.
        np.testing.assert_allclose(post[0][:len(scale)], scale, rtol=1e-5)
        np.testing.assert_allclose(post[1][:len(offset)], offset, rtol=1e-4, atol=1e-6)
        assert np.all(post[0][len(scale):] == 1) and np.all(post[1][len(offset):] == 0)
    report = tflite.check_parity(model, content, inputs=data)
    assert max(report.values()) <= 1e-4


def test_no_fold_where_the_layer_output_is_read_twice_or_is_a_model_output(rng):
    x = inputs = keras.Input((8, 8, 16))
    w = WHT2D(name="read_twice")(x)
    norm = _norm("norm", rng, 16)
    y = L.Add()([norm(w), w])  # the layer's output goes to the batch norm and to the sum
    z = WHT1D(name="output")(y)
    model = keras.Model(inputs, [z, L.ReLU()(z)])
    for layer in model.layers:
        if isinstance(layer, (WHT1D, WHT2D)):
            randomize(layer, rng)
    content = tflite.convert(model, custom_ops=True)
    assert [post for _, post, _, _ in _custom(content)] == [None, None]
    assert "MUL" in [name for name, *_ in _ops(content)]
    data = rng.standard_normal((8, 8, 8, 16)).astype(np.float32)
    assert max(tflite.check_parity(model, content, inputs=data).values()) <= 1e-4


def test_int8_model_runs_every_op_and_the_copies_between_them_in_int8(network):
    model, data = network
    content = tflite.convert(model, custom_ops=True, quantize="int8", representative_data=data)
    int8 = schema.TensorType.INT8
    assert all(t_in == t_out == int8 for _, _, t_in, t_out in _custom(content))
    names = [name for name, *_ in _ops(content)]
    assert not {"MUL", "ADD", "HARD_SWISH"} & set(names), names
    for name, op, graph, _ in _ops(content):
        if name in ("CONCATENATION", "STRIDED_SLICE"):
            assert all(graph.tensors[int(t)].type == int8 for t in [op.inputs[0], op.outputs[0]]), name
    # Against Keras: well above check_parity's 20 dB, and through the first four ops no
    # worse than the builtin int8 model, whose WHT layers and batch norms compute in float
    # (the second output, a WHT layer's in float there, is int8-rounded here: 44 dB, not 52).
    want = model(data)
    builtin = tflite.convert(model, quantize="int8", representative_data=data)
    sqnr = {label: [sqnr_db(np.asarray(w), g) for w, g in zip(want, tflite.Interpreter(model_content=c).predict(
        data, progress=False))] for label, c in (("custom", content), ("builtin", builtin))}
    assert all(s > 35 for s in sqnr["custom"]) and sqnr["custom"][0] > sqnr["builtin"][0] - 1, sqnr


def test_int8_io_model_of_one_layer_runs_its_op_in_int8(rng):
    model = keras.Sequential([keras.Input((8, 8, 16)), WHT2D(), L.BatchNormalization(), L.ReLU()])
    randomize(model.layers[0], rng)
    data = rng.standard_normal((32, 8, 8, 16)).astype(np.float32)
    content = tflite.convert(model, custom_ops=True, quantize="int8", representative_data=data, io_dtype="int8")
    assert [name for name, *_ in _ops(content)] == ["KerasWht2D"]
    ((options, post, t_in, t_out),) = _custom(content)
    assert options["activation"] == "relu" and post is not None and t_in == t_out == schema.TensorType.INT8
    it = tflite.Interpreter(model_content=content)
    got = it.predict(data[:8], progress=False)
    want = np.asarray(model(data[:8]))
    step = it.get_output_details()[0]["quantization"][0]
    assert np.abs(got - want).max() <= 4 * step


def test_a_saved_and_reloaded_model_of_two_inputs_folds_in_float_and_int8(rng, tmp_path):
    # As a user meets it: a functional model of two named inputs and two outputs, saved to
    # .keras and loaded back, then converted; each branch's batch norm and activation fold.
    a, b = keras.Input((8, 8, 16), name="a"), keras.Input((8, 8, 16), name="b")
    x = L.ReLU()(_norm("norm_a", rng, 16)(WHT2D(name="w_a")(L.Conv2D(16, 1)(a))))
    y = L.Activation("hard_swish")(_norm("norm_b", rng, 24)(WHT1D(24, name="w_b")(L.Conv2D(16, 1)(b))))
    model = keras.Model([a, b], [L.Conv2D(4, 1, name="out_a")(x), L.Conv2D(4, 1, name="out_b")(y)])
    for name in ("w_a", "w_b"):
        randomize(model.get_layer(name), rng)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    data = [rng.standard_normal((16, 8, 8, 16)).astype(np.float32) for _ in range(2)]
    for quantize in (None, "int8"):
        kwargs = {"quantize": "int8", "representative_data": data} if quantize else {}
        content = tflite.convert(loaded, custom_ops=True, verify=True, **kwargs)
        ops = _custom(content)
        assert sorted(o["activation"] for o, *_ in ops) == ["hard_swish", "relu"]
        assert all(post is not None for _, post, _, _ in ops)
        if quantize:
            assert all(t_in == t_out == schema.TensorType.INT8 for _, _, t_in, t_out in ops)
        else:
            got = tflite.Interpreter(model_content=content).predict({"a": data[0], "b": data[1]}, progress=False)
            for g, w in zip(got, model(data)):
                np.testing.assert_allclose(g, np.asarray(w), atol=1e-4)
