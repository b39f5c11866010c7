"""The Walsh-Hadamard transform and the smooth threshold as TensorFlow graph ops."""

from keras_wht.ops.channel_change import change_channels
from keras_wht.ops.fwht import crop, fwht
from keras_wht.ops.hadamard import hadamard_matrix, sequency_permutation
from keras_wht.ops.smooth_threshold import smooth_threshold

__all__ = [
    "change_channels",
    "crop",
    "fwht",
    "hadamard_matrix",
    "sequency_permutation",
    "smooth_threshold",
]
