"""Latency measured side by side, and peak memory measured in a fresh process.

The models being compared are timed in one process, through the same runtime, with
their calls interleaved, so that a machine whose speed drifts moves them together and
their ratio holds. Two schedules:

- "warm": rounds of a few calls of each model in turn (the first call of each round
  not counted), so each model finds its own data in the caches, as a layer in a network
  finds what the layer before it just wrote;
- "cold": the models called alternately, so each call starts from the caches the others
  left (a 3x3 convolution's weights flush them).
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

SCHEDULES = ("warm", "cold")

# VmHWM, the resident-set peak of this process (ru_maxrss would carry over the parent's
# peak across fork and exec): interpreter creation, tensor allocation and one invoke.
_PEAK_SCRIPT = """
import sys
import numpy as np
from keras_wht.tflite import Interpreter
it = Interpreter(model_path=sys.argv[1], num_threads=int(sys.argv[2]), runtime=sys.argv[3] or None)
for detail in it.get_input_details():
    it.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
it.invoke()
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def interleaved(runs, *, repeats, schedule="warm", warmup=3, round_size=5):
    """Median seconds of each callable in `runs`, timed side by side (see the module)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"`schedule` must be one of {SCHEDULES}, got {schedule!r}.")
    if repeats < 1:
        raise ValueError(f"`repeats` must be at least 1, got {repeats}.")
    for run in runs:
        for _ in range(warmup):
            run()
    samples = [[] for _ in runs]
    if schedule == "warm":
        for _ in range(max(1, -(-repeats // round_size))):
            for run, times in zip(runs, samples):
                for call in range(round_size + 1):
                    start = time.perf_counter()
                    run()
                    if call:
                        times.append(time.perf_counter() - start)
    else:
        for _ in range(repeats):
            for run, times in zip(runs, samples):
                start = time.perf_counter()
                run()
                times.append(time.perf_counter() - start)
    return [statistics.median(times) for times in samples]


def peak_memory_mb(content, *, threads=1, runtime=None):
    """Peak resident memory (MB) of a fresh Python process that loads a TFLite runtime,
    creates an interpreter for `content` (with the custom ops if it has them), allocates
    its tensors and runs it once: the paper's measure of a layer's RAM."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.tflite")
        with open(path, "wb") as f:
            f.write(content)
        done = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, path, str(threads), runtime or ""],
                              capture_output=True, text=True)
    if done.returncode:
        reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"the peak-memory process failed (exit {done.returncode}): {reason}")
    return int(done.stdout.split()[-1]) / 1024
