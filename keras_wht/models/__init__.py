"""MobileNetV2, MobileNetV3Large, ResNet20 and ResNet50 builders, plain or with WHT layers.

Each takes keras.applications' arguments plus `wht=`: None for the plain network, the
name of a preset, or a `Placement` saying which blocks and layers become WHT layers.
`registry` lists them by the names the command line uses.
"""

from keras_wht._checks import require_tensorflow

require_tensorflow()

from keras_wht.models.mobilenet_v2 import MobileNetV2  # noqa: E402
from keras_wht.models.mobilenet_v3_large import MobileNetV3Large  # noqa: E402
from keras_wht.models.placement import Placement  # noqa: E402
from keras_wht.models.registry import BUILDERS, build, get, names, presets  # noqa: E402
from keras_wht.models.resnet import ResNet20, ResNet50  # noqa: E402

__all__ = ["MobileNetV2", "MobileNetV3Large", "Placement", "ResNet20", "ResNet50", "BUILDERS", "build", "get",
           "names", "presets"]
