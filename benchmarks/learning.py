"""Why WHT networks learned slowly, and what made them learn: the experiments behind the
diagnosis in docs/MODELS.md, regenerated as one table (docs/bench/learning.md).

    python benchmarks/learning.py                  # every row, seed 0, 8 epochs
    python benchmarks/learning.py --rows mobilenet_v2 --seeds 0,1

Each row trains one network on scikit-learn's digits (offline; 1,437 training images
resized to 32x32x3) with one recipe: Adam 1e-3 with cosine decay, batch 16, batch-norm
momentum 0.9, the batch-norm statistics recomputed after training (as `keras-wht train`
does). It prints the training accuracy after each epoch, the final training loss, the test
accuracy (learning.json also keeps the seconds an epoch took, on a machine the rows
share: not a timing). Rows run in subprocesses, `--jobs` at a time, each with one
TensorFlow thread; finished rows are kept in docs/bench/learning.json, so a second
run only adds what is missing (`--fresh` starts over).

The rows separate the causes: which replaced layers slow learning (the ablation over the
preset's parts), whether the smooth threshold's shape near zero does (the plain soft
threshold in its place), whether the replaced layers must learn at all (frozen random 1x1
convolutions in their place), and the scale initialisation (the authors' ones against
random signs). A second table gives, at initialisation, each replaced layer's output
statistics and the gradient reaching it, in the plain and the WHT network.
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from training_speed import cpu_description  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TABLE = os.path.join(ROOT, "docs", "bench", "learning.md")
RESULTS = os.path.join(ROOT, "docs", "bench", "learning.json")
LAST_THIRD = list(range(12, 17))  # MobileNetV2's blocks 12-16, where paper-540k puts WHT1D

# name -> (model, wht, scale initialisation, threshold shape, what it tells). The scale
# initialisation: None or "default" (the layers' own), "ones" (the authors' everywhere),
# "signsN" (random signs of magnitude N everywhere), "frozen-conv" (the plain network,
# its convolutions that the preset replaces not trained), or a pair (WHT1D's, WHT2D's)
# of "default", "ones", "signsN" and "constN".
ROWS = {
    "mobilenet_v2 plain": ("mobilenet_v2", None, None, "paper", "the plain twin"),
    "mobilenet_v2 paper-540k, scale 1": ("mobilenet_v2", "paper-540k", "ones", "paper",
                                         "the authors' initialisation (the old default)"),
    "mobilenet_v2 expand only, scale 1": ("mobilenet_v2", {"blocks": LAST_THIRD, "layers": ["expand"]}, "ones",
                                          "paper", "ablation: which replaced layers slow learning"),
    "mobilenet_v2 project only, scale 1": ("mobilenet_v2", {"blocks": LAST_THIRD, "layers": ["project"]}, "ones",
                                           "paper", "ablation"),
    "mobilenet_v2 last conv only, scale 1": ("mobilenet_v2", {"last_conv": True}, "ones", "paper", "ablation"),
    "mobilenet_v2 paper-540k, soft threshold, scale 1": ("mobilenet_v2", "paper-540k", "ones", "soft",
                                                         "is it the threshold's shape near zero?"),
    "mobilenet_v2 paper-540k as frozen random 1x1 convs": ("mobilenet_v2", "paper-540k", "frozen-conv", "paper",
                                                           "must the replaced layers learn, or only mix?"),
    "mobilenet_v2 paper-540k, random signs x1": ("mobilenet_v2", "paper-540k", "signs1", "paper",
                                                 "mixing channels from the first step"),
    "mobilenet_v2 paper-540k, random signs x1, soft threshold": ("mobilenet_v2", "paper-540k", "signs1", "soft",
                                                                 "the threshold's shape, once channels mix"),
    "mobilenet_v2 paper-540k, random signs x4": ("mobilenet_v2", "paper-540k", "signs4", "paper",
                                                 "the magnitude"),
    "mobilenet_v2 paper-540k, default": ("mobilenet_v2", "paper-540k", "default", "paper",
                                         "keras-wht's default: WHT1D random signs x2"),
    "mobilenet_v2 last-third, WHT2D scale 1": ("mobilenet_v2", "last-third", ("default", "ones"), "paper",
                                               "WHT2D for the depthwise convs too"),
    "mobilenet_v2 last-third, default": ("mobilenet_v2", "last-third", "default", "paper",
                                         "keras-wht's default: WHT2D scale 8"),
    "mobilenet_v3_large plain": ("mobilenet_v3_large", None, None, "paper", "the plain twin"),
    "mobilenet_v3_large last-third, scale 1": ("mobilenet_v3_large", "last-third", "ones", "paper",
                                               "the authors' initialisation"),
    "mobilenet_v3_large last-third, WHT2D scale 1": ("mobilenet_v3_large", "last-third", ("default", "ones"),
                                                     "paper", "WHT1D random signs x2 alone"),
    "mobilenet_v3_large last-third-1x1, WHT2D scale 1": ("mobilenet_v3_large", "last-third-1x1",
                                                         ("default", "ones"), "paper", "ablation: no SE replaced"),
    "mobilenet_v3_large SE only, WHT2D scale 1": ("mobilenet_v3_large", {"blocks": [10, 11, 12, 13, 14],
                                                                        "layers": ["se"]}, ("default", "ones"),
                                                  "paper", "ablation: only the SE blocks replaced"),
    "mobilenet_v3_large last-third, WHT2D scale 2": ("mobilenet_v3_large", "last-third", ("default", "const2"),
                                                     "paper", "WHT2D's scale"),
    "mobilenet_v3_large last-third, default": ("mobilenet_v3_large", "last-third", "default", "paper",
                                               "keras-wht's default: WHT2D scale 8"),
    "resnet20 plain": ("resnet20", None, None, "paper", "the plain twin"),
    "resnet20 last-third, scale 1": ("resnet20", "last-third", "ones", "paper",
                                     "WHT2D only, the authors' initialisation"),
    "resnet20 last-third, default": ("resnet20", "last-third", "default", "paper",
                                     "keras-wht's default: the authors' scale 1 here"),
    "resnet20 last-third, WHT2D scale 8": ("resnet20", "last-third", ("default", "const8"), "paper",
                                           "the MobileNets' WHT2D scale, here"),
}
RECIPE = dict(dataset="digits", batch_size=16, learning_rate=1e-3, momentum=0.9)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="", help="comma-separated substrings of row names (default: all)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2, help="rows trained at once (one thread each)")
    parser.add_argument("--fresh", action="store_true", help="forget the kept results")
    parser.add_argument("--row", help=argparse.SUPPRESS)  # a subprocess: train this row
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--statistics", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.row:
        print(json.dumps(train_row(args.row, args.seed, args.epochs)))
        return
    if args.statistics:
        print(json.dumps(init_statistics()))
        return
    wanted = [name for name in ROWS if not args.rows or any(s and s in name for s in args.rows.split(","))]
    if not wanted:
        sys.exit(f"--rows {args.rows!r} matches no row; the rows are: {', '.join(ROWS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    kept = {} if args.fresh or not os.path.isfile(RESULTS) else json.load(open(RESULTS))
    todo = [(name, seed) for name in wanted for seed in seeds
            if f"{name} | seed {seed} | {args.epochs} epochs" not in kept]
    running = []
    while todo or running:
        while todo and len(running) < args.jobs:
            name, seed = todo.pop(0)
            command = [sys.executable, __file__, "--row", name, "--seed", str(seed), "--epochs", str(args.epochs)]
            running.append(((name, seed), subprocess.Popen(command, stdout=subprocess.PIPE, text=True,
                                                           env=_one_thread())))
        time.sleep(1)
        for item in [r for r in running if r[1].poll() is not None]:
            running.remove(item)
            (name, seed), process = item
            out = process.stdout.read().strip().splitlines()
            if process.returncode or not out:
                sys.exit(f"row {name!r} seed {seed} failed (exit status {process.returncode})")
            kept[f"{name} | seed {seed} | {args.epochs} epochs"] = json.loads(out[-1])
            print(f"{name}, seed {seed}: {out[-1]}", flush=True)
            _write_json(kept)
    if "statistics" not in kept or args.fresh:
        out = subprocess.run([sys.executable, __file__, "--statistics"], stdout=subprocess.PIPE, text=True,
                             env=_one_thread(), check=True).stdout.strip().splitlines()
        kept["statistics"] = json.loads(out[-1])
        _write_json(kept)
    write_table(kept, args.epochs)
    print(f"wrote {os.path.relpath(TABLE, ROOT)}")


def _one_thread():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_WHT_BENCH_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}


def _write_json(kept):
    with open(RESULTS + ".tmp", "w") as f:
        json.dump(kept, f, indent=1, sort_keys=True)
    os.replace(RESULTS + ".tmp", RESULTS)


def _tensorflow():
    import tensorflow as tf

    threads = int(os.environ.get("KERAS_WHT_BENCH_THREADS", "0"))
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    return tf


def _digits(tf):
    from keras_wht import datasets

    (x, y), (x_test, y_test) = datasets.load_digits()
    prepare = lambda images: tf.tile(tf.image.resize(images, (32, 32)), [1, 1, 1, 3]).numpy()  # noqa: E731
    return prepare(x), y, prepare(x_test), y_test


@contextlib.contextmanager
def _soft_threshold():
    """The plain soft threshold sign(z) relu(|z| - T) in place of the smooth one, for the
    control rows only (no layer of keras-wht offers it)."""
    import tensorflow as tf

    from keras_wht import ops

    smooth = ops.smooth_threshold

    def soft(x, scale, threshold):
        z = x * tf.cast(scale, x.dtype)
        return tf.sign(z) * tf.nn.relu(tf.abs(z) - tf.cast(threshold, x.dtype))

    ops.smooth_threshold = soft
    try:
        yield
    finally:
        ops.smooth_threshold = smooth


def _network(model, wht, init, seed):
    """The row's network: built, and its WHT layers' scales set as the row says."""
    from keras_wht import models
    from keras_wht._keras import keras, walk_layers
    from keras_wht.initializers import RandomSign
    from keras_wht.layers import WHT1D, WHT2D

    keras.utils.set_random_seed(seed)
    if init == "frozen-conv":  # the plain network, its convolutions that the preset replaces not trained
        replaced = {layer.name for layer in walk_layers(models.build(model, wht=wht, input_size=32))
                    if isinstance(layer, (WHT1D, WHT2D))}
        keras.utils.set_random_seed(seed)
        net = models.build(model, wht=None, input_size=32)
        for layer in walk_layers(net):
            if layer.name in replaced:
                layer.trainable = False
        return net
    net = models.build(model, wht=wht, input_size=32)
    inits = (init, init) if not isinstance(init, tuple) else init
    for layer in walk_layers(net):
        if isinstance(layer, (WHT1D, WHT2D)):
            given = inits[0] if isinstance(layer, WHT1D) else inits[1]
            if given in (None, "default"):
                continue
            shape = tuple(layer.scale.shape)
            if given == "ones":
                value = keras.ops.ones(shape)
            elif given.startswith("signs"):
                value = RandomSign(float(given[5:]))(shape)
            else:
                value = keras.ops.full(shape, float(given[5:]))
            layer.scale.assign(value)
    return net


def train_row(name, seed, epochs):
    model, wht, init, threshold, _ = ROWS[name]
    tf = _tensorflow()
    from keras_wht import training
    from keras_wht._keras import keras

    x, y, x_test, y_test = _digits(tf)
    with _soft_threshold() if threshold == "soft" else contextlib.nullcontext():
        net = _network(model, wht, init, seed)
        for layer in training._batch_norms(net):
            layer.momentum = RECIPE["momentum"]
        steps = epochs * -(-len(x) // RECIPE["batch_size"])
        rate = keras.optimizers.schedules.CosineDecay(RECIPE["learning_rate"], steps)
        net.compile(optimizer=keras.optimizers.Adam(rate), loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])
        start = time.perf_counter()
        history = net.fit(x, y, batch_size=RECIPE["batch_size"], epochs=epochs, verbose=0, shuffle=True)
        seconds = (time.perf_counter() - start) / epochs
        training.recalibrate_batch_norm(net, tf.data.Dataset.from_tensor_slices((x, y)).batch(64))
        test = net.evaluate(x_test, y_test, batch_size=256, verbose=0)[1]
    return {"parameters": int(net.count_params()), "train_accuracy": [round(a, 3) for a in history.history["accuracy"]],
            "train_loss": round(history.history["loss"][-1], 4), "test_accuracy": round(float(test), 4),
            "seconds_per_epoch": round(seconds, 1)}


def init_statistics():
    """Per replaced layer of MobileNetV2 paper-540k at initialisation, in the plain network,
    with the authors' scales and with the default: the output's standard deviation, the
    mean absolute correlation between its channels, and the norm of the loss's gradient
    with respect to it (64 digits, training mode)."""
    tf = _tensorflow()
    import numpy as np

    from keras_wht._keras import keras

    x, y, _, _ = _digits(tf)
    x, y = x[:64], y[:64]
    out = {}
    for label, wht, init in (("plain", None, None), ("scale 1", "paper-540k", "ones"),
                             ("default", "paper-540k", "default")):
        net = _network("mobilenet_v2", wht, init, 0)
        names = [f"block_{b}_{kind}" for b in (12, 13, 16) for kind in ("expand", "project")] + ["Conv_1"]
        probe = keras.Model(net.inputs, [net.get_layer(n).output for n in names] + [net.outputs[0]])
        with tf.GradientTape() as tape:
            outputs = probe(x, training=True)
            tape.watch(outputs)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, outputs[-1]))
        grads = tape.gradient(loss, outputs[:-1])
        rows = {}
        for n, a, g in zip(names, outputs, grads):
            a = a.numpy().reshape(-1, a.shape[-1])
            correlation = np.corrcoef(a[:, a.std(0) > 1e-6].T)
            off = correlation[~np.eye(len(correlation), dtype=bool)]
            rows[n] = {"std": float(a.std()), "channel_correlation": float(np.nanmean(np.abs(off))),
                       "gradient_norm": float(tf.norm(g))}
        out[label] = rows
    return out


def write_table(kept, epochs):
    import numpy as np

    cpu = cpu_description()
    lines = [
        f"# How fast WHT networks learn: {cpu}, TensorFlow CPU, 1 thread a row",
        "",
        f"Written by `python benchmarks/learning.py` (digits, 1,437 training images at 32x32x3; {epochs} epochs, "
        "Adam 1e-3 with cosine decay, batch 16, batch-norm momentum 0.9, batch-norm statistics recomputed after "
        "training). Training accuracy after epochs 1, 3, 5 and the last; mean over the seeds given.",
        "",
        "| network | parameters | seeds | train acc. ep. 1 / 3 / 5 / last | final train loss | test acc. "
        "| what it tells |",
        "|---|---:|---:|---|---:|---:|---|",
    ]
    for name, (_, _, _, _, tells) in ROWS.items():
        runs = [v for k, v in kept.items() if k.startswith(f"{name} | seed ") and k.endswith(f"| {epochs} epochs")]
        if not runs:
            continue
        acc = np.mean([r["train_accuracy"] for r in runs], axis=0)
        pick = " / ".join(f"{acc[i]:.2f}" for i in (0, 2, 4, len(acc) - 1) if i < len(acc))
        mean = lambda key: float(np.mean([r[key] for r in runs]))  # noqa: E731
        lines.append(f"| {name} | {runs[0]['parameters']:,} | {len(runs)} | {pick} | {mean('train_loss'):.3f} "
                     f"| {mean('test_accuracy'):.3f} | {tells} |")
    statistics = kept.get("statistics")
    if statistics:
        lines += ["", "## At initialisation: MobileNetV2's replaced layers (64 digits, training mode)", "",
                  "Output standard deviation, mean absolute correlation between output channels, and the norm "
                  "of the loss's gradient with respect to the output.", "",
                  "| layer | " + " | ".join(f"{label}: std / corr. / grad." for label in statistics) + " |",
                  "|---|" + "---|" * len(statistics)]
        for layer in next(iter(statistics.values())):
            cells = [f"{s[layer]['std']:.3f} / {s[layer]['channel_correlation']:.2f} / {s[layer]['gradient_norm']:.2f}"
                     for s in statistics.values()]
            lines.append(f"| {layer} | " + " | ".join(cells) + " |")
    with open(TABLE + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(TABLE + ".tmp", TABLE)


if __name__ == "__main__":
    main()
