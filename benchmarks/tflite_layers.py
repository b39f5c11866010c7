"""WHT layers against the convolutions they replace, converted to TFLite (builtin ops).

    python benchmarks/tflite_layers.py [--threads 1] [--repeats 50] [--runtime NAME]

The paper's shapes: WHT2D against a 3x3 convolution (1024 -> 1024, same padding) on
1x8x8x1024, WHT1D against a 1x1 convolution on 1x32x32x1024. Each pair runs interleaved
in one process through the same runtime, so the ratio is measured side by side; the
median invoke time is reported. Targets (issue 4): at least 40x and 2x.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from keras_wht import tflite  # noqa: E402
from keras_wht._keras import keras  # noqa: E402
from keras_wht.layers import WHT1D, WHT2D  # noqa: E402

PAIRS = [
    ("WHT2D vs 3x3 conv", (1, 8, 8, 1024), lambda: keras.layers.Conv2D(1024, 3, padding="same"), WHT2D, 40.0),
    ("WHT1D vs 1x1 conv", (1, 32, 32, 1024), lambda: keras.layers.Conv2D(1024, 1), WHT1D, 2.0),
]


def interpreter(layer, shape, threads, runtime):
    model = keras.Sequential([keras.Input(shape[1:], batch_size=shape[0]), layer])
    it = tflite.Interpreter(model_content=tflite.convert(model), num_threads=threads, runtime=runtime)
    index = it.get_input_details()[0]["index"]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)

    def run():
        it.set_tensor(index, x)
        it.invoke()

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--runtime", default=None, help="ai_edge_litert, tflite_runtime or tensorflow")
    args = parser.parse_args()
    print(f"| pair | shape | conv ms | WHT ms | speed-up | target | runtime, threads |")
    print("|---|---|---:|---:|---:|---:|---|")
    for name, shape, conv, wht, target in PAIRS:
        runs = [interpreter(conv(), shape, args.threads, args.runtime), interpreter(wht(), shape, args.threads, args.runtime)]
        for run in runs:
            for _ in range(5):
                run()
        samples = [[], []]
        for _ in range(args.repeats):
            for run, times in zip(runs, samples):
                start = time.perf_counter()
                run()
                times.append(time.perf_counter() - start)
        conv_ms, wht_ms = (statistics.median(t) * 1e3 for t in samples)
        runtime = args.runtime or tflite.runtimes()[0]
        print(f"| {name} | {'x'.join(map(str, shape))} | {conv_ms:.3f} | {wht_ms:.3f} | {conv_ms / wht_ms:.1f}x | "
              f"{target:.0f}x | {runtime}, {args.threads} |", flush=True)


if __name__ == "__main__":
    main()
