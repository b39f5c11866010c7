"""Times each formulation of keras_wht.ops.fwht per block size; writes the table of winners.

    python benchmarks/fwht_formulations.py [--out benchmarks/FORMULATIONS.md] [--repeats 30]

Two layouts, each 2**20 float32 elements in a tf.function (CPU, TF's default threads):
"last" transforms the last axis (the 1-D layer over channels), "middle" an axis with 256
elements after it (the 2-D layer over H of an NHWC tensor). Formulations are timed
interleaved, so load on the machine hits all of them alike; the median is reported.
"""

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_wht.ops import fwht  # noqa: E402
from keras_wht.ops.fwht import METHODS, choose_method  # noqa: E402

SIZES = [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
ELEMENTS = 2**20
LAYOUTS = {"last": 1, "middle": 256}


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def time_methods(b, inner, repeats):
    x = tf.constant(np.random.default_rng(0).standard_normal((ELEMENTS // (b * inner), b, inner)), tf.float32)
    methods = [m for m in METHODS if m != "auto"]
    fns = {m: tf.function(lambda t, m=m: fwht(t, axis=1, method=m)) for m in methods}
    for fn in fns.values():
        fn(x).numpy()  # trace and warm up
    samples = {m: [] for m in methods}
    for _ in range(repeats):
        for m, fn in fns.items():
            start = time.perf_counter()
            fn(x).numpy()
            samples[m].append(time.perf_counter() - start)
    return {m: statistics.median(s) * 1e3 for m, s in samples.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "FORMULATIONS.md"))
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    lines = [
        "# FWHT formulations: time per call (ms, median), fastest in bold",
        "",
        "Made by `python benchmarks/fwht_formulations.py` "
        f"on {_cpu_name()}, {os.cpu_count()} cores, TensorFlow {tf.__version__}; "
        f"{ELEMENTS} float32 elements per call. `auto` is what `fwht` picks today.",
        "",
    ]
    for layout, inner in LAYOUTS.items():
        lines += [
            f"## layout `{layout}` (transformed axis followed by {inner} element(s))",
            "",
            "| block | dense | kronecker | butterfly | winner | auto |",
            "|---:|---:|---:|---:|:--|:--|",
        ]
        for b in SIZES:
            times = time_methods(b, inner, args.repeats)
            best = min(times, key=times.get)
            cells = [f"**{t:.2f}**" if m == best else f"{t:.2f}" for m, t in times.items()]
            lines.append(f"| {b} | " + " | ".join(cells) + f" | {best} | {choose_method(b, inner)} |")
            print(lines[-1], flush=True)
        lines.append("")
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
