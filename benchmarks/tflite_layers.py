"""WHT layers against the convolutions they replace, converted to TFLite: builtin ops and
keras-wht's custom ops, speed, peak memory, and the transform's own throughput.

    python benchmarks/tflite_layers.py [--threads 1] [--repeats 50] [--runtime NAME]

The paper's shapes: WHT2D against a 3x3 convolution (1024 -> 1024, same padding) on
1x8x8x1024, WHT1D against a 1x1 convolution on 1x32x32x1024. The three models of a pair
run in one process through the same runtime, so the ratios are measured side by side;
each figure is the median time of `invoke()` (inputs set beforehand), in two
schedules: "warm", rounds of a few calls of each model in turn (the first of each
round not counted), so each model finds its own data in the caches, as a layer finds
what the layer before it just wrote; and "cold", the models called alternately, so each
call starts from the caches the others left (the 3x3 convolution's 38 MB of weights
flush them). Peak memory is the
resident-set peak of a fresh process that loads the runtime and the model and runs it
once, as the paper measured RAM. The transform's throughput counts n log2 n additions
and subtractions per length-n transform (FFHT's measure: about 30 billion per second on
one x86 core). Targets: issue 5. `keras-wht bench layers` times more shapes, paths and
thread counts, and writes a report.
"""

import argparse
import ctypes
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from keras_wht import tflite  # noqa: E402
from keras_wht._keras import keras  # noqa: E402
from keras_wht.bench import paths, timing  # noqa: E402
from keras_wht.layers import WHT1D, WHT2D  # noqa: E402
from keras_wht.tflite.runtime import custom_ops  # noqa: E402

# name, input shape, the convolution, the WHT layer, speed-up targets (builtin, custom op)
PAIRS = [
    ("WHT2D vs 3x3 conv", (1, 8, 8, 1024), lambda: keras.layers.Conv2D(1024, 3, padding="same"), WHT2D, (40, 300)),
    ("WHT1D vs 1x1 conv", (1, 32, 32, 1024), lambda: keras.layers.Conv2D(1024, 1), WHT1D, (2, 20)),
]
FFHT_ADDS_PER_SECOND = 30e9

def model_bytes(layer, shape, custom_ops):
    model = keras.Sequential([keras.Input(shape[1:], batch_size=shape[0]), layer])
    return tflite.convert(model, custom_ops=custom_ops)


def invoker(content, shape, threads, runtime):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    return paths.tflite_runner(content, x, threads=threads, runtime=runtime)


def measure(runs, repeats):
    """Median ms per model: (warm, cold) schedules (see keras_wht.bench.timing)."""
    return tuple([s * 1e3 for s in timing.interleaved(runs, repeats=repeats, schedule=schedule)]
                 for schedule in ("warm", "cold"))


def fwht_throughput(n, repeats=30):
    """Billions of add/sub per second of the kernels' transform alone, rows of n in L2."""
    lib = custom_ops.library()
    lib.KerasWht_Fwht.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int]
    x = np.random.default_rng(0).standard_normal(1 << 18).astype(np.float32)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        lib.KerasWht_Fwht(x.ctypes.data, x.size // n, n)
        best = min(best, time.perf_counter() - start)
    return x.size * np.log2(n) / best / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--runtime", default=None, help="ai_edge_litert, tflite_runtime or tensorflow")
    args = parser.parse_args()
    runtime = args.runtime or tflite.runtimes()[0]
    print(f"runtime {runtime}, {args.threads} thread(s), kernels: {custom_ops.isa()}\n")
    print("| pair | shape | caches | conv ms | WHT builtin ms | WHT custom op ms | builtin speed-up "
          "| custom-op speed-up | targets |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    memory = []
    for name, shape, conv, wht, targets in PAIRS:
        contents = [model_bytes(conv(), shape, False), model_bytes(wht(), shape, False),
                    model_bytes(wht(), shape, True)]
        runs = [invoker(c, shape, args.threads, runtime) for c in contents]
        warm, cold = measure(runs, args.repeats)
        for schedule, (conv_ms, builtin_ms, custom_ms) in (("warm", warm), ("cold", cold)):
            print(f"| {name} | {'x'.join(map(str, shape))} | {schedule} | {conv_ms:.3f} | {builtin_ms:.3f} | "
                  f"{custom_ms:.3f} | {conv_ms / builtin_ms:.1f}x | {conv_ms / custom_ms:.1f}x | "
                  f"{targets[0]}x, {targets[1]}x |", flush=True)
        memory.append((name, *(timing.peak_memory_mb(c, threads=args.threads, runtime=runtime)
                               for c in (contents[0], contents[2]))))
    print("\n| pair | conv model peak MB | custom-op model peak MB | less memory | target |")
    print("|---|---:|---:|---:|---:|")
    for (name, conv_mb, custom_mb), target in zip(memory, ("50%", "-")):
        print(f"| {name} | {conv_mb:.1f} | {custom_mb:.1f} | {100 * (1 - custom_mb / conv_mb):.1f}% | {target} |")
    print("\n| transform length | billion add/sub per second | share of FFHT's ~30 | target |")
    print("|---:|---:|---:|---:|")
    for n in (64, 1024, 4096):
        rate = fwht_throughput(n)
        print(f"| {n} | {rate:.1f} | {100 * rate * 1e9 / FFHT_ADDS_PER_SECOND:.0f}% | 50% |")


if __name__ == "__main__":
    main()
