import numpy as np
import pytest

from keras_wht import models
from keras_wht._keras import keras
from keras_wht.layers import WHT1D, WHT2D
from keras_wht.models import Placement

CIFAR = dict(input_shape=(32, 32, 3), classes=10)


@pytest.mark.parametrize(
    "ours, theirs, kwargs",
    [
        (models.MobileNetV2, keras.applications.MobileNetV2, {}),
        (models.MobileNetV2, keras.applications.MobileNetV2, dict(alpha=0.5, include_top=False, pooling="avg")),
        (models.MobileNetV3Large, keras.applications.MobileNetV3Large, {}),
        (models.MobileNetV3Large, keras.applications.MobileNetV3Large, dict(minimalistic=True, include_top=False)),
        (models.ResNet50, keras.applications.ResNet50, {}),
    ],
    ids=["mobilenet_v2", "mobilenet_v2-notop", "mobilenet_v3_large", "mobilenet_v3_large-min", "resnet50"],
)
def test_plain_is_keras_applications(ours, theirs, kwargs, rng):
    reference = theirs(weights=None, **CIFAR, **kwargs)
    model = ours(**CIFAR, **kwargs)
    assert model.count_params() == reference.count_params()
    assert [w.shape for w in model.weights] == [w.shape for w in reference.weights]
    model.set_weights(reference.get_weights())  # ImageNet-style weights load as they are
    x = rng.uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(reference(x)), atol=1e-5)


def test_mobilenet_v2_cifar_baseline_and_paper_presets():
    assert models.MobileNetV2(**CIFAR).count_params() == 2_270_794
    for preset, paper in (("paper-947k", 947_000), ("paper-540k", 540_000)):
        count = models.MobileNetV2(**CIFAR, wht=preset).count_params()
        assert abs(count - paper) / paper < 0.02, (preset, count)
    assert models.MobileNetV2(**CIFAR, wht="paper-947k").count_params() == 942_410
    assert models.MobileNetV2(**CIFAR, wht="paper-540k").count_params() == 533_834


def test_preset_replaces_the_layers_it_names():
    model = models.MobileNetV2(**CIFAR, wht="paper-540k")
    kinds = {layer.name: type(layer) for layer in model.layers}
    for block in range(12, 17):
        assert kinds[f"block_{block}_expand"] is WHT1D and kinds[f"block_{block}_project"] is WHT1D
        assert kinds[f"block_{block}_depthwise"] is keras.layers.DepthwiseConv2D
    assert kinds["block_11_expand"] is keras.layers.Conv2D
    assert kinds["Conv_1"] is WHT1D
    se = models.MobileNetV3Large(**CIFAR, wht="last-third")
    assert isinstance(se.get_layer("expanded_conv_12_squeeze_excite"), WHT2D)


BUILDS = [(name, preset) for name in models.BUILDERS for preset in models.presets(name)]


@pytest.mark.slow
@pytest.mark.parametrize("name, preset", BUILDS, ids=[f"{n}-{p}" for n, p in BUILDS])
def test_every_preset_builds_runs_and_round_trips(name, preset, rng, tmp_path):
    model = models.get(name)(**CIFAR, wht=preset)
    x = rng.uniform(0, 1, (2, 32, 32, 3)).astype(np.float32)
    y = model.predict(x, verbose=0)
    assert y.shape == (2, 10) and np.isfinite(y).all()
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)  # softmax top
    path = str(tmp_path / "m.keras")
    model.save(path)
    np.testing.assert_array_equal(keras.saving.load_model(path).predict(x, verbose=0), y)


def test_resnet20_width_multiplier():
    # Stages of 8/16/32 channels, counted by hand: 3x3 convs, the two shortcut 1x1 convs,
    # batch norms (4 weights a channel) and the classifier.
    conv3 = lambda a, b: 9 * a * b  # noqa: E731
    stage1 = 6 * conv3(8, 8) + 6 * 4 * 8
    stage2 = conv3(8, 16) + 5 * conv3(16, 16) + 8 * 16 + 7 * 4 * 16
    stage3 = conv3(16, 32) + 5 * conv3(32, 32) + 16 * 32 + 7 * 4 * 32
    want = 27 * 8 + 4 * 8 + stage1 + stage2 + stage3 + 32 * 10 + 10
    model = models.ResNet20(**CIFAR, alpha=0.5)
    assert model.get_layer("conv1_conv").filters == 8 and model.get_layer("conv4_block3_2_conv").filters == 32
    assert model.count_params() == want == 69570
    assert models.build("resnet20", input_size=32, alpha=0.5).count_params() == want
    assert models.ResNet20(**CIFAR, alpha=1.0).count_params() == 274042


def test_resnet50_width_multiplier():
    # A bottleneck's convolutions have round(alpha f) of the plain network's f channels, its
    # widening ends (and shortcuts) four times that; the stem round(alpha 64).
    plain, thin = models.ResNet50(**CIFAR), models.ResNet50(**CIFAR, alpha=0.45)
    convs = [layer.name for layer in plain.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 53
    for name in convs:
        f = plain.get_layer(name).filters
        want = 4 * round(0.45 * f / 4) if name.endswith(("_0_conv", "_3_conv")) else round(0.45 * f)
        assert thin.get_layer(name).filters == want, name
    assert thin.count_params() == 4_810_646 < models.ResNet50(**CIFAR, wht="last-third").count_params() == 5_319_080
    assert models.build("resnet50", input_size=32, alpha=0.45).count_params() == 4_810_646
    half = models.ResNet50(**CIFAR, alpha=0.5, wht="last-third")  # the WHT layers follow the widths
    assert half.get_layer("conv5_block3_2_conv").filters == 256


def test_placement_forms_agree():
    as_dict = models.ResNet20(wht={"blocks": [-1], "layers": ["conv2"], "head": True})
    as_object = models.ResNet20(wht=Placement(blocks=(8,), layers=("conv2",), head=True))
    assert as_dict.count_params() == as_object.count_params()
    assert isinstance(as_dict.get_layer("conv4_block3_2_conv"), WHT2D)
    assert isinstance(as_dict.get_layer("head_wht2d"), WHT2D)
    everything = models.ResNet20(wht={"blocks": "all", "layers": "conv1"})
    assert sum(isinstance(layer, WHT2D) for layer in everything.layers) == 9


def test_input_tensor_and_no_top():
    inputs = keras.Input((40, 40, 3))
    model = models.ResNet20(input_tensor=inputs, include_top=False, wht="last-third")
    assert model.output_shape == (None, 10, 10, 64)
    pooled = models.MobileNetV2((48, 48, 3), include_top=False, pooling="max", wht="paper-947k")
    assert pooled.output_shape == (None, 1280)


def test_weights_from_a_file(tmp_path, rng):
    source = models.ResNet20(wht="last-third")
    source.layers[-1].set_weights([w + 1 for w in source.layers[-1].get_weights()])
    path = str(tmp_path / "resnet20.weights.h5")
    source.save_weights(path)
    loaded = models.ResNet20(wht="last-third", weights=path)
    x = rng.uniform(0, 1, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(source(x)), atol=1e-6)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: models.get("vgg16"), "Unknown model 'vgg16'; the models are: mobilenet_v2, mobilenet_v3_large, resnet20, resnet50"),
        (lambda: models.presets("MobileNetV2"),
         "Unknown model 'MobileNetV2'; the models are: mobilenet_v2, mobilenet_v3_large, resnet20, resnet50"),
        (lambda: models.MobileNetV2(**CIFAR, wht="paper-1m"),
         "Unknown `wht` preset 'paper-1m' for MobileNetV2; the presets are: last-third, paper-540k, paper-947k"),
        (lambda: models.MobileNetV2((16, 16, 3)), "MobileNetV2 needs inputs of at least 32x32, got `input_shape`=(16, 16, 3)"),
        (lambda: models.ResNet20((4, 4, 3)), "ResNet20 needs inputs of at least 8x8"),
        (lambda: models.MobileNetV2(**CIFAR, wht={"blocks": [17], "layers": ["expand"]}),
         "`wht` names block 17, but MobileNetV2 has blocks 0..16 (or -17..-1 from the end)"),
        (lambda: models.MobileNetV2(**CIFAR, wht={"blocks": [3], "layers": ["se"]}),
         "`wht` names layer kind(s) ['se'] that MobileNetV2 does not have; its kinds are ['expand', 'depthwise', 'project']"),
        (lambda: models.ResNet20(wht={"block": [1]}), "`wht` has unknown key(s) ['block']"),
        (lambda: models.ResNet20(wht=3), "`wht` must be None, a preset name, a dict or a keras_wht.models.Placement, got 3"),
        (lambda: models.ResNet50(**{**CIFAR, "classes": 0}), "`classes` must be a positive integer, got 0"),
        (lambda: models.MobileNetV2(**CIFAR, weights="imagenet"),
         "`weights` must be None or the path of an existing weights file (keras-wht downloads nothing), got 'imagenet'"),
        (lambda: models.ResNet20(weights="/no/such/file.h5"), "got '/no/such/file.h5'"),
        (lambda: models.ResNet20(pooling="mean", include_top=False), "`pooling` must be None, 'avg' or 'max', got 'mean'"),
        (lambda: models.ResNet20((32, 32)), "`input_shape` must be (height, width, channels), got (32, 32)"),
    ],
)
def test_errors(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)


def test_mobilenet_wht2d_layers_start_with_scale_8_and_resnet_wht2d_with_the_authors():
    # A MobileNet's WHT2D (depthwise and squeeze-and-excite) starts at scale 8; ResNet's,
    # in place of a 3x3 convolution, at the authors' 1; WHT1D everywhere at random signs of 2.
    v3 = models.MobileNetV3Large(**CIFAR, wht="last-third", include_preprocessing=False)
    v2 = models.MobileNetV2(**CIFAR, wht="last-third")
    resnet = models.ResNet20(**CIFAR, wht="last-third")
    for layer in (v3.get_layer("expanded_conv_12_squeeze_excite"), v2.get_layer("block_14_depthwise")):
        np.testing.assert_array_equal(layer.scale.numpy(), np.full(layer.scale.shape, 8.0))
    np.testing.assert_array_equal(resnet.get_layer("conv4_block2_1_conv").scale.numpy(), np.ones((8, 8)))
    scale = v2.get_layer("block_14_expand").scale.numpy()
    np.testing.assert_array_equal(np.abs(scale), np.full(scale.shape, 2.0))
