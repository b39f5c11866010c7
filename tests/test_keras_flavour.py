"""Run in both test passes: the layers must be built on the Keras the environment asks for."""

import os

import pytest

from keras_wht.layers import WHT1D, WHT2D, SmoothThreshold


@pytest.mark.parametrize("cls", [WHT1D, WHT2D, SmoothThreshold])
def test_layers_subclass_the_requested_keras(cls):
    if os.environ.get("TF_USE_LEGACY_KERAS") == "1":
        import keras
        import tf_keras

        assert issubclass(cls, tf_keras.layers.Layer)
        assert not issubclass(cls, keras.layers.Layer)
    else:
        import keras

        assert issubclass(cls, keras.layers.Layer)
        assert keras.__version__.startswith("3.")


def test_other_keras_backends_get_a_clear_error():
    import subprocess
    import sys

    # Other backends need packages not installed here, so stand one in for Keras' answer.
    code = "import keras; keras.config.backend = lambda: 'jax'; import keras_wht.layers"
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "0"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert "keras_wht layers run on the TensorFlow backend, but KERAS_BACKEND is 'jax'" in result.stderr
