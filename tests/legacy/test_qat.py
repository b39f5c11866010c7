"""Quantization-aware training: runs in the tf_keras pass (TF_USE_LEGACY_KERAS=1)."""

import numpy as np
import pytest

from keras_wht._keras import LEGACY, keras

legacy_only = pytest.mark.skipif(not LEGACY, reason="tensorflow-model-optimization needs tf_keras")


@pytest.mark.skipif(LEGACY, reason="the Keras 3 pass checks the error")
def test_keras3_gets_a_clear_error():
    with pytest.raises(ImportError, match="keras_wht.tflite.qat needs tf_keras, as tensorflow-model-optimization does"):
        from keras_wht.tflite import qat  # noqa: F401


def _model():
    from keras_wht.layers import WHT1D, WHT2D

    return keras.Sequential([
        keras.Input((8, 8, 4)), keras.layers.Conv2D(8, 3, padding="same"), WHT2D(), WHT1D(),
        keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10),
    ])


@legacy_only
def test_quantize_model_accepts_wht_layers_trains_and_converts(rng, tmp_path):
    from keras_wht import tflite
    from keras_wht.tflite import qat

    model = _model()
    qat_model = qat.quantize_model(model)
    names = [type(layer).__name__ for layer in qat_model.layers]
    assert names.count("QuantizeWrapperV2") == 5  # conv, WHT2D, WHT1D, pooling, dense
    x = rng.standard_normal((64, 8, 8, 4)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    qat_model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    qat_model.fit(x, y, epochs=2, verbose=0)
    content = tflite.convert(qat_model, quantize="qat")
    from tests.tflite.test_convert import output_step

    # Against its fake-quantized Keras self: within one output step.
    tflite.check_parity(qat_model, content, inputs=x, quantize="qat", tolerance=output_step(content))
    assert "CONV_2D" in tflite.operators(content)
    path = str(tmp_path / "qat.h5")  # tfmot's QuantizeLayer does not reload from .keras files
    qat_model.save(path)
    with qat.quantize_scope():
        loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), qat_model.predict(x, verbose=0), atol=1e-5)


@legacy_only
def test_quantize_model_keeps_the_trained_weights(rng):
    from keras_wht.tflite import qat

    model = _model()
    wht2d = model.layers[1]
    wht2d.scale.assign(rng.uniform(0.5, 2, wht2d.scale.shape).astype(np.float32))
    qat_model = qat.quantize_model(model)
    np.testing.assert_array_equal(qat_model.layers[2].layer.scale.numpy(), wht2d.scale.numpy())


@legacy_only
def test_annotate_layer_directly():
    import tensorflow_model_optimization as tfmot

    from keras_wht.layers import WHT2D
    from keras_wht.tflite import qat

    annotated = keras.Sequential([
        keras.Input((8, 8, 4)),
        tfmot.quantization.keras.quantize_annotate_layer(WHT2D(), qat.WHTQuantizeConfig()),
    ])
    with qat.quantize_scope():
        quantized = tfmot.quantization.keras.quantize_apply(annotated)
    assert quantized.output_shape == (None, 8, 8, 4)


@legacy_only
def test_bad_model():
    from keras_wht.tflite import qat

    with pytest.raises(TypeError, match="`model` must be a tf_keras Model, got str"):
        qat.quantize_model("model.keras")


def _wht_operators(content):
    """[(custom code, input (type, scale, zero point), output (type, scale, zero point))]
    of the KerasWht operators of `content`, read from the flatbuffer."""
    import tflite as schema

    model = schema.Model.GetRootAsModel(bytearray(content), 0)
    graph = model.Subgraphs(0)
    types = {value: name for name, value in vars(schema.TensorType).items() if not name.startswith("_")}

    def tensor(index):
        t = graph.Tensors(index)
        q = t.Quantization()
        scale = float(q.Scale(0)) if q is not None and q.ScaleLength() else 0.0
        zero = int(q.ZeroPoint(0)) if q is not None and q.ZeroPointLength() else 0
        return types[t.Type()], scale, zero

    found = []
    for o in range(graph.OperatorsLength()):
        op = graph.Operators(o)
        code = model.OperatorCodes(op.OpcodeIndex()).CustomCode()
        if code and code.decode().startswith("KerasWht"):
            found.append((code.decode(), tensor(op.Inputs(0)), tensor(op.Outputs(0))))
    return found


def _learnt_range(wrapper, name):
    """(scale, zero point) of the asymmetric int8 grid of a QuantizeWrapper's fake quant."""
    low, high = (float(next(v for v in wrapper.weights if v.name.endswith(f"/{name}_{end}:0")).numpy())
                 for end in ("min", "max"))
    scale = (high - low) / 255.0
    return scale, int(round(-128 - low / scale))


def _trained(model, x, rng, epochs=2):
    from keras_wht.tflite import qat

    aware = qat.quantize_model(model)
    aware.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    aware.fit(x, rng.integers(0, 10, len(x)), epochs=epochs, batch_size=16, verbose=0)
    return aware


@legacy_only
def test_qat_converts_with_custom_ops_int8_on_the_ranges_learnt(rng):
    from keras_wht import tflite
    from keras_wht.tflite.conversion import lowering
    from tests.tflite.test_convert import output_step

    x = rng.standard_normal((64, 8, 8, 4)).astype(np.float32)
    aware = _trained(_model(), x, rng)
    assert [type(layer).__name__ for layer in lowering.wht_layers(aware)] == ["WHT2D", "WHT1D"]  # inside the wrappers
    custom = tflite.convert(aware, quantize="qat", custom_ops=True, verify=True)
    builtin = tflite.convert(aware, quantize="qat")
    # Each WHT layer is one op, between int8 tensors: nothing converts to float and back.
    assert tflite.operators(custom) == ["QUANTIZE", "CONV_2D", "KerasWht2D", "KerasWht1D", "MEAN", "FULLY_CONNECTED",
                                        "DEQUANTIZE"]
    (_, conv_out, wht2d_out), (_, wht1d_in, wht1d_out) = [(c, i, o) for c, i, o in _wht_operators(custom)]
    assert {conv_out[0], wht2d_out[0], wht1d_in[0], wht1d_out[0]} == {"INT8"}
    assert wht1d_in == wht2d_out
    # The grids are those of the fake quants QAT learnt: the convolution's output, each WHT layer's.
    conv, wht2d, wht1d = aware.layers[1:4]  # after the input's QuantizeLayer
    for (_, scale, zero), wrapper, name in ((conv_out, conv, "post_activation"), (wht2d_out, wht2d, "output"),
                                            (wht1d_out, wht1d, "output")):
        want_scale, want_zero = _learnt_range(wrapper, name)
        assert scale == pytest.approx(want_scale, rel=1e-5) and abs(zero - want_zero) <= 1
    # The same int8 model as with builtin ops, and its fake-quantized Keras self, by the numbers:
    # within one output step (a difference of one step, taken in float32, may be an ulp over it).
    step = output_step(custom) * (1 + 1e-5)
    got, want = (tflite.Interpreter(model_content=c).predict(x, progress=False) for c in (custom, builtin))
    assert np.max(np.abs(got - want)) <= step
    keras_out = aware.predict(x, verbose=0)
    assert np.max(np.abs(got - keras_out)) <= step
    report = tflite.check_parity(aware, custom, inputs=x, quantize="qat")  # 20 dB at least
    assert max(report.values()) <= step


@legacy_only
def test_qat_custom_ops_around_crops_strides_and_batch_norms(rng):
    # A crop after the op (WHT1D to 12 of 16 channels) runs in int8 after it; a stride (an
    # average pool after the op) stays float with the op, which QAT learns no range
    # between; a batch norm and ReLU6 fold into the op, which then meets the ReLU's fake
    # quant and runs in int8.
    from keras_wht import tflite
    from keras_wht.layers import WHT1D, WHT2D
    from tests.tflite.test_convert import output_step

    model = keras.Sequential([
        keras.Input((8, 8, 4)), keras.layers.Conv2D(8, 3, padding="same"), WHT2D(strides=2, per_channel=True),
        WHT1D(units=12, order="sequency", name="cropped"), WHT1D(units=12, name="normed"),
        keras.layers.BatchNormalization(name="norm"), keras.layers.ReLU(6.0, name="relu"),
        keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10),
    ])
    x = rng.standard_normal((64, 8, 8, 4)).astype(np.float32)
    aware = _trained(model, x, rng)
    outputs = {layer.layer.name: [v.name for v in layer.weights if "output_m" in v.name] for layer in aware.layers[1:]}
    # The fake quant after the WHT layer and its batch norm is the ReLU's, as tfmot's after a convolution's.
    assert outputs["cropped"] and not outputs["normed"] and not outputs["norm"] and outputs["relu"]
    custom = tflite.convert(aware, quantize="qat", custom_ops=True)
    ops = tflite.operators(custom)
    assert ops[ops.index("KerasWht1D") + 1] == "STRIDED_SLICE" and ops[ops.index("KerasWht1D") - 1] != "DEQUANTIZE"
    wht2d, wht1d, wht1d_bn = _wht_operators(custom)
    assert wht2d[1][0] == wht2d[2][0] == "FLOAT32"  # the average pool after it is float, so the op is (one type)
    assert wht1d[1][0] == wht1d[2][0] == "INT8"
    assert wht1d_bn[1][0] == wht1d_bn[2][0] == "INT8"  # the batch norm and ReLU6 are in the op
    assert "MUL" not in ops and ops[-4:] == ["KerasWht1D", "MEAN", "FULLY_CONNECTED", "DEQUANTIZE"], ops
    builtin = tflite.convert(aware, quantize="qat")
    got, want = (tflite.Interpreter(model_content=c).predict(x, progress=False) for c in (custom, builtin))
    step = output_step(custom) * (1 + 1e-5)  # one step, and float32's rounding of it
    # The custom ops give the fake-quantized Keras model within one output step. The builtin
    # graph computes the transforms differently in float, so an int8 rounding upstream may
    # land on the other side, and the WHT1D after it amplifies that: with its default scales
    # (+-2) the two graphs differ by two output steps here (one with scales 1).
    assert np.max(np.abs(got - aware.predict(x, verbose=0))) <= step
    assert np.max(np.abs(got - want)) <= 2 * step
    report = tflite.check_parity(aware, custom, inputs=x, quantize="qat")  # 20 dB at least
    assert max(report.values()) <= step
