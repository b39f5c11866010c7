"""Runs .tflite files through keras_wht.tflite.Interpreter in a process without TensorFlow.

    python tests/tflite/mutant_runner.py FOLDER RESULTS RUNTIME

For each file in FOLDER (sorted by name), in order, writes one line to RESULTS: the file
name, then "ok", "ValueError: <message>" or "other <type>: <message>". The name is
flushed before the model is loaded and the outcome after it ran, so when a model crashes
the process, the last line names it. Exits 3 if TensorFlow was imported.
"""

import os
import subprocess
import sys

import numpy as np

# Inputs above this many elements are not made (a damaged shape can ask for terabytes).
MAX_INPUT_ELEMENTS = 1 << 24


def mutants(content, count, rng):
    """`count` damaged copies: bytes flipped, the file cut short, or int32 words overwritten."""
    for i in range(count):
        data = bytearray(content)
        kind = ("flip", "cut", "int32")[i % 3]
        if kind == "flip":
            for _ in range(rng.integers(1, 5)):
                data[rng.integers(len(data))] ^= int(rng.integers(1, 256))
        elif kind == "cut":
            data = data[:rng.integers(8, len(data))]
        else:
            for _ in range(rng.integers(1, 3)):
                at = int(rng.integers(len(data) - 4))
                word = int(rng.choice([0, 1, -1, 2**31 - 1, -2**31, int(rng.integers(-300, 300)),
                                       int(rng.integers(-2**31, 2**31))]))
                data[at:at + 4] = word.to_bytes(4, "little", signed=True)
        yield f"{i:04d}-{kind}", bytes(data)


def outcome(path, runtime):
    from keras_wht.tflite import Interpreter

    try:
        interpreter = Interpreter(model_path=path, runtime=runtime, num_threads=1)
        shapes = [[int(n) for n in d["shape"]] for d in interpreter.get_input_details()]
        if any(np.prod(shape, dtype=np.float64) > MAX_INPUT_ELEMENTS for shape in shapes):
            return f"ok (loaded; inputs {shapes} too large to run)"
        interpreter.predict([np.zeros(shape, np.float32) for shape in shapes], progress=False)
        return "ok"
    except ValueError as err:
        return f"ValueError: {err}"
    except Exception as err:  # noqa: BLE001 - what else a damaged model raises is the result
        return f"other {type(err).__name__}: {err}"


def main(folder, results, runtime):
    with open(results, "w") as out:
        for name in sorted(os.listdir(folder)):
            out.write(f"{name} ")
            out.flush()
            out.write(" ".join(outcome(os.path.join(folder, name), runtime).split()) + "\n")
            out.flush()
    if "tensorflow" in sys.modules:
        sys.exit(3)


def run(folder, runtime, timeout=300):
    """Runs the files in `folder` in a fresh process (this file as a script); returns
    {file name: outcome}. AssertionError, naming the last model, if that process died or
    imported TensorFlow."""
    results = f"{folder}.txt"
    done = subprocess.run([sys.executable, os.path.abspath(__file__), str(folder), results, runtime],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""})
    lines = open(results).read().splitlines() if os.path.exists(results) else []
    last = lines[-1] if lines else "(no model)"
    assert done.returncode != 3, "the runner imported TensorFlow"
    assert done.returncode == 0, f"the runner died ({done.returncode}) at {last!r}: {done.stderr[-2000:]}"
    return dict(line.split(" ", 1) for line in lines)


if __name__ == "__main__":
    main(*sys.argv[1:4])
