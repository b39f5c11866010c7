"""int8 conversion with WHT layers: the calibration ranges measured again where TFLite's
calibrator records them wrong, and the batch norm after a WHT layer kept in float, or
folded into its custom op, which then runs in int8."""

import numpy as np
import pytest
import tensorflow as tf

from keras_wht import tflite
from keras_wht._keras import keras
from keras_wht.layers import WHT1D
from keras_wht.tflite import contract
from keras_wht.tflite.conversion import calibration, lowering, quantization, rewrite
from tests.layers.helpers import randomize

schema = rewrite.schema


def _network(rng):
    """conv -> WHT1D -> batch norm (with statistics far from 0 and 1) -> ReLU -> conv."""
    layer = WHT1D(block_size=8, name="wht")
    norm = keras.layers.BatchNormalization(name="norm")
    model = keras.Sequential([keras.Input((6, 6, 8)), keras.layers.Conv2D(8, 1), layer, norm,
                              keras.layers.ReLU(), keras.layers.Conv2D(4, 1)])
    randomize(layer, rng)
    gamma, beta, mean, variance = (w.numpy() for w in norm.weights)
    norm.set_weights([rng.uniform(0.5, 2, gamma.shape), rng.normal(0, 0.5, beta.shape),
                      rng.normal(0, 0.3, mean.shape), rng.uniform(0.01, 4, variance.shape)])
    return model


@pytest.fixture(scope="module")
def network():
    rng = np.random.default_rng(3)
    return _network(rng), rng.standard_normal((24, 6, 6, 8)).astype(np.float32)


def _wht_output(content):
    """The index of the KerasWht op's output tensor."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    graph = model.subgraphs[0]
    (op,) = [o for o in graph.operators if model.operatorCodes[o.opcodeIndex].customCode in
             {c.encode() for c in contract.OPS}]
    return int(op.outputs[0]), graph


def test_measured_ranges_are_the_true_ones_where_the_calibrator_is_wrong(network):
    model, data = network
    samples = calibration.representative(data, model)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = samples
    converter.allow_custom_ops = True
    with lowering.markers(model) as plans:
        calibrated = quantization.calibrated(converter, plans)
    index, graph = _wht_output(calibrated)
    # The independent reference: Keras' output of the WHT layer, its batch norm and ReLU
    # (folded into the op) over the same samples.
    wht = keras.Model(model.inputs, model.layers[-2].output)(data).numpy()
    want = (min(wht.min(), 0.0), wht.max())
    measured = calibration.measured_ranges(calibrated, samples, model)
    np.testing.assert_allclose(measured[index], want, rtol=1e-4, atol=1e-5)
    # Where the calibrator is right (the network's input: no op overwrites it) the two agree.
    first = int(graph.inputs[0])
    np.testing.assert_allclose(rewrite.calibrated_ranges(calibrated)[first], measured[first], rtol=1e-5)
    np.testing.assert_allclose(measured[first], (data.min(), data.max()), rtol=1e-6)
    # with_ranges writes them all.
    corrected = rewrite.calibrated_ranges(rewrite.with_ranges(calibrated, measured))
    assert corrected.keys() == measured.keys()
    for key, pair in measured.items():
        np.testing.assert_allclose(corrected[key], pair, rtol=1e-6)


@pytest.mark.parametrize("custom_ops", [False, True], ids=["builtin", "custom"])
def test_the_batch_norm_after_a_wht_layer_stays_float_or_folds_into_its_op(network, custom_ops):
    model, data = network
    content = tflite.convert(model, quantize="int8", representative_data=data, custom_ops=custom_ops, verify=True)
    fb = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    graph = fb.subgraphs[0]
    kinds = {}
    for op in graph.operators:
        code = fb.operatorCodes[op.opcodeIndex]
        name = code.customCode.decode() if code.customCode else max(code.builtinCode, code.deprecatedBuiltinCode)
        kinds.setdefault(name, set()).add(graph.tensors[int(op.outputs[0])].type)
    float32, int8 = schema.TensorType.FLOAT32, schema.TensorType.INT8
    assert kinds[schema.BuiltinOperator.CONV_2D] == {int8}  # everything else int8
    if custom_ops:
        # The batch norm and ReLU are the op's epilogue, and the op reads and writes int8.
        assert schema.BuiltinOperator.MUL not in kinds and kinds["KerasWht1D"] == {int8}
        (op,) = [o for o in graph.operators if fb.operatorCodes[o.opcodeIndex].customCode == b"KerasWht1D"]
        assert len(op.inputs) == len(contract.INPUTS)
        norm = model.get_layer("norm")
        gamma, beta, mean, variance = (np.asarray(w) for w in norm.weights)
        post_scale = gamma / np.sqrt(variance + norm.epsilon)
        buffers = [np.frombuffer(bytes(bytearray(fb.buffers[graph.tensors[int(t)].buffer].data)), "<f4")
                   for t in op.inputs[3:]]
        np.testing.assert_allclose(buffers[0], post_scale, rtol=1e-5)
        np.testing.assert_allclose(buffers[1], beta - mean * post_scale, rtol=1e-4, atol=1e-5)
    else:
        assert kinds[schema.BuiltinOperator.MUL] == {float32}  # the batch norm's scale
    # The int8 model tracks Keras closely: 30 dB signal-to-noise (check_parity asks 20).
    want = np.asarray(model(data))
    got = tflite.Interpreter(model_content=content).predict(data, progress=False)
    assert 10 * np.log10(np.mean(want ** 2) / np.mean((want - got) ** 2)) > 30


def test_a_one_shot_generator_calibrates_every_pass(network):
    # The samples are drawn once: TFLite's calibration, the measured ranges and the int8
    # interface each take a pass.
    model, data = network
    shared = iter([data[i:i + 1] for i in range(len(data))])
    content = tflite.convert(model, quantize="int8", representative_data=lambda: shared, io_dtype="int8")
    assert content == tflite.convert(model, quantize="int8", representative_data=data, io_dtype="int8")


def test_a_model_of_fixed_batch_size_calibrates_in_batches_of_it(rng):
    # The builtin lowering reshapes with the batch size the input fixes; calibrating one
    # sample at a time failed in TFLite's RESHAPE (`keras-wht bench layers --batch 10`).
    model = keras.Sequential([keras.Input((4, 4, 8), batch_size=4), keras.layers.Conv2D(8, 1), WHT1D(block_size=8)])
    randomize(model.layers[-1], rng)
    data = rng.standard_normal((8, 4, 4, 8)).astype(np.float32)
    for custom_ops in (False, True):
        content = tflite.convert(model, quantize="int8", representative_data=data, custom_ops=custom_ops, verify=True)
        assert tflite.Interpreter(model_content=content).get_input_details()[0]["shape"][0] == 4
    # predict takes such a model's batch size, padding the last batch: 10 samples in 3 calls.
    it = tflite.Interpreter(model_content=tflite.convert(model, verify=True))
    many = rng.standard_normal((10, 4, 4, 8)).astype(np.float32)
    want = np.concatenate([np.asarray(model(np.concatenate([many[i:i + 4], np.zeros((4 - len(many[i:i + 4]), 4, 4, 8),
                                                                                       np.float32)])))[:len(many[i:i + 4])]
                           for i in range(0, 10, 4)])
    np.testing.assert_allclose(it.predict(many, progress=False), want, atol=1e-5)
    with pytest.raises(ValueError, match="`representative_data` has 3 sample\\(s\\); the model's inputs take batches "
                                         "of 4: give at least 4."):
        tflite.convert(model, quantize="int8", representative_data=data[:3])
