"""Does a second thread pay? The WHT1D and WHT2D custom ops at 1 and 2 threads, side by side.

    python benchmarks/threads.py [--repeats 60] [--dtype float32,int8] [--runtime NAME]

Each case is one layer converted with custom_ops=True (float32, and int8 through
post-training quantization), over sizes from a few thousand to millions of elements.
Three interpreters of the same model are timed in one process with their calls
interleaved (keras_wht.bench.timing, warm schedule; medians):

- "1 thread";
- "2 forced": 2 threads with KERAS_WHT_MIN_WORK_PER_THREAD=1, so the op splits its work
  however small: what a second thread gives or costs at this size;
- "2 default": 2 threads with the library's threshold (thread_pool.h, MinWorkPerThread),
  which takes the second thread only where each gets enough work.

The columns "x forced" and "x default" are the 1-thread time over the 2-thread time
(above 1: the second thread helps). The threshold is right when "x default" is never
below 1 (beyond noise) and is above 1 wherever "x forced" is. The header names the
kernels' pool (pthreadpool or built-in): build the package with
KERAS_WHT_PTHREADPOOL=OFF to measure the built-in one. Issue 14; `make bench` runs it.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from keras_wht import tflite  # noqa: E402
from keras_wht._keras import keras  # noqa: E402
from keras_wht.bench import paths, timing  # noqa: E402
from keras_wht.layers import WHT1D, WHT2D  # noqa: E402
from keras_wht.tflite.runtime import custom_ops  # noqa: E402

# (name, layer factory, input shape): elements from 4K to 10M; WHT2D's 8x8 tiles by default.
CASES = [
    ("WHT2D", WHT2D, (1, 8, 8, 64)),
    ("WHT2D", WHT2D, (1, 8, 8, 256)),
    ("WHT2D", WHT2D, (1, 8, 8, 512)),
    ("WHT2D", WHT2D, (1, 8, 8, 1024)),
    ("WHT2D", WHT2D, (2, 8, 8, 1024)),
    ("WHT2D", WHT2D, (4, 8, 8, 1024)),
    ("WHT2D", WHT2D, (10, 8, 8, 1024)),
    ("WHT2D", WHT2D, (1, 32, 32, 1024)),
    ("WHT2D", WHT2D, (4, 32, 32, 1024)),
    ("WHT1D", WHT1D, (1, 8, 8, 64)),
    ("WHT1D", WHT1D, (1, 8, 8, 256)),
    ("WHT1D", WHT1D, (1, 16, 16, 256)),
    ("WHT1D", WHT1D, (1, 16, 16, 512)),
    ("WHT1D", WHT1D, (1, 32, 32, 256)),
    ("WHT1D", WHT1D, (1, 32, 32, 1024)),
    ("WHT1D", WHT1D, (2, 32, 32, 1024)),
    ("WHT1D", WHT1D, (4, 32, 32, 1024)),
    ("WHT1D", WHT1D, (10, 32, 32, 1024)),
]
_ENV = "KERAS_WHT_MIN_WORK_PER_THREAD"


def content(make, shape, dtype):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape[1:], batch_size=shape[0]), make()])
    if dtype == "int8":
        rng = np.random.default_rng(1)
        calibration = rng.standard_normal((4 * shape[0], *shape[1:])).astype(np.float32)
        return tflite.convert(model, quantize="int8", representative_data=calibration, custom_ops=True)
    return tflite.convert(model, custom_ops=True)


def runner(buffer, shape, threads, min_work, runtime):
    """An invoke callable; the op reads the threshold when its tensors are allocated."""
    saved = os.environ.pop(_ENV, None)
    if min_work is not None:
        os.environ[_ENV] = str(min_work)
    try:
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        run = paths.tflite_runner(buffer, x, threads=threads, runtime=runtime)
        run()
    finally:
        os.environ.pop(_ENV, None)
        if saved is not None:
            os.environ[_ENV] = saved
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=60, help="timed calls of each interpreter per case")
    parser.add_argument("--dtype", default="float32,int8", help="float32, int8 or both (comma-separated)")
    parser.add_argument("--runtime", default=None, help="the TFLite runtime (default: the first installed)")
    parser.add_argument("--out", default="docs/bench/bench-threads.md", help="the Markdown file to write ('': none)")
    args = parser.parse_args(argv)
    if not custom_ops.available():
        raise SystemExit("keras-wht's kernels are not built: nothing to measure")
    from keras_wht.bench.report import environment

    cpu = environment(args.runtime)["cpu"]
    lines = []

    def say(text):
        print(text, flush=True)
        lines.append(text)

    say(f"{cpu}: kernels {custom_ops.isa()}, {custom_ops.thread_pool()} threads, {os.cpu_count()} CPUs; "
        f"medians of {args.repeats} interleaved calls; x = 1-thread ms / 2-thread ms")
    say(f"{'op':6} {'dtype':7} {'shape':>16} {'elements':>9} {'1 thread':>9} {'2 forced':>9} {'2 default':>9}"
        f" {'x forced':>8} {'x default':>9}")
    for dtype in args.dtype.split(","):
        for name, make, shape in CASES:
            buffer = content(make, shape, dtype)
            runs = [runner(buffer, shape, 1, None, args.runtime), runner(buffer, shape, 2, 1, args.runtime),
                    runner(buffer, shape, 2, None, args.runtime)]
            one, forced, default = (s * 1e3 for s in timing.interleaved(runs, repeats=args.repeats))
            say(f"{name:6} {dtype:7} {'x'.join(map(str, shape)):>16} {int(np.prod(shape)):>9} {one:9.4f}"
                f" {forced:9.4f} {default:9.4f} {one / forced:8.2f} {one / default:9.2f}")
            keras.backend.clear_session()
    if args.out:
        with open(args.out, "w") as f:
            f.write("Written by `python benchmarks/threads.py` (`make bench`); see the script's docstring.\n\n```\n"
                    + "\n".join(lines) + "\n```\n")


if __name__ == "__main__":
    main()
