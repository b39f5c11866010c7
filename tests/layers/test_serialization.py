import numpy as np
import pytest

from keras_wht._keras import keras
from keras_wht.initializers import ThresholdRamp
from keras_wht.layers import WHT1D, WHT2D, SmoothThreshold
from tests.layers.helpers import randomize

LAYERS = [
    lambda: WHT1D(),
    lambda: WHT1D(12, block_size=4, strides=2, order="sequency", name="custom"),
    lambda: WHT1D(residual=True, scale_regularizer="l2", threshold_initializer=ThresholdRamp(step=0.3)),
    lambda: WHT2D(),
    lambda: WHT2D(4, block_size=(2, 4), strides=(2, 1), per_channel=True),
    lambda: WHT2D(residual=True, threshold_regularizer=keras.regularizers.L1(0.01), scale_initializer="zeros"),
    lambda: SmoothThreshold(axis=(1, 2), threshold_initializer="zeros"),
]


def _model(make, rng):
    layer = make()
    model = keras.Sequential([keras.Input((6, 8, 8))])
    model.add(layer)
    randomize(layer, rng)
    return model, layer


@pytest.mark.parametrize("make", LAYERS)
def test_keras_file_round_trip(make, rng, tmp_path):
    model, _ = _model(make, rng)
    x = rng.standard_normal((3, 6, 8, 8)).astype(np.float32)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects: the classes are registered
    assert type(loaded.layers[0]) is type(model.layers[0])
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.layers[0].get_config() == model.layers[0].get_config()


@pytest.mark.parametrize("make", LAYERS)
def test_config_round_trip(make, rng):
    _, layer = _model(make, rng)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone.build((None, 6, 8, 8))
    clone.set_weights(layer.get_weights())
    x = rng.standard_normal((2, 6, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(clone(x).numpy(), layer(x).numpy())
    # A regularizer in the config still acts on the clone.
    assert len(clone.losses) == len(layer.losses)


def test_clone_model(rng):
    model, _ = _model(lambda: WHT2D(block_size=4), rng)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    x = rng.standard_normal((2, 6, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
