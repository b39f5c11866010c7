"""The Walsh-Hadamard transform and the smooth threshold as TensorFlow graph ops."""

from keras_wht._checks import require_tensorflow

require_tensorflow()

from keras_wht.ops.channel_change import change_channels  # noqa: E402
from keras_wht.ops.fwht import crop, fwht  # noqa: E402
from keras_wht.ops.hadamard import hadamard_matrix, natural_order, sequency_permutation  # noqa: E402
from keras_wht.ops.smooth_threshold import smooth_threshold  # noqa: E402

__all__ = [
    "change_channels",
    "crop",
    "fwht",
    "hadamard_matrix",
    "natural_order",
    "sequency_permutation",
    "smooth_threshold",
]
