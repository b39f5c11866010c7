from keras_wht._keras import keras
from keras_wht.models import registry


def test_every_model_is_listed_once_with_its_papers_preset():
    assert registry.names() == list(registry.BUILDERS) == ["mobilenet_v2", "mobilenet_v3_large", "resnet20",
                                                           "resnet50"]
    for name in registry.names():
        assert registry.paper_preset(name) in registry.presets(name)


def test_build_takes_square_images_in_0_1():
    model = registry.build("mobilenet_v3_large", wht="last-third", input_size=32, classes=7)
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 7)
    assert not any(isinstance(layer, keras.layers.Rescaling) for layer in model.layers)  # no [0, 255] input
    with_rescaling = registry.get("mobilenet_v3_large")((32, 32, 3), classes=7, wht="last-third")
    assert model.count_params() == with_rescaling.count_params()
