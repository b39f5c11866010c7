"""Keras layers: SmoothThreshold, WHT1D (replaces a 1x1 conv), WHT2D (a 3x3 conv or SE block)."""

from keras_wht._checks import require_tensorflow

require_tensorflow()

from keras_wht.layers.smooth_threshold import SmoothThreshold  # noqa: E402
from keras_wht.layers.wht1d import WHT1D  # noqa: E402
from keras_wht.layers.wht2d import WHT2D  # noqa: E402

__all__ = ["SmoothThreshold", "WHT1D", "WHT2D"]
