"""The Keras the layers are built on: Keras 3 (TensorFlow backend), or tf_keras when
TF_USE_LEGACY_KERAS=1, as TensorFlow itself decides (tensorflow-model-optimization
needs tf_keras). The layers use only the public API common to both."""

from keras_wht._checks import legacy_keras, require_tensorflow

require_tensorflow()

LEGACY = legacy_keras()

if LEGACY:
    import tf_keras as keras
else:
    import keras

    if keras.config.backend() != "tensorflow":
        raise ImportError(
            "keras_wht layers run on the TensorFlow backend, but KERAS_BACKEND is "
            f"{keras.config.backend()!r}: set KERAS_BACKEND=tensorflow."
        )


def walk_layers(layer):
    """Every layer nested in `layer` (models in models, and the layer inside a wrapper
    such as tfmot's QuantizeWrapper, included), depth first."""
    children = list(getattr(layer, "layers", []))
    if isinstance(layer, keras.layers.Wrapper):
        children.append(layer.layer)
    for child in children:
        yield child
        yield from walk_layers(child)


def register(cls):
    """Registers `cls` for serialization so a `.keras` file loads without custom_objects."""
    return keras.saving.register_keras_serializable(package="keras_wht")(cls)


__all__ = ["LEGACY", "keras", "register", "walk_layers"]
