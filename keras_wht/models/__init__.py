"""MobileNetV2, MobileNetV3Large, ResNet20 and ResNet50 builders, plain or with WHT layers.

Each takes keras.applications' arguments plus `wht=`: None for the plain network, the
name of a preset, or a `Placement` saying which blocks and layers become WHT layers.
"""

from keras_wht._checks import require_tensorflow

require_tensorflow()

from keras_wht.models.mobilenet_v2 import MobileNetV2  # noqa: E402
from keras_wht.models.mobilenet_v3_large import MobileNetV3Large  # noqa: E402
from keras_wht.models.placement import Placement  # noqa: E402
from keras_wht.models.resnet import ResNet20, ResNet50  # noqa: E402

# Builder and presets by the names the command line uses.
BUILDERS = {
    "mobilenet_v2": MobileNetV2,
    "mobilenet_v3_large": MobileNetV3Large,
    "resnet20": ResNet20,
    "resnet50": ResNet50,
}


def presets(model):
    """The `wht` preset names a builder accepts."""
    from keras_wht.models import mobilenet_v2, mobilenet_v3_large, resnet

    get(model)  # a clear error for a name that is not a builder's
    table = {
        "mobilenet_v2": mobilenet_v2.PRESETS,
        "mobilenet_v3_large": mobilenet_v3_large.PRESETS,
        "resnet20": resnet.RESNET20_PRESETS,
        "resnet50": resnet.RESNET50_PRESETS,
    }
    return sorted(table[model])


def get(model):
    """The builder called `model` (a BUILDERS key); a clear error lists the others."""
    if model not in BUILDERS:
        raise ValueError(f"Unknown model {model!r}; the models are: {', '.join(BUILDERS)}.")
    return BUILDERS[model]


__all__ = ["MobileNetV2", "MobileNetV3Large", "Placement", "ResNet20", "ResNet50", "BUILDERS", "get", "presets"]
