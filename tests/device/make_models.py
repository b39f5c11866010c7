"""The workstation half of the device pass: converts small WHT networks as users do and
writes, for each, the .tflite file, the inputs and the outputs the Keras model gives on
them, with the check the device must pass (manifest.json). tests/device/test_device.py
runs them where only a TFLite runtime is installed.

    python tests/device/make_models.py OUT_DIR
"""

import json
import os
import sys

import numpy as np

from keras_wht import tflite
from keras_wht._keras import keras
from keras_wht.layers import WHT1D, WHT2D
from keras_wht.tflite.verification import MIN_SQNR_DB, POLICY_TOLERANCE, _as_quantized

SHAPE = (8, 8, 8)
SAMPLES = 16


def _randomized(model, rng):
    """Trained-looking WHT parameters (scales of either sign, 0.5 to 2 in magnitude, as WHT1D's
    random signs start; small thresholds)."""
    for layer in model.layers:
        if isinstance(layer, (WHT1D, WHT2D)):
            signs = rng.choice([-1.0, 1.0], layer.scale.shape)
            layer.scale.assign((rng.uniform(0.5, 2.0, layer.scale.shape) * signs).astype("float32"))
            layer.threshold.assign(rng.uniform(0.0, 0.3, layer.threshold.shape).astype("float32"))
    return model


def _statistics(norm, x, rng):
    """norm(x), the batch norm's statistics far from 0 and 1 (a trained network's)."""
    y = norm(x)
    channels = int(x.shape[-1])
    norm.set_weights([rng.uniform(0.5, 2, channels).astype("float32"), rng.normal(0, 0.5, channels).astype("float32"),
                      rng.normal(0, 0.3, channels).astype("float32"), rng.uniform(0.2, 4, channels).astype("float32")])
    return y


def network(rng, shape=SHAPE, strides=1):
    """Both WHT layers between the builtin ops a network has around them, the batch norms
    and activations after them folded into their ops with custom ops."""
    inputs = keras.Input(shape, name="image")
    x = keras.layers.Conv2D(16, 3, strides=strides, padding="same", activation="relu")(inputs)
    x = WHT2D(32)(x)  # widens: with custom ops, its op runs on the 16 input channels
    x = keras.layers.BatchNormalization()(x)
    x = WHT1D(64)(x)  # grows: its window copies before the op, its crop after
    x = keras.layers.ReLU(6.0)(_statistics(keras.layers.BatchNormalization(), x, rng))
    x = WHT1D(24)(x)  # narrows: with custom ops, inside its op (option "channels")
    x = keras.layers.Activation("hard_swish")(_statistics(keras.layers.BatchNormalization(), x, rng))
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10)(x)
    return _randomized(keras.Model(inputs, outputs), rng)


def two_inputs_two_outputs(rng):
    """Named inputs and outputs whose TFLite order is not the Keras order."""
    b = keras.Input(SHAPE, name="b_image")
    a = keras.Input((4,), name="a_features")
    x = WHT2D()(keras.layers.Conv2D(8, 1)(b))
    pooled = keras.layers.GlobalAveragePooling2D()(x)
    z_scores = keras.layers.Dense(3, name="z_scores")(keras.layers.Concatenate()([pooled, a]))
    a_map = WHT1D(name="a_map")(x)
    return _randomized(keras.Model([b, a], [z_scores, a_map]), rng)


def twins(rng):
    """Two WHT1D layers with the same weights, a ReLU folded into one op only: LiteRT's C
    API cannot tell the two ops apart (KerasWht_AddLiteRtCustomOps refuses the model)."""
    inputs = keras.Input(SHAPE, name="image")
    first, second = WHT1D(name="first"), WHT1D(name="second")
    x = keras.layers.Concatenate()([keras.layers.ReLU()(first(inputs)), second(inputs)])
    model = _randomized(keras.Model(inputs, x), rng)
    second.set_weights(first.get_weights())
    return model


def _write(out, name, model, content, inputs, check, expected=None):
    with open(os.path.join(out, f"{name}.tflite"), "wb") as f:
        f.write(content)
    if expected is None:
        expected = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    expected = expected if isinstance(expected, (list, tuple)) else [expected]
    np.savez(os.path.join(out, f"{name}.inputs.npz"), *inputs)
    np.savez(os.path.join(out, f"{name}.expected.npz"), *[np.asarray(e) for e in expected])
    return {"name": name, "file": f"{name}.tflite", "check": check, "operators": sorted(set(tflite.operators(content)))}


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    model = network(rng)
    x = rng.standard_normal((SAMPLES, *SHAPE)).astype("float32")
    float_check = {"max_abs": 1e-4}
    int8_check = {"min_sqnr_db": MIN_SQNR_DB}
    cases = [
        _write(out, "builtin", model, tflite.convert(model), [x], float_check),
        _write(out, "custom", model, tflite.convert(model, custom_ops=True), [x], float_check),
    ]
    for name, custom in (("int8", False), ("int8-custom", True)):
        for io in ("float32", "int8"):
            content = tflite.convert(model, custom_ops=custom, quantize="int8", representative_data=x, io_dtype=io)
            # The device is given inputs on the model's int8 grid, so the Keras outputs on
            # them measure the model's own rounding, as check_parity does.
            rounded = _as_quantized(tflite.Interpreter(model_content=content), content, [x])
            cases.append(_write(out, name + ("-io" if io == "int8" else ""), model, content, rounded, int8_check))

    two = two_inputs_two_outputs(rng)
    inputs = [rng.standard_normal((SAMPLES, *t.shape[1:])).astype("float32") for t in two.inputs]
    for name, custom in (("two-io", False), ("two-io-custom", True)):
        case = _write(out, name, two, tflite.convert(two, custom_ops=custom), inputs, float_check)
        case["input_names"] = [t.name for t in two.inputs]
        cases.append(case)

    same = twins(rng)
    case = _write(out, "twins-custom", same, tflite.convert(same, custom_ops=True), [x], float_check)
    cases.append({**case, "litert_c_api_refuses": "have the same parameters but other options or quantization"})

    # An ImageNet-size input: 224x224 images, WHT layers at 112x112.
    large = network(rng, (224, 224, 3), strides=2)
    images = rng.uniform(0, 1, (4, 224, 224, 3)).astype("float32")
    for name, custom in (("imagenet-size", False), ("imagenet-size-custom", True)):
        cases.append(_write(out, name, large, tflite.convert(large, custom_ops=custom), [images], float_check))

    # A 3x3 convolution with stride 4 and "same" padding on 32x32: tflite_runtime 2.14's
    # XNNPACK computes it wrong, so the Interpreter refuses it there unless XNNPACK is off.
    strided = keras.Sequential([keras.Input((32, 32, 3), name="image"),
                                keras.layers.Conv2D(8, 3, strides=4, padding="same"), WHT1D()])
    strided = _randomized(strided, rng)
    case = _write(out, "stride-over-kernel", strided, tflite.convert(strided),
                  [rng.standard_normal((SAMPLES, 32, 32, 3)).astype("float32")], float_check)
    cases.append({**case, "xnnpack_2_14_wrong": True})

    # Trained in mixed precision (as on a GPU), saved and reloaded as a user ships it: the
    # TFLite model computes in float32, so it matches Keras within float16's precision.
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        mixed = network(rng)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    path = os.path.join(out, "mixed_float16.keras")
    mixed.save(path)
    mixed = keras.saving.load_model(path)
    expected = np.asarray(mixed(x, training=False)).astype("float32")
    bound = POLICY_TOLERANCE["float16"] * max(1.0, float(np.abs(expected).max()))
    for name, custom in (("mixed_float16", False), ("mixed_float16-custom", True)):
        cases.append(_write(out, name, mixed, tflite.convert(mixed, custom_ops=custom), [x], {"max_abs": bound},
                            expected=expected))

    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"cases": cases}, f, indent=2)
    print(f"wrote {len(cases)} models to {out}: {', '.join(c['name'] for c in cases)}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
