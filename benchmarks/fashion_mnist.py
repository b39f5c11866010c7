"""The accuracy table on real images: every builder's plain network, a plain network of
about its WHT preset's parameter count, and the preset, trained on Fashion-MNIST with one
recipe, with the int8 rows of `keras-wht accuracy` for the WHT networks.

    python benchmarks/fashion_mnist.py             # what `make accuracy-fashion` runs

Writes docs/bench/accuracy-fashion-mnist.md. Each network is one `keras-wht train` run in
runs/fashion-mnist/ (kept: a finished run of the same command is not trained again;
`--fresh` retrains), then `keras-wht accuracy RUN --qat-epochs 0` for the
WHT networks.

The recipe fits two CPU cores in about an hour for the three CIFAR-sized builders: the
first 20,000 training images (a tenth of them validate), padded from 28x28 to 32x32 and
tiled to 3 channels, 3 epochs, Adam 1e-3 with cosine decay, batch 64, seed 0, batch-norm
momentum 0.9 and statistics recomputed after training (`keras-wht train`'s defaults),
tested on all 10,000 test images. A short budget on purpose: it measures how fast a
network learns, which is where the WHT networks fell behind, as well as where it gets.
"""

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from training_speed import cpu_description  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, "docs", "bench", "accuracy-fashion-mnist.md")
RUNS = os.path.join(ROOT, "runs", "fashion-mnist")
RECIPE = ["--dataset", "fashion_mnist", "--fit", "pad", "--input-size", "32", "--train-size", "20000",
          "--epochs", "3", "--batch-size", "64", "--lr", "1e-3", "--schedule", "cosine", "--seed", "0"]

# builder -> (the small plain network's alpha, the paper preset)
NETWORKS = {
    "mobilenet_v2": (0.35, "paper-540k"),
    "resnet20": (0.5, "last-third"),
    "mobilenet_v3_large": (0.5, "last-third"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(NETWORKS), help="comma-separated builders (default: all)")
    parser.add_argument("--fresh", action="store_true", help="train every network again")
    parser.add_argument("--no-int8", dest="int8", action="store_false", help="leave out the int8 rows")
    parser.add_argument("--table-only", action="store_true",
                        help="train nothing: write the table from the finished runs (the others are left out)")
    args = parser.parse_args()
    wanted = [m for m in args.models.split(",") if m]
    unknown = [m for m in wanted if m not in NETWORKS]
    if unknown:
        sys.exit(f"--models: unknown {unknown}; the builders are {list(NETWORKS)}")
    keras_wht = os.path.join(os.path.dirname(sys.executable), "keras-wht")
    results = {}
    for model in wanted:
        alpha, preset = NETWORKS[model]
        for label, extra in (("plain", []), (f"plain, alpha={alpha}", ["--alpha", str(alpha)]),
                             (preset, ["--wht", preset])):
            out = os.path.join(RUNS, f"{model}-{label.replace(', ', '-').replace('=', '')}")
            command = ["train", "--model", model, *extra, *RECIPE]
            finished = _read(out, "metrics.json") is not None and _read(out, "command.json") == command
            if args.table_only and not finished:
                continue
            if args.fresh or not finished:
                subprocess.run(["rm", "-rf", out], check=True)
                subprocess.run([keras_wht, *command, "--out", out], check=True)
                with open(os.path.join(out, "command.json"), "w") as f:
                    json.dump(command, f)
            metrics = _read(out, "metrics.json")
            row = {"parameters": metrics["parameters"], "test": metrics["test_accuracy"],
                   "train": _read(out, "history.json")[-1]["accuracy"]}
            if label == preset and args.int8:
                accuracy = os.path.join(out, "accuracy.json")
                stale = not os.path.isfile(accuracy) or os.path.getmtime(accuracy) < os.path.getmtime(
                    os.path.join(out, "model.keras"))
                if stale and args.table_only:
                    results[(model, label)] = row
                    continue
                if stale:
                    subprocess.run([keras_wht, "accuracy", out, "--qat-epochs", "0"], check=True)
                row["tflite"] = _read(out, "accuracy.json")
            results[(model, label)] = row
            print(f"{model} {label}: {row['test']:.4f}", flush=True)
    write(results)
    print(f"wrote {os.path.relpath(TABLE, ROOT)}")


def _read(out, name):
    path = os.path.join(out, name)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def write(results):
    lines = [
        f"# Accuracy on Fashion-MNIST: {cpu_description()}, TensorFlow CPU, {os.cpu_count()} cores",
        "",
        "Written by `make accuracy-fashion` (`python benchmarks/fashion_mnist.py`). Recipe, the same for every "
        "network: `keras-wht train " + " ".join(RECIPE) + "` (the first 20,000 training images, a tenth of them "
        "validating; padded to 32x32x3; Adam with cosine decay; batch-norm statistics recomputed after "
        "training), tested on the 10,000 test images. One seed: differences of a point or less are within noise.",
        "",
        "| network | parameters | train acc. (last epoch) | test acc. | against plain, points "
        "| against the small plain, points |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for model, (alpha, preset) in NETWORKS.items():
        plain = results.get((model, "plain"))
        small = results.get((model, f"plain, alpha={alpha}"))
        for label in ("plain", f"plain, alpha={alpha}", preset):
            row = results.get((model, label))
            if row is None:
                continue
            gap = lambda other: "" if other is None or other is row else f"{100 * (row['test'] - other['test']):+.1f}"  # noqa: E731
            lines.append(f"| {model} {label} | {row['parameters']:,} | {row['train']:.3f} | {row['test']:.3f} "
                         f"| {gap(plain)} | {gap(small) if label == preset else ''} |")
    tflite = [(model, preset, results[(model, preset)]["tflite"]) for model, (_, preset) in NETWORKS.items()
              if "tflite" in results.get((model, preset), {})]
    if tflite:
        lines += ["", "## The WHT networks in TFLite (`keras-wht accuracy RUN --qat-epochs 0`)", "",
                  "int8: post-training quantization calibrated on 128 training images; points against Keras.", "",
                  "| network | model | test acc. | points against Keras | SQNR, dB |", "|---|---|---:|---:|---:|"]
        for model, preset, rows in tflite:
            for r in rows:
                points = "" if r.get("points") is None else f"{r['points']:+.2f}"
                sqnr = "" if r.get("sqnr_db") is None else f"{r['sqnr_db']:.1f}"
                lines.append(f"| {model} {preset} | {r['name']} | {r['accuracy']:.4f} | {points} | {sqnr} |")
    os.makedirs(os.path.dirname(TABLE), exist_ok=True)
    with open(TABLE + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(TABLE + ".tmp", TABLE)


if __name__ == "__main__":
    main()
