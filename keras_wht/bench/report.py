"""The benchmark report: one JSON document of flat rows, shown as a terminal table, a
Markdown table and PNG plots."""

import datetime
import math
import os
import platform

SCHEMA_ID = "keras-wht-bench/1"
ROW_FIELDS = {
    "case": "the comparison (layer shape, or network and input size)",
    "shape": "the input's shape",
    "model": "the model timed (the baseline is a convolution, or the plain network)",
    "baseline": "whether this model is the case's baseline",
    "path": "the execution path (keras, function, builtin, custom, int8, int8-custom)",
    "threads": "the interpreter's threads (TensorFlow's intra-op threads on the Keras paths)",
    "schedule": "warm or cold (see keras_wht.bench.timing)",
    "latency_ms": "median latency of one batch, ms",
    "speedup": "the baseline's latency over this model's, on the same path and threads, timed side by side",
    "parameters": "the Keras model's parameters",
    "bytes": "the .tflite file's size (TFLite paths)",
    "peak_mb": "peak resident memory of a fresh process running the .tflite model once (first thread count)",
}

_NUMBER_OR_NULL = {"type": ["number", "null"]}
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "keras-wht bench report",
    "type": "object",
    "required": ["schema", "kind", "created", "environment", "settings", "rows"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "kind": {"enum": ["layers", "models"]},
        "created": {"type": "string"},
        "environment": {"type": "object"},
        "settings": {"type": "object"},
        "rows": {
            "type": "array",
            "items": {
                "type": "object",
                "required": list(ROW_FIELDS),
                "additionalProperties": False,
                "properties": {
                    "case": {"type": "string"},
                    "shape": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                    "model": {"type": "string"},
                    "baseline": {"type": "boolean"},
                    "path": {"enum": ["keras", "function", "builtin", "custom", "int8", "int8-custom"]},
                    "threads": {"type": "integer", "minimum": 1},
                    "schedule": {"enum": ["warm", "cold"]},
                    "latency_ms": {"type": "number", "exclusiveMinimum": 0},
                    "speedup": {"type": "number", "exclusiveMinimum": 0},
                    "parameters": {"type": "integer", "minimum": 0},
                    "bytes": {"type": ["integer", "null"], "minimum": 1},
                    "peak_mb": _NUMBER_OR_NULL,
                },
            },
        },
    },
}


def environment(runtime=None):
    """The machine, the TFLite runtime and the kernels a report was measured with."""
    from keras_wht import __version__
    from keras_wht.tflite import runtimes
    from keras_wht.tflite.runtime import custom_ops

    cpu = next((line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor() or platform.machine())
    runtime = runtime or (runtimes() or [None])[0]
    return {
        "keras_wht": __version__,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}",
        "cpu": cpu,
        "cores": os.cpu_count(),
        "tflite_runtime": runtime,
        "tflite_runtime_version": _runtime_version(runtime),
        "kernels": custom_ops.isa() if custom_ops.available() else None,
        "thread_pool": custom_ops.thread_pool() if custom_ops.available() else None,
    }


def _lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError:
        return []


def _runtime_version(runtime):
    from keras_wht.tflite.runtime import runtimes

    return runtimes.version(runtime) if runtime in runtimes.RUNTIMES else None


def require_plots():
    """Raises ImportError, saying what to install, when matplotlib (for the PNGs) is missing."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise ImportError("the PNG plots need matplotlib: pip install matplotlib (or 'keras-wht[bench]')")


def document(kind, rows, settings, runtime=None):
    """The JSON report: kind ("layers" or "models"), environment, settings and rows."""
    return {
        "schema": SCHEMA_ID,
        "kind": kind,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "environment": environment(runtime),
        "settings": settings,
        "rows": rows,
    }


_COLUMNS = ("case", "model", "path", "threads", "ms", "speed-up", "parameters", ".tflite bytes", "peak MB")


def _cells(row):
    return (
        row["case"], row["model"], row["path"], str(row["threads"]), f"{row['latency_ms']:.4g}",
        "baseline" if row["baseline"] else f"{row['speedup']:.1f}x", f"{row['parameters']:,}",
        "-" if row["bytes"] is None else f"{row['bytes']:,}",
        "-" if row["peak_mb"] is None else f"{row['peak_mb']:.1f}",
    )


def title(doc):
    env, s = doc["environment"], doc["settings"]
    return (f"keras-wht bench {doc['kind']}: {env['cpu']}, {env['tflite_runtime']} {env['tflite_runtime_version'] or ''}"
            f", kernels {_kernels(env)}, {s['schedule']} caches, median of {s['repeats']}")


def _kernels(env):
    if not env["kernels"]:
        return "not built"
    # Reports written before the pool was recorded lack it.
    return f"{env['kernels']} ({env['thread_pool']} threads)" if env.get("thread_pool") else env["kernels"]


def console(**kwargs):
    """A rich Console; wide enough for the tables when the output is not a terminal."""
    from rich.console import Console

    out = Console(**kwargs)
    if not out.is_terminal:
        out = Console(width=150, **kwargs)
    return out


def table(doc):
    """A rich Table of the rows."""
    from rich.table import Table

    out = Table(title=title(doc))
    for column in _COLUMNS:
        out.add_column(column, justify="left" if column in ("case", "model", "path") else "right")
    rows = doc["rows"]
    for i, row in enumerate(rows):
        last_of_case = i + 1 == len(rows) or rows[i + 1]["case"] != row["case"]
        out.add_row(*_cells(row), end_section=last_of_case)
    return out


def markdown(doc):
    """The rows as a Markdown table, under a line saying where they were measured."""
    lines = [f"{title(doc)}.", "", "| " + " | ".join(_COLUMNS) + " |",
             "|" + "|".join("---" if c in ("case", "model", "path") else "---:" for c in _COLUMNS) + "|"]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in doc["rows"]]
    return "\n".join(lines) + "\n"


def plot(doc, metric, path):
    """A PNG of `metric` ("latency_ms" or "speedup") per case: bars per path and model, at
    the smallest thread count; log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    if metric not in ("latency_ms", "speedup"):
        raise ValueError(f"`metric` must be 'latency_ms' or 'speedup', got {metric!r}.")
    if not doc["rows"]:
        raise ValueError("the report has no rows to plot.")
    threads = min(row["threads"] for row in doc["rows"] if row["path"] not in ("keras", "function")) \
        if any(row["path"] not in ("keras", "function") for row in doc["rows"]) else None
    rows = [r for r in doc["rows"] if r["path"] in ("keras", "function") or r["threads"] == threads]
    if metric == "speedup":
        rows = [r for r in rows if not r["baseline"]]
    case_names = list(dict.fromkeys(r["case"] for r in rows))
    columns = min(3, len(case_names))
    lines = math.ceil(len(case_names) / columns)
    fig, axes = plt.subplots(lines, columns, figsize=(5.2 * columns, 3.6 * lines), squeeze=False)
    for ax, case in zip(axes.flat, case_names):
        mine = [r for r in rows if r["case"] == case]
        path_names = list(dict.fromkeys(r["path"] for r in mine))
        model_names = list(dict.fromkeys(r["model"] for r in mine))
        width = 0.8 / len(model_names)
        for i, model in enumerate(model_names):
            values = {r["path"]: r[metric] for r in mine if r["model"] == model}
            xs = [j + (i - (len(model_names) - 1) / 2) * width for j, p in enumerate(path_names) if p in values]
            ys = [values[p] for p in path_names if p in values]
            if metric == "speedup":  # bars from 1x, up for faster, down for slower
                bars = ax.bar(xs, [y - 1 for y in ys], width, bottom=1, label=model)
            else:
                bars = ax.bar(xs, ys, width, label=model)
            if metric == "speedup":
                ax.bar_label(bars, labels=[f"{y:.0f}x" if y >= 10 else f"{y:.1f}x" for y in ys], fontsize=7)
        ax.set_yscale("log")
        unit = "x" if metric == "speedup" else ""
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _, unit=unit: f"{v:g}{unit}"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xticks(range(len(path_names)), path_names)
        ax.set_title(case, fontsize=10)
        ax.set_ylabel("speed-up over the baseline" if metric == "speedup" else "ms per batch (median)")
        if metric == "speedup":
            ax.axhline(1.0, color="black", linewidth=0.8)
            values = [r[metric] for r in mine]
            ax.set_ylim(min(min(values), 1) / 1.5, max(max(values), 1) * 1.5)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(case_names):]:
        ax.set_visible(False)
    what = "speed-up over the baseline" if metric == "speedup" else "latency"
    suffix = f", TFLite at {threads} thread{'s' if threads != 1 else ''}" if threads else ""
    fig.suptitle(f"keras-wht bench {doc['kind']}: {what}{suffix}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(doc, folder, stem=None):
    """Writes <stem>.json, <stem>.md, <stem>-latency.png and <stem>-speedup.png into
    `folder`; returns their paths."""
    import json

    os.makedirs(folder, exist_ok=True)
    stem = stem or f"bench-{doc['kind']}"
    paths = {
        "json": os.path.join(folder, f"{stem}.json"),
        "markdown": os.path.join(folder, f"{stem}.md"),
        "latency_plot": os.path.join(folder, f"{stem}-latency.png"),
        "speedup_plot": os.path.join(folder, f"{stem}-speedup.png"),
    }
    with open(paths["json"], "w") as f:
        json.dump(doc, f, indent=2)
    with open(paths["markdown"], "w") as f:
        f.write(markdown(doc))
    plot(doc, "latency_ms", paths["latency_plot"])
    plot(doc, "speedup", paths["speedup_plot"])
    return paths
