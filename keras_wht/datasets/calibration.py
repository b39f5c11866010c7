"""Calibration inputs for int8 conversion (`keras-wht convert --calibration`): a data
set's training images brought to the model's input, or a .npy file's arrays."""

import os

import numpy as np


def calibration_inputs(name, input_shape, count=128, *, option="--calibration"):
    """`count` float32 inputs of `input_shape` (the model's, batch excluded; None where any
    size goes): a data set's (a name or a path, as `keras_wht.datasets.load` takes)
    first training images resized to it, grey ones repeated to its channels, or a .npy
    file's first `count`. Raises ValueError naming `option` and the value unless they fit
    the model."""
    from keras_wht import datasets

    input_shape = tuple(input_shape)
    if not name.endswith(".npy"):
        if len(input_shape) != 3 or None in input_shape:
            raise ValueError(f"`{option}` {name!r} holds images (height, width, channels), the model takes "
                             f"{_shape(input_shape)}: give a .npy file")
        import tensorflow as tf

        if name not in datasets.NAMES and not os.path.exists(name):
            raise ValueError(f"`{option}` must be a data set ({', '.join(datasets.NAMES)}, a folder of class "
                             f"folders or an .npz file) or a .npy file of inputs, got {name!r}.")
        height, width, channels = input_shape
        (x, _), _, _ = datasets.load(name, input_size=max(height, width), option=option)
        if x.shape[-1] not in (1, channels):
            raise ValueError(f"`{option}` {name!r} holds images of {x.shape[-1]} channels, the model takes "
                             f"{channels}")
        x = tf.image.resize(x[:count], (height, width)).numpy()
        return np.tile(x, (1, 1, 1, channels // x.shape[-1]))
    x = _load_npy(name, option)
    if x.ndim < 1 or x.ndim != len(input_shape) + 1 or any(
            want is not None and got != want for got, want in zip(x.shape[1:], input_shape)):
        held = f"arrays of shape {tuple(x.shape[1:])}" if x.ndim >= 1 else "a single number"
        raise ValueError(f"`{option}` {name!r} holds {held}, the model takes {_shape(input_shape)}")
    x = x[:count]
    if len(x) == 0:
        raise ValueError(f"`{option}` {name!r} holds no samples (an array of shape {x.shape})")
    bad = int(np.count_nonzero(~np.isfinite(x)))
    if bad:
        raise ValueError(f"`{option}` {name!r} holds NaN or infinite values ({bad:,} of {x.size:,} in the first "
                         f"{len(x)} samples)")
    return x


def _shape(shape):
    return "(" + ", ".join("any" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _load_npy(path, name):
    """The float32 array in the .npy file `path`, or ValueError naming `name` and `path`."""
    if os.path.isdir(path):
        raise ValueError(f"`{name}` {path!r} is a folder, not a .npy file")
    if not os.path.isfile(path):
        raise ValueError(f"`{name}` {path!r} does not exist")
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
            f.seek(0)
            x = np.load(f, allow_pickle=False) if magic == b"\x93NUMPY" else None
    except (OSError, EOFError) as err:
        raise ValueError(f"`{name}` {path!r} does not read: {err}") from err
    except ValueError as err:  # a damaged header or a short file
        raise ValueError(f"`{name}` {path!r} is not a valid .npy file: {' '.join(str(err).split())}") from err
    if x is None:
        raise ValueError(f"`{name}` {path!r} is not a .npy file (saved by numpy.save)")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"`{name}` {path!r} holds {x.dtype} values, not real numbers")
    return x.astype(np.float32)
