"""One comparison: a baseline model and the models that replace it, on the same input,
timed side by side on each execution path and thread count. Both `keras-wht bench
layers` and `bench models` are lists of these; each gives rows of one flat schema
(`report.ROW_FIELDS`)."""

import gc

from keras_wht.bench import paths as paths_
from keras_wht.bench import timing


def compare(case, models, x, *, paths, threads=(1,), schedule="warm", repeats=20, memory=True, runtime=None,
            calibration=None, converted=None, step=None):
    """Rows for `models` ({name: Keras model}, the baseline first) on input `x`.

    Args:
        case: the comparison's name, written into every row.
        models: {name: model}; the first is the baseline each speed-up is measured against.
        x: the input batch (float32, the models' input shape).
        paths: execution paths (`paths.PATHS`).
        threads: the TFLite interpreters' thread counts; the Keras paths run once, on
            TensorFlow's intra-op threads.
        schedule, repeats: how the latencies are taken (`timing.interleaved`).
        memory: also measure each TFLite model's peak memory in a fresh process (at the
            first thread count).
        runtime: the TFLite runtime (None: the Interpreter's default).
        calibration: int8 calibration inputs (default: `x` with noise).
        converted: {(model name, path): flatbuffer} of models already converted; the
            conversions made here are added to it.
        step: called with a description before each path, for progress display.
    """
    import numpy as np

    names = list(models)
    if calibration is None:
        rng = np.random.default_rng(1)
        calibration = np.concatenate([x + 0.1 * rng.standard_normal(x.shape).astype(x.dtype) for _ in range(4)])
    converted = {} if converted is None else converted
    rows = []
    common = {"case": case, "shape": list(x.shape), "schedule": schedule}
    for path in paths:
        if step:
            step(f"{case}: {path}")
        if path not in paths_.TFLITE_PATHS:
            runs = [paths_.keras_runner(models[n], path, x) for n in names]
            seconds = timing.interleaved(runs, repeats=repeats, schedule=schedule)
            rows += _rows(common, models, names, path, paths_.keras_threads(), seconds, {}, {})
            continue
        for n in names:
            if (n, path) not in converted:
                converted[n, path] = paths_.convert(models[n], path, calibration)
        contents = {n: converted[n, path] for n in names}
        for count in threads:
            runs = [paths_.tflite_runner(contents[n], x, threads=count, runtime=runtime) for n in names]
            seconds = timing.interleaved(runs, repeats=repeats, schedule=schedule)
            del runs
            gc.collect()
            peaks = {}
            if memory and count == threads[0]:
                peaks = {n: timing.peak_memory_mb(contents[n], threads=count, runtime=runtime) for n in names}
            rows += _rows(common, models, names, path, count, seconds, contents, peaks)
    return rows


def _rows(common, models, names, path, threads, seconds, contents, peaks):
    base = seconds[0]
    return [
        {
            **common,
            "model": name,
            "baseline": i == 0,
            "path": path,
            "threads": int(threads),
            "latency_ms": s * 1e3,
            "speedup": base / s,
            "parameters": int(models[name].count_params()),
            "bytes": len(contents[name]) if name in contents else None,
            "peak_mb": peaks.get(name),
        }
        for i, (name, s) in enumerate(zip(names, seconds))
    ]
