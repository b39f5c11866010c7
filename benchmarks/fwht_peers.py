"""The transform alone (the unnormalised fast Walsh-Hadamard transform of float32 rows,
in place) against other CPU implementations, one thread, side by side in one process.

    python benchmarks/fwht_peers.py [--rounds 15] [--out docs/bench/bench-fwht.md]

Entries: keras-wht's KerasWht_Fwht on every instruction set this CPU runs (a copy of the
kernel library per instruction set, each loaded with KERAS_WHT_ISA set, so all of them
run in this process), ffht-unofficial (FFHT's kernels, `ffht.fht_`) and fht-cpu
(`fht_2d_f32_rows(a, 1)`), where installed (`make bench` installs them; a peer that is
missing or fails is reported and skipped). Each call transforms a buffer of
max(n, 2**16) floats (256 KiB, rows of n: in L2 up to n = 2**16), restored from a copy
between calls. Rounds interleave the entries (each call of each entry in turn, three
calls per round, the fastest counted); a figure is the median over rounds. Throughput
is counted as FFHT counts it: n log2(n) additions and subtractions per length-n
transform, in billions per second (GFLOP/s-equivalent).
"""

import argparse
import ctypes
import os
import platform
import shutil
import subprocess
import tempfile
import time
from importlib import metadata

import numpy as np

from keras_wht.tflite.runtime import custom_ops

SIZES = [1 << k for k in range(6, 21)]
BUFFER = 1 << 16
ISAS = ("avx512", "avx2", "neon", "scalar")


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.split(":")[0].strip() in ("model name", "Model", "Hardware"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def keras_wht_entries(workdir):
    """{name: (isa, fn(a))}: a copy of the kernel library per instruction set this CPU runs."""
    source = custom_ops.library()._name
    entries = {}
    for isa in ISAS:
        path = os.path.join(workdir, f"keras_wht_{isa}.so")
        shutil.copy(source, path)
        old = os.environ.get("KERAS_WHT_ISA")
        os.environ["KERAS_WHT_ISA"] = isa
        try:
            lib = ctypes.CDLL(path)
            lib.KerasWht_Isa.restype = ctypes.c_char_p
            got = lib.KerasWht_Isa().decode()  # BestIsa() reads KERAS_WHT_ISA once, here
        finally:
            if old is None:
                del os.environ["KERAS_WHT_ISA"]
            else:
                os.environ["KERAS_WHT_ISA"] = old
        if got != isa:  # this CPU lacks it: the library fell back to another
            continue
        lib.KerasWht_Fwht.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int]
        lib.KerasWht_Fwht.restype = None

        def fn(a, lib=lib):
            lib.KerasWht_Fwht(a.ctypes.data, a.shape[0], a.shape[1])

        entries[f"keras-wht {isa}"] = (isa, fn)
    return entries


def vector_code(module_file):
    """What the peer's compiled code uses, from its disassembly: AVX-512 (zmm), AVX (ymm)."""
    if not module_file or shutil.which("objdump") is None or platform.machine() not in ("x86_64", "AMD64"):
        return "ISA not inspected"
    text = subprocess.run(["objdump", "-d", module_file], capture_output=True, text=True).stdout
    if "zmm" in text:
        return "AVX-512 code (zmm)"
    if "ymm" in text:
        return "256-bit AVX code (ymm), no AVX-512"
    return "SSE or scalar code"


def peer_entries(notes):
    entries = {}
    try:
        import ffht

        def fn_ffht(a):
            ffht.fht_(a, 1)

        entries[f"ffht-unofficial {metadata.version('ffht-unofficial')}"] = (vector_code(ffht.__file__), fn_ffht)
    except Exception as e:  # noqa: BLE001 - any failure to import is reported, the peer skipped
        notes.append(f"ffht-unofficial skipped: {type(e).__name__}: {e}")
    try:
        import fht_cpu
        from fht_cpu import _core

        def fn_fht_cpu(a):
            fht_cpu.fht_2d_f32_rows(a, 1)

        entries[f"fht-cpu {metadata.version('fht-cpu')}"] = (vector_code(_core.__file__), fn_fht_cpu)
    except Exception as e:  # noqa: BLE001
        notes.append(f"fht-cpu skipped: {type(e).__name__}: {e}")
    return entries


def aligned(size):
    """A float32 array of `size` whose data starts on a 64-byte boundary (FFHT needs 32)."""
    raw = np.empty(size + 16, np.float32)
    offset = (-raw.ctypes.data % 64) // 4
    return raw[offset:offset + size]


def check(entries, notes):
    """Drops an entry whose transform is wrong (against H_n x by a slow recursion)."""
    x = np.random.default_rng(1).standard_normal((4, 256)).astype(np.float32)
    want = x.astype(np.float64)
    h = 1
    while h < 256:
        w = want.reshape(4, -1, 2, h)
        want = np.concatenate([w[:, :, 0] + w[:, :, 1], w[:, :, 0] - w[:, :, 1]], axis=2).reshape(4, 256)
        h *= 2
    for name in list(entries):
        a = aligned(x.size).reshape(x.shape)
        a[...] = x
        try:
            entries[name][1](a)
            ok = np.allclose(a, want, atol=1e-3)
        except Exception as e:  # noqa: BLE001
            ok, why = False, f"{type(e).__name__}: {e}"
        else:
            why = "wrong result"
        if not ok:
            notes.append(f"{name} skipped: {why}")
            del entries[name]


def measure(entries, n, rounds):
    """Median over rounds of each entry's fastest of three calls: billions of add/sub per second."""
    size = max(n, BUFFER)
    source = np.random.default_rng(0).standard_normal(size).astype(np.float32)
    buffers = {name: aligned(size).reshape(-1, n) for name in entries}
    times = {name: [] for name in entries}
    for _ in range(rounds):
        for name, (_, fn) in entries.items():
            a = buffers[name]
            best = float("inf")
            for _ in range(3):
                np.copyto(a.reshape(-1), source)
                start = time.perf_counter()
                fn(a)
                best = min(best, time.perf_counter() - start)
            times[name].append(best)
    return {name: size * np.log2(n) / np.median(t) / 1e9 for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", default="docs/bench/bench-fwht.md")
    args = parser.parse_args()
    notes = []
    with tempfile.TemporaryDirectory() as workdir:
        ours = keras_wht_entries(workdir)
        peers = peer_entries(notes)
        entries = {**ours, **peers}
        check(entries, notes)
        ours = [name for name in ours if name in entries]
        peers = [name for name in peers if name in entries]
        rows = [(n, measure(entries, n, args.rounds)) for n in SIZES]
    described = "; ".join(f"{name}: {isa}" for name, (isa, _) in entries.items())
    lines = [f"CPU: {cpu_name()} ({platform.machine()}), 1 thread. Entries: {described}.", ""]
    lines += [f"Billions of add/sub per second (n log2 n per length-n transform; FFHT's measure), median of "
              f"{args.rounds} interleaved rounds, each the fastest of 3 calls on a buffer of max(n, 2**16) "
              f"float32. Written by `python benchmarks/fwht_peers.py` (`make bench`).", ""]
    ratios = [(o, p) for o in ours[:1] for p in peers]  # the best instruction set against each peer
    header = ["n"] + list(entries) + [f"{o.split()[-1]} / {p.split()[0]}" for o, p in ratios]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---:|" * len(header))
    for n, rate in rows:
        cells = [f"2^{int(np.log2(n))}"] + [f"{rate[name]:.1f}" for name in entries]
        cells += [f"{rate[o] / rate[p]:.2f}x" for o, p in ratios]
        lines.append("| " + " | ".join(cells) + " |")
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
