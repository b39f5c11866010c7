"""Models under a dtype policy other than float32 convert through a float32 twin."""

import numpy as np

from keras_wht._keras import keras, walk_layers
from keras_wht.tflite.conversion import compat

_OFF_FLOAT32 = ("float16", "bfloat16", "float64")


def float32_twin(model):
    """`model`, or where any layer computes or keeps weights in float16, bfloat16 or
    float64 (a dtype policy), a copy of it with every layer in float32 and the same
    weights cast to float32. The global dtype policy is left as it was."""
    if not any(_off_float32(layer) for layer in [model, *walk_layers(model)]):
        return model
    if not isinstance(model, (keras.Sequential, compat.functional_class())):
        policies = sorted({layer.dtype_policy.name for layer in walk_layers(model) if _off_float32(layer)})
        raise ValueError(
            f"convert() converts a model with dtype policy {', '.join(policies)} through a float32 copy of it, "
            f"which needs a Sequential or functional model, got a {type(model).__name__}: build the model under the "
            "float32 policy (keras.mixed_precision.set_dtype_policy('float32')) and load the trained weights into it."
        )

    def float32_layer(layer):
        config = layer.get_config()
        if _off_float32(layer):
            config["dtype"] = "float32"
        return type(layer).from_config(config)

    previous = keras.config.dtype_policy() if hasattr(keras, "config") else None
    keras.mixed_precision.set_dtype_policy("float32")
    try:
        twin = keras.models.clone_model(model, clone_function=float32_layer, recursive=True)
    finally:
        if previous is not None:
            keras.config.set_dtype_policy(previous)
    if len(twin.weights) != len(model.weights) or any(
            tuple(a.shape) != tuple(b.shape) for a, b in zip(twin.weights, model.weights)):
        raise RuntimeError(f"convert(): the float32 copy of {model.name!r} does not have the model's weights.")
    for mine, theirs in zip(twin.weights, model.weights):
        mine.assign(np.asarray(theirs).astype(np.dtype(_dtype_name(mine.dtype))))
    return twin


def lowest(model):
    """The lowest float precision a layer of `model` computes in, when below float32
    ("float16" or "bfloat16"), else None."""
    dtypes = {_dtype_name(layer.dtype_policy.compute_dtype)
              for layer in [model, *walk_layers(model)] if getattr(layer, "dtype_policy", None) is not None}
    for dtype in ("float16", "bfloat16"):
        if dtype in dtypes:
            return dtype
    return None


def _dtype_name(dtype):
    return getattr(dtype, "name", None) or str(dtype)


def _off_float32(layer):
    policy = getattr(layer, "dtype_policy", None)
    if policy is None:
        return False
    dtypes = {_dtype_name(getattr(policy, "compute_dtype", None)), _dtype_name(getattr(policy, "variable_dtype", None))}
    return bool(dtypes & set(_OFF_FLOAT32))
