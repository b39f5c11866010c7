import numpy as np


def randomize(layer, rng):
    """Random scale of either sign, 0.5 to 2 in magnitude (WHT1D starts with random signs), and
    threshold in [0, 0.5]; returns them as float64 arrays."""
    scale = rng.uniform(0.5, 2.0, layer.scale.shape) * rng.choice([-1.0, 1.0], layer.scale.shape)
    threshold = rng.uniform(0.0, 0.5, layer.threshold.shape)
    layer.scale.assign(scale.astype(np.float32))
    layer.threshold.assign(threshold.astype(np.float32))
    return scale.astype(np.float32).astype(np.float64), threshold.astype(np.float32).astype(np.float64)
