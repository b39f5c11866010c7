import numpy as np
import pytest

from keras_wht import models
from keras_wht._keras import keras
from keras_wht.layers import WHT1D, WHT2D
from keras_wht.models import transfer

SMALL = dict(input_shape=(8, 8, 3), classes=10)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A plain ResNet20 with weights no initialiser gives (every weight shifted), saved both ways."""
    keras.utils.set_random_seed(5)
    model = models.ResNet20(**SMALL)
    model.set_weights([w + 0.5 for w in model.get_weights()])
    folder = tmp_path_factory.mktemp("plain")
    model.save(str(folder / "model.keras"))
    model.save_weights(str(folder / "plain.weights.h5"))
    return model, folder


def _fresh(**kwargs):
    keras.utils.set_random_seed(9)  # every call: the same initialisation
    return models.ResNet20(**{**SMALL, **kwargs}, wht="last-third")


@pytest.mark.parametrize("source", ["model.keras", "plain.weights.h5", "."])
def test_a_wht_variant_keeps_every_layer_that_was_not_replaced(plain, source):
    model, folder = plain
    fresh = _fresh()
    if source == ".":  # a run folder: its model.keras
        loaded = _fresh()
        report = transfer.copy_weights(loaded, str(folder), name="--init-from")
    else:
        keras.utils.set_random_seed(9)
        loaded = models.ResNet20(**SMALL, wht="last-third", weights=str(folder / source))
        report = transfer.copy_weights(_fresh(), str(folder / source), twin=lambda: models.ResNet20(**SMALL))
    assert str(report) == "copied 37 of 43 layers; 6 replaced by WHT layers kept their initialisation"
    replaced = {layer.name for layer in loaded.layers if isinstance(layer, (WHT1D, WHT2D))}
    assert set(report.replaced) == replaced and len(replaced) == 6
    source_layers = {layer.name: layer for layer in model.layers}
    for layer, new in zip(loaded.layers, fresh.layers):
        if not layer.weights:
            continue
        if layer.name in replaced:  # the initialisation, untouched
            for a, b in zip(layer.get_weights(), new.get_weights()):
                np.testing.assert_array_equal(a, b)
        else:  # the plain network's, which no initialiser gives
            assert layer.name in report.copied
            for a, b in zip(layer.get_weights(), source_layers[layer.name].get_weights()):
                np.testing.assert_array_equal(a, b)


def test_the_same_variant_loads_whole_from_either_file(tmp_path, rng):
    source = _fresh()
    source.set_weights([w - 0.25 for w in source.get_weights()])
    source.save(str(tmp_path / "wht.keras"))
    source.save_weights(str(tmp_path / "wht.weights.h5"))
    x = rng.uniform(0, 1, (2, 8, 8, 3)).astype(np.float32)
    for name in ("wht.keras", "wht.weights.h5"):
        loaded = models.build("resnet20", wht="last-third", input_size=8, weights=str(tmp_path / name))
        np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(source(x)), atol=1e-6)


def test_a_plain_network_into_a_plain_one_stays_exact(plain):
    model, folder = plain
    loaded = models.ResNet20(**SMALL, weights=str(folder / "plain.weights.h5"))
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="could not be loaded"):  # Keras' own refusal, as before
        models.ResNet20((8, 8, 3), classes=3, weights=str(folder / "plain.weights.h5"))


def test_refusals_name_the_argument_and_the_file_and_copy_nothing(plain, tmp_path):
    _, folder = plain
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="elsewhere")])
    other.save(str(tmp_path / "other.keras"))
    confusing = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Dense(16, name="conv1_conv")])
    confusing.save(str(tmp_path / "confusing.keras"))
    keras_file, h5 = str(folder / "model.keras"), str(folder / "plain.weights.h5")
    cases = [
        (dict(classes=3), keras_file, f"`weights` '{keras_file}' does not fit this network (another model, input "
                                      "size or number of classes?): layer 'predictions' has weights of shapes "
                                      "[(64, 10), (10,)] there, [(64, 3), (3,)] here"),
        (dict(classes=3), h5, f"`weights` '{h5}' does not fit this network (another model, input size or number of "
                              "classes?): it holds the weights of neither its plain twin nor itself"),
        ({}, str(tmp_path / "other.keras"), f"`weights` '{tmp_path}/other.keras' shares no layer with this network"),
        ({}, str(tmp_path / "confusing.keras"), f"`weights` '{tmp_path}/confusing.keras' does not fit this network: "
                                                "its layer 'conv1_conv' is a Dense, here a Conv2D"),
    ]
    for kwargs, path, message in cases:
        with pytest.raises(ValueError) as info:
            models.ResNet20(**{**SMALL, **kwargs}, wht="last-third", weights=path)
        assert message in str(info.value)
    target = _fresh(classes=3)
    before = target.get_weights()
    with pytest.raises(ValueError, match="'predictions' has weights of shapes"):
        transfer.copy_weights(target, keras_file)
    for a, b in zip(target.get_weights(), before):  # the layers before 'predictions' too: nothing half-copied
        np.testing.assert_array_equal(a, b)


def test_sources_that_are_not_weights_files(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    for source, message in [
        (str(tmp_path / "run"), f"`--init-from` '{tmp_path}/run' is a folder without model.keras (not a finished `keras-wht train` run)"),
        (str(tmp_path / "missing.keras"), f"`--init-from` '{tmp_path}/missing.keras' does not exist"),
        (str(tmp_path / "notes.txt"), f"`--init-from` '{tmp_path}/notes.txt' is neither a .keras nor a .weights.h5 "
                                      "file"),
        (3, "`--init-from` must be the path of a .keras or .weights.h5 file or of a run folder, got 3."),
    ]:
        with pytest.raises(ValueError) as info:
            transfer.check_source(source, "--init-from")
        assert str(info.value) == message


def test_layers_the_source_lacks_keep_their_initialisation(plain):
    _, folder = plain
    head = models.ResNet20(**SMALL, wht={"blocks": [8], "layers": ["conv2"], "head": True})
    report = transfer.copy_weights(head, str(folder / "model.keras"))
    assert report.missing == ("head_wht2d",) and report.replaced == ("conv4_block3_2_conv",)
    assert str(report) == ("copied 42 of 44 layers; 1 replaced by WHT layers kept their initialisation; 1 not in the "
                           "source kept theirs (head_wht2d)")
