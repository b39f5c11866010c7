"""Training time: the WHT networks and layers against the plain ones they replace, in TensorFlow.

    python benchmarks/training_speed.py [--rounds 8] [--threads 2] [--models resnet20,mobilenet_v3_large]

Issue 20: a WHT layer must cost no more training time than the convolution it replaces.
Everything here runs in one process, TensorFlow's graph mode on the CPU, with
`--threads` intra-op threads and one inter-op thread. The entries of each table are timed
side by side: rounds that run a few calls of each entry in turn (the first call of each
not counted), medians over the rounds' calls, and ratios of medians, so a machine whose
speed drifts (other work on its cores) moves them together.

- Networks: one training step of `model.fit`'s own train function (Adam, sparse
  categorical cross-entropy, batch 64 of 32x32x3), the plain network against its preset
  (`last-third`).
- Layers: each WHT layer of those presets, at the shape it sees in the network, against
  the layer it replaces (a convolution, or MobileNetV3's squeeze-and-excite block):
  forward, and forward plus the gradients of the input and the weights.
- Inside a layer: the parts of ResNet20's WHT2D layers (the transform per method, the
  smooth threshold, the channel change, the pooling), forward plus gradient.

The first line of the written table names the CPU, its instruction set and TensorFlow.
`make bench` runs it.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_wht import models, ops  # noqa: E402
from keras_wht._keras import keras  # noqa: E402
from keras_wht.layers import WHT1D, WHT2D  # noqa: E402
from keras_wht.models import mobilenet_v3_large  # noqa: E402

BATCH = 64
SIZE = 32
PRESET = "last-third"


def cpu_description():
    """'model name, instruction set' from /proc/cpuinfo (the best SIMD set the CPU has)."""
    name, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and name == "unknown CPU":
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = next((label for flag, label in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"),
                                          ("sse4_2", "SSE4.2"), ("asimd", "NEON")) if flag in flags), "scalar")
    return f"{name}, {isa}"


def side_by_side(runs, *, rounds, calls=4):
    """Median milliseconds of each callable of the dict `runs`, timed in interleaved rounds."""
    for run in runs.values():
        for _ in range(2):
            run()
    samples = {key: [] for key in runs}
    for _ in range(rounds):
        for key, run in runs.items():
            for call in range(calls + 1):
                start = time.perf_counter()
                run()
                if call:
                    samples[key].append(time.perf_counter() - start)
    return {key: statistics.median(times) * 1e3 for key, times in samples.items()}


def train_step(model):
    """One call of the train function `fit` compiles for `model`: forward, gradients, Adam."""
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, *model.input_shape[1:])).astype(np.float32)
    y = rng.integers(0, model.output_shape[-1], BATCH)
    data = tf.data.Dataset.from_tensors((x, y)).repeat()
    model.fit(data, steps_per_epoch=2, epochs=1, verbose=0)  # builds model.train_function
    batches = iter(data)
    return lambda: model.train_function(batches)


def forward_and_gradient(call, weights, x):
    """(forward, forward + gradient) callables of `call` on x; the gradient is of the input
    and of `weights`, for a fixed random output gradient."""
    x = tf.constant(x)
    dy = tf.constant(np.random.default_rng(1).standard_normal(call(x).shape).astype(np.float32))

    @tf.function
    def forward(x):
        return tf.reduce_sum(call(x))

    @tf.function
    def both(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(call(x) * dy)
        return tf.add_n([tf.reduce_sum(g) for g in tape.gradient(loss, [x, *weights])])

    return (lambda: forward(x).numpy()), (lambda: both(x).numpy())


def replaced_layer(plain, wht_layer):
    """A fresh copy of the layer (or block) of the plain network that `wht_layer` replaces,
    as (description, callable on a tensor, its weights)."""
    name = wht_layer.name
    if name.endswith("squeeze_excite"):  # MobileNetV3: the whole squeeze-and-excite block
        channels = wht_layer.input.shape[-1]
        inputs = keras.Input(wht_layer.input.shape[1:])
        block = keras.Model(inputs, mobilenet_v3_large._squeeze_excite(inputs, channels, "x_"))
        return "squeeze-excite", block, block.trainable_weights
    layer = plain.get_layer(name)
    copy = type(layer).from_config(layer.get_config())
    copy.build(layer.input.shape)
    kind = f"{layer.kernel_size[0]}x{layer.kernel_size[1]} {type(layer).__name__}"
    return kind, copy, copy.trainable_weights


def network_rows(name, rounds):
    keras.utils.set_random_seed(0)
    plain = models.build(name, input_size=SIZE)
    wht = models.build(name, wht=PRESET, input_size=SIZE)
    times = side_by_side({"plain": train_step(plain), "wht": train_step(wht)}, rounds=rounds)
    rows = [(f"{name} {PRESET}, train step, batch {BATCH}", times["plain"], times["wht"])]
    seen = set()
    for layer in wht.layers:
        if not isinstance(layer, (WHT1D, WHT2D)):
            continue
        shape = (BATCH, *layer.input.shape[1:])
        key = (type(layer).__name__, shape, json_config(layer))
        if key in seen:
            continue
        seen.add(key)
        kind, other, other_weights = replaced_layer(plain, layer)
        fresh = type(layer).from_config(layer.get_config())
        fresh.build(shape)
        x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
        runs = {}
        runs["plain fwd"], runs["plain f+g"] = forward_and_gradient(other, other_weights, x)
        runs["wht fwd"], runs["wht f+g"] = forward_and_gradient(fresh, fresh.trainable_weights, x)
        t = side_by_side(runs, rounds=rounds)
        out = fresh.compute_output_shape(shape)[-1]
        label = f"  {layer.name}: {type(layer).__name__} vs {kind}, {'x'.join(map(str, shape))} -> {out}"
        rows.append((label + ", forward", t["plain fwd"], t["wht fwd"]))
        rows.append((label + ", forward+gradient", t["plain f+g"], t["wht f+g"]))
    keras.backend.clear_session()
    return rows


def json_config(layer):
    config = layer.get_config()
    config.pop("name", None)
    return repr(sorted(config.items()))


def part_rows(rounds):
    """Forward+gradient of the parts of ResNet20's WHT2D layers, 8x8x64 and the stride-2 one."""
    rows = []
    for shape, filters, strides in (((BATCH, 16, 16, 32), 64, 2), ((BATCH, 8, 8, 64), 64, 1)):
        layer = WHT2D(filters, strides=strides)
        layer.build(shape)
        x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
        grown = ops.change_channels(tf.constant(x), filters).numpy()
        tiled = grown.reshape([BATCH, *layer._tiled_shape[1:]])
        parts = {
            "whole layer": (layer, layer.trainable_weights, x),
            "channel change": (lambda t: ops.change_channels(t, filters), [], x),
            "smooth threshold": (layer.smooth_threshold, layer.smooth_threshold.trainable_weights, tiled),
        }
        if strides > 1:
            parts["average pool"] = (lambda t: tf.nn.avg_pool2d(t, strides, strides, "SAME"), [], grown)
        for method in ("auto", "dense", "kronecker", "butterfly"):
            parts[f"fwht (1, 2) {method}"] = (lambda t, m=method: ops.fwht(t, (1, 2), method=m), [], grown)
        runs = {key: forward_and_gradient(*value)[1] for key, value in parts.items()}
        t = side_by_side(runs, rounds=rounds)
        where = f"WHT2D({filters}, strides={strides}) on {'x'.join(map(str, shape))}"
        rows += [(f"{where}: {key}", value) for key, value in t.items()]
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds (4 timed calls each)")
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow intra-op threads")
    parser.add_argument("--models", default="resnet20,mobilenet_v3_large", help="comma-separated builders")
    parser.add_argument("--out", default="docs/bench/bench-training.md", help="the Markdown file to write ('': none)")
    args = parser.parse_args(argv)
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    lines = []

    def say(text):
        print(text, flush=True)
        lines.append(text)

    say(f"{cpu_description()}; TensorFlow {tf.__version__}, Keras {keras.__version__}, graph mode, "
        f"{args.threads} intra-op threads, 1 inter-op; medians of {args.rounds} interleaved rounds of 4 calls")
    say("")
    say(f"{'what':100} {'plain ms':>9} {'WHT ms':>9} {'ratio':>6}")
    for name in args.models.split(","):
        for label, plain, wht in network_rows(name, args.rounds):
            say(f"{label:100} {plain:9.3f} {wht:9.3f} {wht / plain:6.2f}")
    say("")
    say(f"{'inside a layer, forward+gradient':100} {'ms':>9}")
    for label, value in part_rows(args.rounds):
        say(f"{label:100} {value:9.3f}")
    if args.out:
        with open(args.out, "w") as f:
            f.write(lines[0] + "\n\nWritten by `python benchmarks/training_speed.py` (`make bench`); see the "
                    "script's docstring. Ratio: WHT ms / plain ms.\n\n```\n" + "\n".join(lines[2:]) + "\n```\n")


if __name__ == "__main__":
    main()
