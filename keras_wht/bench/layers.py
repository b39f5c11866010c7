"""`keras-wht bench layers`: the paper's layer test and its neighbours.

Each case times one layer, as a one-layer model, against the convolution it replaces:
WHT2D against a 3x3 convolution (same padding, as many output channels as inputs) and a
squeeze-and-excite block, WHT1D against a 1x1 convolution. The paper's shapes are 8x8x1024
for the 2-D layer and 32x32x1024 for the 1-D one; "full" adds other shapes and block
sizes, "tiny" is a smoke test. One image per call by default, as a layer in a network on
a device sees it; the paper timed batches of 10 (`batch`).
"""

import numpy as np

from keras_wht._keras import keras
from keras_wht.bench.compare import compare
from keras_wht.layers import WHT1D, WHT2D


def _conv(kernel):
    return lambda shape: keras.layers.Conv2D(shape[-1], kernel, padding="same")


def _squeeze_excite(shape):
    """MobileNetV3's squeeze-and-excite block (channels / 4 in the middle, hard sigmoid)."""
    from keras_wht.models.mobilenet_v3_large import _squeeze_excite as block

    inputs = keras.Input(shape[1:], batch_size=shape[0])
    return keras.Model(inputs, block(inputs, shape[-1], prefix="se_"), name="squeeze_excite")


def _2d(shape, *blocks):
    models = {"conv3x3": _conv(3), "squeeze-excite": _squeeze_excite, "WHT2D": lambda s: WHT2D()}
    for b in blocks:
        models[f"WHT2D {b}x{b} tiles"] = lambda s, b=b: WHT2D(block_size=(b, b))
    return f"2-D {'x'.join(map(str, shape[1:]))}", shape, models


def _1d(shape, *blocks):
    models = {"conv1x1": _conv(1), "WHT1D": lambda s: WHT1D()}
    for b in blocks:
        models[f"WHT1D blocks of {b}"] = lambda s, b=b: WHT1D(block_size=b)
    return f"1-D {'x'.join(map(str, shape[1:]))}", shape, models


PAPER = [_2d((1, 8, 8, 1024)), _1d((1, 32, 32, 1024))]
SIZES = {
    "paper": PAPER,
    "full": PAPER + [_2d((1, 16, 16, 256), 8), _2d((1, 32, 32, 64), 8), _1d((1, 16, 16, 512), 64),
                     _1d((1, 8, 8, 1280), 256)],
    "tiny": [_2d((1, 4, 4, 16), 2), _1d((1, 4, 4, 16), 4)],
}


def cases(size, batch=1):
    """The (name, shape, {model: factory}) cases of `size` ("paper", "full" or "tiny"), for
    inputs of `batch` images (the paper timed batches of 10)."""
    if size not in SIZES:
        raise ValueError(f"`size` must be one of {', '.join(SIZES)}, got {size!r}.")
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"`batch` must be an integer of at least 1, got {batch!r}.")
    if batch == 1:
        return SIZES[size]
    return [(f"{name}, batch {batch}", (batch, *shape[1:]), factories) for name, shape, factories in SIZES[size]]


def _model(factory, shape):
    made = factory(shape)
    if isinstance(made, keras.Model):
        return made
    return keras.Sequential([keras.Input(shape[1:], batch_size=shape[0]), made])


def run(size="full", *, batch=1, paths, threads=(1,), schedule="warm", repeats=50, memory=True, runtime=None,
        step=None):
    """Rows (`report.ROW_FIELDS`) for every case of `size` at `batch`: see `compare.compare`."""
    rows = []
    for name, shape, factories in cases(size, batch):
        keras.utils.set_random_seed(0)
        models = {model: _model(factory, shape) for model, factory in factories.items()}
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        rows += compare(name, models, x, paths=paths, threads=threads, schedule=schedule, repeats=repeats,
                        memory=memory, runtime=runtime, step=step)
        keras.backend.clear_session()
    return rows
