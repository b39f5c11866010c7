"""`keras-wht bench models`: each model builder's network, plain and with WHT layers.

Per network and input size: parameters, `.tflite` size, latency on each execution path
(the WHT networks against the plain one, side by side) and the TFLite models' peak memory.
"""

import numpy as np

from keras_wht import models as builders
from keras_wht._keras import keras

# The WHT preset each builder is benchmarked with by default: the paper's placement.
PAPER_PRESETS = {
    "mobilenet_v2": "paper-540k",
    "mobilenet_v3_large": "last-third",
    "resnet20": "last-third",
    "resnet50": "last-third",
}
INPUT_SIZES = (32, 224)


def presets_of(model, wht):
    """The preset names `wht` selects for `model`: "paper" (PAPER_PRESETS), "all", or a list."""
    known = builders.presets(model)
    if wht == "paper":
        return [PAPER_PRESETS[model]]
    if wht == "all":
        return known
    wanted = [wht] if isinstance(wht, str) else list(wht)
    unknown = [p for p in wanted if p not in known]
    if unknown:
        raise ValueError(f"`wht` preset {unknown[0]!r} is not one of {model}'s: {', '.join(known)}.")
    return wanted


def build(model, wht, size, classes=10):
    """`model`'s network for size x size x 3 inputs, plain (wht=None) or with a preset."""
    extra = {"include_preprocessing": False} if model == "mobilenet_v3_large" else {}
    return builders.get(model)((size, size, 3), classes=classes, wht=wht, **extra)


def plan(names, wht, input_sizes):
    """{model: [presets]} for `names` (None: every builder) and `wht`; checks `input_sizes`."""
    names = list(names or builders.BUILDERS)
    for name in names:
        builders.get(name)
    for size in input_sizes:
        if not isinstance(size, int) or size < 32:
            raise ValueError(f"`input_sizes` must be integers of at least 32, got {size!r}.")
    return {name: presets_of(name, wht) for name in names}


def run(names=None, *, wht="paper", input_sizes=INPUT_SIZES, paths, threads=(1,), schedule="warm", repeats=20,
        memory=True, runtime=None, step=None):
    """Rows (`report.ROW_FIELDS`) for each network: see `compare.compare`; "plain" is the baseline."""
    from keras_wht.bench.compare import compare

    chosen = plan(names, wht, input_sizes)
    rows = []
    for size in input_sizes:
        for name in chosen:
            keras.utils.set_random_seed(0)
            networks = {"plain": build(name, None, size)}
            networks.update({preset: build(name, preset, size) for preset in chosen[name]})
            x = np.random.default_rng(0).uniform(0, 1, (1, size, size, 3)).astype(np.float32)
            rows += compare(f"{name} {size}x{size}", networks, x, paths=paths, threads=threads, schedule=schedule,
                            repeats=repeats, memory=memory, runtime=runtime, step=step)
            keras.backend.clear_session()
    return rows
