"""Keras layers: SmoothThreshold, WHT1D (replaces a 1x1 conv), WHT2D (a 3x3 conv or SE block)."""

from keras_wht.layers.smooth_threshold import SmoothThreshold
from keras_wht.layers.wht1d import WHT1D
from keras_wht.layers.wht2d import WHT2D

__all__ = ["SmoothThreshold", "WHT1D", "WHT2D"]
