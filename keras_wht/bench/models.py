"""`keras-wht bench models`: each model builder's network, plain and with WHT layers.

Per network and input size: parameters, `.tflite` size, latency on each execution path
(the WHT networks against the plain one, side by side) and the TFLite models' peak memory.
"""

import numpy as np

from keras_wht._keras import keras
from keras_wht.models import registry

INPUT_SIZES = (32, 224)


def presets_of(model, wht):
    """The preset names `wht` selects for `model`: "paper" (the preset with the paper's
    placement), "all", or a list."""
    known = registry.presets(model)
    if wht == "paper":
        return [registry.paper_preset(model)]
    if wht == "all":
        return known
    wanted = [wht] if isinstance(wht, str) else list(wht)
    unknown = [p for p in wanted if p not in known]
    if unknown:
        raise ValueError(f"`wht` preset {unknown[0]!r} is not one of {model}'s: {', '.join(known)}.")
    return wanted


def plan(names, wht, input_sizes):
    """{model: [presets]} for `names` (None: every builder) and `wht`; checks `input_sizes`."""
    names = list(names or registry.names())
    for name in names:
        registry.get(name)
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
            networks = {preset or "plain": registry.build(name, wht=preset, input_size=size)
                        for preset in [None, *chosen[name]]}
            x = np.random.default_rng(0).uniform(0, 1, (1, size, size, 3)).astype(np.float32)
            rows += compare(f"{name} {size}x{size}", networks, x, paths=paths, threads=threads, schedule=schedule,
                            repeats=repeats, memory=memory, runtime=runtime, step=step)
            keras.backend.clear_session()
    return rows
