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
