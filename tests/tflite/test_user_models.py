"""Models as users make them: several named inputs and outputs, dtype policies, .keras
files, calibration data with mistakes in it; each converted model run on every runtime."""

import re

import numpy as np
import pytest

from keras_wht import tflite
from keras_wht._keras import keras
from keras_wht.layers import WHT1D, WHT2D
from keras_wht.tflite.verification import POLICY_TOLERANCE
from tests.layers.helpers import randomize

# Runtimes that load models from TensorFlow 2.21's converter (tflite_runtime 2.14 cannot).
RUNTIMES = [r for r in tflite.runtimes() if r != "tflite_runtime"]
SHAPE = (8, 8, 4)


def _samples(n, shape=SHAPE, seed=0):
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


# ----------------------------------------------------------------------------------------
# Several inputs and outputs. The input names sort unlike the Keras order, and the output
# layers' names sort against it too ("zz_" first, "aa_" second), so neither alphabetical
# nor TensorFlow's own tensor order passes for the Keras order by chance.

INPUTS = ["zeta", "alpha", "mid"]


def _multi_io_model():
    keras.utils.set_random_seed(7)
    zeta, alpha = keras.Input(SHAPE, name="zeta"), keras.Input(SHAPE, name="alpha")
    mid = keras.Input((4,), name="mid")
    wht = WHT2D(name="wht")
    summed = keras.layers.Add(name="zz_sum")([wht(zeta), alpha])
    dense = keras.layers.Dense(3, name="aa_dense")(mid)
    conv = keras.layers.Conv2D(2, 1, name="mm_conv")(WHT1D(name="wht1")(alpha))
    model = keras.Model([zeta, alpha, mid], [summed, dense, conv])
    randomize(wht, np.random.default_rng(3))
    return model


def _multi_io_inputs(n=6, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, *SHAPE)).astype(np.float32),
            rng.standard_normal((n, *SHAPE)).astype(np.float32),
            rng.standard_normal((n, 4)).astype(np.float32)]


@pytest.fixture(scope="module")
def multi_io():
    model = _multi_io_model()
    calibration = _multi_io_inputs(32, seed=2)
    contents = {
        "float": tflite.convert(model, verify=True),
        "custom_ops": tflite.convert(model, custom_ops=True, verify=True),
        "int8": tflite.convert(model, quantize="int8", representative_data=calibration, verify=True),
        "int8-io": tflite.convert(model, quantize="int8", representative_data=calibration, io_dtype="int8",
                                  verify=True),
    }
    return model, contents


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("kind", ["float", "custom_ops"])
def test_several_inputs_and_outputs_in_the_keras_order(multi_io, kind, runtime):
    model, contents = multi_io
    x = _multi_io_inputs()
    want = [np.asarray(o) for o in model(x)]
    it = tflite.Interpreter(model_content=contents[kind], runtime=runtime)
    assert [d["name"] for d in it.get_input_details()] == [f"serving_default_{n}:0" for n in INPUTS]
    assert [list(d["shape"][1:]) for d in it.get_output_details()] == [[8, 8, 4], [3], [8, 8, 2]]
    assert it.get_signature_list()["serving_default"]["outputs"] == ["output_0", "output_1", "output_2"]
    got = it.predict(x, batch_size=4, progress=False)
    assert isinstance(got, list) and len(got) == 3
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, atol=1e-4, err_msg=f"output {k} on {runtime}")
    by_name = it.predict(dict(zip(INPUTS[::-1], x[::-1])), batch_size=4, progress=False)
    for g, b in zip(got, by_name):
        np.testing.assert_array_equal(g, b)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_signature_runner_maps_keras_names(multi_io, runtime):
    model, contents = multi_io
    x = [a[:1] for a in _multi_io_inputs()]
    want = [np.asarray(o) for o in model(x)]
    it = tflite.Interpreter(model_content=contents["float"], runtime=runtime)
    runner = it.get_signature_runner("serving_default")
    got = runner(**dict(zip(INPUTS, x)))
    for k, w in enumerate(want):
        np.testing.assert_allclose(got[f"output_{k}"], w, atol=1e-4)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("kind", ["int8", "int8-io"])
def test_several_inputs_and_outputs_int8(multi_io, kind, runtime):
    model, contents = multi_io
    x = _multi_io_inputs(32, seed=2)
    want = [np.asarray(o) for o in model(x)]
    it = tflite.Interpreter(model_content=contents[kind], runtime=runtime)
    got = it.predict(x, batch_size=32, progress=False)
    for k, (g, w) in enumerate(zip(got, want)):
        # The calibration data and the same inputs: a few int8 steps (inputs rounded too).
        assert np.abs(g - w).max() <= 0.1 * max(1.0, np.abs(w).max()), f"output {k} on {runtime}"
    report = tflite.check_parity(model, contents[kind], inputs=x, quantize="int8")
    assert len(report) == 3


def test_dict_outputs_follow_the_keras_flattening():
    keras.utils.set_random_seed(3)
    a, b = keras.Input(SHAPE, name="b_in"), keras.Input(SHAPE, name="a_in")
    outputs = {"zz": WHT2D(name="w")(a), "aa": keras.layers.Conv2D(2, 1, name="c")(b)}
    model = keras.Model([a, b], outputs)
    content = tflite.convert(model, verify=True)
    it = tflite.Interpreter(model_content=content)
    assert it.get_signature_list()["serving_default"]["outputs"] == ["aa", "zz"]
    x = [_samples(3), _samples(3, seed=1)]
    got = it.predict(x, progress=False)
    want = model(x)
    np.testing.assert_allclose(got[0], np.asarray(want["aa"]), atol=1e-4)
    np.testing.assert_allclose(got[1], np.asarray(want["zz"]), atol=1e-4)


def test_unnamed_inputs_take_their_input_layer_names():
    # The converter would name them after the input tensors ("keras_tensor_<n>"), a count
    # that changes from run to run; the input layers' names are saved in .keras files.
    a, b = keras.Input(SHAPE), keras.Input(SHAPE)
    model = keras.Model([a, b], keras.layers.Add()([WHT2D()(a), b]))
    content = tflite.convert(model)
    names = [t._keras_history.operation.name for t in model.inputs]
    it = tflite.Interpreter(model_content=content)
    assert sorted(it.get_signature_list()["serving_default"]["inputs"]) == sorted(names)
    assert [d["name"] for d in it.get_input_details()] == [f"serving_default_{n}:0" for n in names]
    x = [_samples(2), _samples(2, seed=1)]
    np.testing.assert_allclose(it.predict(dict(zip(names, x)), progress=False), np.asarray(model(x)), atol=1e-4)


@pytest.mark.parametrize(
    "x, message",
    [
        (dict(zeta=0, alpha=0), r"`x` names the model's inputs \['zeta', 'alpha', 'mid'\]: missing \['mid'\]\."),
        (dict(zeta=0, alpha=0, mid=0, beta=0), r"`x` names the model's inputs .*: unknown \['beta'\]\."),
        (dict(zeta=0, beta=0), r"missing \['alpha', 'mid'\]; unknown \['beta'\]\."),
        ("wrong-shape", r"Input 'alpha' takes arrays of shape \(batch, 8, 8, 4\), got shape \(2, 8, 4, 8\)\."),
        ("wrong-rank", r"Input 'mid' takes arrays of shape \(batch, 4\), got shape \(2, 1, 4\)\."),
        ("empty", r"`x` has no samples"),
        ("two", r"The model has 3 input\(s\), got 2\."),
    ],
)
def test_predict_errors_name_the_input(multi_io, x, message):
    it = tflite.Interpreter(model_content=multi_io[1]["float"])
    good = _multi_io_inputs(2)
    if x == "wrong-shape":
        x = dict(zip(INPUTS, [good[0], good[1].reshape(2, 8, 4, 8), good[2]]))
    elif x == "wrong-rank":
        x = [good[0], good[1], good[2][:, None]]
    elif x == "empty":
        x = [a[:0] for a in good]
    elif x == "two":
        x = good[:2]
    with pytest.raises(ValueError, match=message):
        it.predict(x, progress=False)


def test_predict_on_no_samples_of_a_one_input_model():
    content = tflite.convert(keras.Sequential([keras.Input(SHAPE), WHT2D()]))
    it = tflite.Interpreter(model_content=content)
    with pytest.raises(ValueError, match="`x` has no samples"):
        it.predict(np.zeros((0, *SHAPE), np.float32))
    with pytest.raises(ValueError, match=r"Input 'input_layer\w*' takes arrays of shape \(batch, 8, 8, 4\), got "
                                         r"shape \(3, 8, 8, 2\)"):
        it.predict(np.zeros((3, 8, 8, 2), np.float32))


# ----------------------------------------------------------------------------------------
# Dtype policies: the model converts through a float32 copy with the same weights.

POLICIES = ["mixed_float16", "mixed_bfloat16", "float64"]


def _policy_model(policy, nested=False):
    previous = keras.config.dtype_policy()
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(5)
        w2, w1 = WHT2D(name="w2"), WHT1D(name="w1")
        if nested:
            inner = keras.Sequential([keras.Input(SHAPE), w2], name="inner")
            x = keras.Input(SHAPE, name="image")
            model = keras.Model(x, w1(keras.layers.Conv2D(4, 3, padding="same", name="conv")(inner(x))))
        else:
            model = keras.Sequential([keras.Input(SHAPE), keras.layers.Conv2D(4, 3, padding="same"), w2, w1])
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    rng = np.random.default_rng(11)
    randomize(w2, rng)
    randomize(w1, rng)
    return model


def _policy_bound(policy, want):
    precision = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}.get(policy)
    return 1e-4 if precision is None else POLICY_TOLERANCE[precision] * max(1.0, float(np.abs(want).max()))


@pytest.fixture(scope="module")
def policy_models():
    built = {}
    for policy in POLICIES:
        model = _policy_model(policy)
        built[policy] = (model, {
            "builtin": tflite.convert(model, verify=True),
            "custom_ops": tflite.convert(model, custom_ops=True, verify=True),
        })
    return built


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("kind", ["builtin", "custom_ops"])
@pytest.mark.parametrize("policy", POLICIES)
def test_dtype_policies_convert_and_match_keras(policy_models, policy, kind, runtime):
    model, contents = policy_models[policy]
    assert keras.config.dtype_policy().name == "float32", "the global policy is left as it was"
    content = contents[kind]
    operators = set(tflite.operators(content))
    if kind == "custom_ops":
        assert {"KerasWht2D", "KerasWht1D"} <= operators and "Igamma" not in operators
    else:
        assert not operators & {"KerasWht2D", "KerasWht1D", "FlexConv2D"}
    x = _samples(16)
    want = np.asarray(model(x)).astype(np.float64)
    got = tflite.Interpreter(model_content=content, runtime=runtime).predict(x, progress=False)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=_policy_bound(policy, want), err_msg=f"{policy} {runtime}")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_custom_ops_with_a_policy_warn_of_nothing(policy):
    import warnings

    model = _policy_model(policy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tflite.convert(model, custom_ops=True)


def test_a_nested_mixed_float16_model(rng):
    model = _policy_model("mixed_float16", nested=True)
    content = tflite.convert(model, custom_ops=True, verify=True)
    assert {"KerasWht2D", "KerasWht1D"} <= set(tflite.operators(content))
    x = _samples(8)
    want = np.asarray(model(x)).astype(np.float64)
    got = tflite.Interpreter(model_content=content).predict(x, progress=False)
    np.testing.assert_allclose(got, want, atol=_policy_bound("mixed_float16", want))
    assert keras.config.dtype_policy().name == "float32"


@pytest.mark.parametrize("custom_ops", [False, True])
def test_mixed_float16_int8(custom_ops):
    from keras_wht.tflite.verification import MIN_SQNR_DB, sqnr_db

    model = _policy_model("mixed_float16")
    x = _samples(64)
    content = tflite.convert(model, quantize="int8", representative_data=x, custom_ops=custom_ops)
    want = np.asarray(model(x)).astype(np.float64)
    for runtime in RUNTIMES:
        got = tflite.Interpreter(model_content=content, runtime=runtime).predict(x, progress=False)
        assert sqnr_db(want, got) >= MIN_SQNR_DB, runtime  # 35 dB measured
    if not custom_ops:
        # (With custom ops the WHT layer last gives a float output, which check_parity
        # holds to the float tolerance although the convolution before it is int8.)
        tflite.check_parity(model, content, inputs=x, quantize="int8")


def test_the_global_policy_is_kept_when_it_is_mixed():
    previous = keras.config.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = keras.Sequential([keras.Input(SHAPE), WHT2D()])
        tflite.convert(model, verify=True)
        assert keras.config.dtype_policy().name == "mixed_float16"
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def test_policy_parity_is_judged_at_the_policy_precision():
    model = _policy_model("mixed_bfloat16")
    content = tflite.convert(model)
    x = _samples(8)
    report = tflite.check_parity(model, content, inputs=x)
    assert 1e-4 < max(report.values()) <= POLICY_TOLERANCE["bfloat16"] * max(1.0, np.abs(np.asarray(model(x))).max())
    with pytest.raises(tflite.ParityError, match=r"tolerance 0\.0001, quantize=None, Keras in bfloat16\) on 8 inputs"):
        tflite.check_parity(model, content, inputs=x, tolerance=1e-4)  # the user's bound holds
    model.layers[-1].scale.assign(np.asarray(model.layers[-1].scale) * 2)  # the Keras model moves on
    with pytest.raises(tflite.ParityError, match=r"Keras in bfloat16\) on 8 inputs"):
        tflite.check_parity(model, content, inputs=x)


# ----------------------------------------------------------------------------------------
# .keras files


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
@pytest.mark.parametrize("custom_ops", [False, True])
def test_a_reloaded_keras_file_converts_to_the_same_bytes(policy, custom_ops, tmp_path):
    model = _policy_model(policy)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.layers[-1].dtype_policy.name == policy
    content = tflite.convert(model, custom_ops=custom_ops)
    assert tflite.convert(loaded, custom_ops=custom_ops) == content
    x = _samples(4)
    want = np.asarray(loaded(x)).astype(np.float64)
    for runtime in RUNTIMES:
        got = tflite.Interpreter(model_content=content, runtime=runtime).predict(x, progress=False)
        np.testing.assert_allclose(got, want, atol=_policy_bound(policy, want), err_msg=runtime)


def test_a_reloaded_multi_io_model(tmp_path):
    model = _multi_io_model()
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    content = tflite.convert(loaded, custom_ops=True)
    assert content == tflite.convert(model, custom_ops=True)
    x = _multi_io_inputs()
    for got, want in zip(tflite.Interpreter(model_content=content).predict(x, progress=False), model(x)):
        np.testing.assert_allclose(got, np.asarray(want), atol=1e-4)


# ----------------------------------------------------------------------------------------
# Calibration data


@pytest.fixture(scope="module")
def one_input():
    keras.utils.set_random_seed(2)
    return keras.Sequential([keras.Input(SHAPE), keras.layers.Conv2D(4, 1), WHT2D()])


def _with_nan(x):
    x = x.copy()
    x[1, 2, 3, 0] = np.nan
    x[2, 0, 0, 1] = np.inf
    return x


@pytest.mark.parametrize(
    "data, message",
    [
        (_samples(8, (8, 8, 3)), r"`representative_data` does not fit input 'input_layer\w*': has shape "
                                 r"\(8, 8, 8, 3\), the model takes \(samples, 8, 8, 4\) \(per sample \(8, 8, 4\), "
                                 r"got \(8, 8, 3\)\)\."),
        (_samples(8)[0], r"`representative_data` does not fit input .*: has shape \(8, 8, 4\), the model takes "
                         r"\(samples, 8, 8, 4\)"),
        (np.zeros((0, *SHAPE), np.float32), r"`representative_data` has no samples: input .* has shape "
                                            r"\(0, 8, 8, 4\)\."),
        ([], r"`representative_data` must give 1 input\(s\) \(input_layer\w*\), got 0\."),
        (_with_nan(_samples(8)), r"`representative_data` holds 2 NaN or infinite value\(s\) in input "
                                 r"'input_layer\w*' \(of 2048\): calibration needs finite inputs\."),
        (lambda: iter([]), r"`representative_data\(\)` yields no samples\."),
        (lambda: ([x] for x in _samples(4, (8, 8, 3))[:, None]),
         r"`representative_data\(\)` does not fit input .*: its first sample has shape \(1, 8, 8, 3\)"),
        (lambda: ([x] for x in _with_nan(_samples(4))[1:, None]),
         r"`representative_data\(\)` holds 1 NaN or infinite value\(s\) in its first sample input"),
        ({"images": _samples(8)}, r"`representative_data` is a dict by input name: the model's inputs are "
                                  r"\['input_layer\w*'\], missing \['input_layer\w*'\], unknown \['images'\]\."),
        ([["a", "b"]], r"`representative_data` for input .* must be numbers"),
    ],
    ids=["channels", "no-batch", "empty", "no-inputs", "nan", "generator-empty", "generator-shape",
         "generator-nan", "dict", "strings"],
)
def test_calibration_data_is_checked(one_input, data, message):
    with pytest.raises(ValueError, match=message):
        tflite.convert(one_input, quantize="int8", representative_data=data)


def test_calibration_data_of_several_inputs_is_checked_by_name():
    model = _multi_io_model()
    x = _multi_io_inputs(8)
    with pytest.raises(ValueError, match=r"does not fit input 'mid': has shape \(8, 5\), the model takes "
                                         r"\(samples, 4,\) \(per sample \(4,\), got \(5,\)\)"):
        tflite.convert(model, quantize="int8", representative_data=[x[0], x[1], np.zeros((8, 5), np.float32)])
    with pytest.raises(ValueError, match=re.escape("`representative_data` must give 3 input(s) (zeta, alpha, mid), "
                                                   "got 2.")):
        tflite.convert(model, quantize="int8", representative_data=x[:2])


def test_a_one_shot_generator_keeps_its_first_sample(one_input):
    # A callable that returns the same iterator each time: the sample looked at is not lost.
    x = _samples(32)
    shared = iter([[s[None]] for s in x])
    content = tflite.convert(one_input, quantize="int8", representative_data=lambda: shared, custom_ops=True)
    everything = tflite.convert(one_input, quantize="int8", representative_data=x, custom_ops=True)
    assert content == everything


def test_calibration_by_name_and_by_generator_agree():
    # Several inputs: a dict by name, a list in the Keras order and a generator of either
    # calibrate alike (TFLite would feed a list in its own tensor order).
    model = _multi_io_model()
    x = _multi_io_inputs(16, seed=2)
    as_list = tflite.convert(model, quantize="int8", representative_data=x)
    as_dict = tflite.convert(model, quantize="int8", representative_data=dict(zip(INPUTS, x)))
    generated = tflite.convert(model, quantize="int8",
                               representative_data=lambda: ([a[i:i + 1] for a in x] for i in range(16)))
    assert as_list == as_dict == generated
