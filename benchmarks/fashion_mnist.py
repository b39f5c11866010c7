"""The accuracy table on real images: every builder's plain network, a plain network of
about its WHT preset's parameter count, and the preset, trained on Fashion-MNIST with one
recipe, with the int8 rows of `keras-wht accuracy` for the WHT networks.

    python benchmarks/fashion_mnist.py             # what `make accuracy-fashion` runs
    python benchmarks/fashion_mnist.py --models mobilenet_v3_large --seeds 0,1,2

Writes docs/bench/accuracy-fashion-mnist.md. Each network is one `keras-wht train` run in
runs/fashion-mnist/, then `keras-wht accuracy RUN --qat-epochs 0` for the WHT networks
(seed 0). Finished rows are kept, with the command that made them, in
docs/bench/accuracy-fashion-mnist.json: a second run trains only what is missing or was
made by another command (`--fresh` retrains what `--models` and `--seeds` name), and the
table always shows every kept row. With several seeds a network's row gives the mean.

The recipe fits two CPU cores in about an hour for the three CIFAR-sized builders (ResNet50
adds about as much): the first 20,000 training images (a tenth of them validate), padded
from 28x28 to 32x32 and tiled to 3 channels, 3 epochs, Adam 1e-3 with cosine decay, batch
64, batch-norm momentum 0.9 and statistics recomputed after training (`keras-wht train`'s
defaults), tested on all 10,000 test images. A short budget on purpose: it measures how
fast a network learns, which is where the WHT networks fell behind, as well as where it
gets.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from training_speed import cpu_description  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, "docs", "bench", "accuracy-fashion-mnist.md")
RESULTS = os.path.join(ROOT, "docs", "bench", "accuracy-fashion-mnist.json")
RUNS = os.path.join(ROOT, "runs", "fashion-mnist")
RECIPE = ["--dataset", "fashion_mnist", "--fit", "pad", "--input-size", "32", "--train-size", "20000",
          "--epochs", "3", "--batch-size", "64", "--lr", "1e-3", "--schedule", "cosine"]

# builder -> (the small plain network's alpha, the paper preset)
NETWORKS = {
    "mobilenet_v2": (0.35, "paper-540k"),
    "resnet20": (0.5, "last-third"),
    "mobilenet_v3_large": (0.5, "last-third"),
    "resnet50": (0.45, "last-third"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(NETWORKS), help="comma-separated builders (default: all)")
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds (default: 0)")
    parser.add_argument("--fresh", action="store_true", help="train the networks named again")
    parser.add_argument("--no-int8", dest="int8", action="store_false", help="leave out the int8 rows")
    parser.add_argument("--table-only", action="store_true", help="train nothing: write the table from the kept rows")
    args = parser.parse_args()
    wanted = [m for m in args.models.split(",") if m]
    unknown = [m for m in wanted if m not in NETWORKS]
    if unknown:
        sys.exit(f"--models: unknown {unknown}; the builders are {list(NETWORKS)}")
    try:
        seeds = sorted({int(seed) for seed in args.seeds.split(",")})
    except ValueError:
        sys.exit(f"--seeds: comma-separated integers, got {args.seeds!r}")
    kept = _load()
    keras_wht = os.path.join(os.path.dirname(sys.executable), "keras-wht")
    for model in [] if args.table_only else wanted:
        for seed in seeds:  # a seed's networks together: an interrupted run leaves whole seeds
            for label, extra in _networks(model):
                key = f"{model} | {label} | seed {seed}"
                command = ["train", "--model", model, *extra, *RECIPE, "--seed", str(seed)]
                int8 = args.int8 and seed == 0 and label == NETWORKS[model][1]
                row = kept.get(key)
                if not args.fresh and row is not None and row["command"] == command and ("tflite" in row or not int8):
                    continue
                out = os.path.join(RUNS, f"{model}-{label}".replace(", ", "-").replace("=", "")
                                   + (f"-seed{seed}" if seed else ""))
                if args.fresh or _read(out, "command.json") != command or _read(out, "metrics.json") is None:
                    subprocess.run(["rm", "-rf", out], check=True)
                    subprocess.run([keras_wht, *command, "--out", out], check=True)
                    with open(os.path.join(out, "command.json"), "w") as f:
                        json.dump(command, f)
                metrics = _read(out, "metrics.json")
                row = {"command": command, "parameters": metrics["parameters"], "test": metrics["test_accuracy"],
                       "train": _read(out, "history.json")[-1]["accuracy"]}
                if int8:
                    accuracy = os.path.join(out, "accuracy.json")
                    if not os.path.isfile(accuracy) or os.path.getmtime(accuracy) < os.path.getmtime(
                            os.path.join(out, "model.keras")):
                        subprocess.run([keras_wht, "accuracy", out, "--qat-epochs", "0"], check=True)
                    row["tflite"] = _read(out, "accuracy.json")
                kept[key] = row
                _save(kept)
                print(f"{key}: {row['test']:.4f}", flush=True)
    write(kept)
    print(f"wrote {os.path.relpath(TABLE, ROOT)}")


def _networks(model):
    """(label, extra train arguments) of a builder's three networks."""
    alpha, preset = NETWORKS[model]
    return [("plain", []), (f"plain, alpha={alpha}", ["--alpha", str(alpha)]), (preset, ["--wht", preset])]


def _load():
    if not os.path.isfile(RESULTS):
        return {}
    with open(RESULTS) as f:
        return json.load(f)


def _save(kept):
    with open(RESULTS + ".tmp", "w") as f:
        json.dump(kept, f, indent=1, sort_keys=True)
    os.replace(RESULTS + ".tmp", RESULTS)


def _read(out, name):
    path = os.path.join(out, name)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def write(kept):
    lines = [
        f"# Accuracy on Fashion-MNIST: {cpu_description()}, TensorFlow CPU, {os.cpu_count()} cores",
        "",
        "Written by `make accuracy-fashion` (`python benchmarks/fashion_mnist.py`; the rows are kept in "
        "accuracy-fashion-mnist.json). Recipe, the same for every network: `keras-wht train " + " ".join(RECIPE)
        + " --seed S` (the first 20,000 training images, a tenth of them validating; padded to 32x32x3; Adam with "
        "cosine decay; batch-norm statistics recomputed after training), tested on the 10,000 test images. "
        "With one seed, differences of a point or less are within noise; with several, a row gives the mean "
        "and the test accuracies' range.",
        "",
        "| network | parameters | seeds | train acc. (last epoch) | test acc. | against plain, points "
        "| against the small plain, points |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    rows = {}
    for model in NETWORKS:
        for label, _ in _networks(model):
            runs = [row for key, row in sorted(kept.items()) if key.startswith(f"{model} | {label} | seed ")]
            if runs:
                rows[(model, label)] = runs
    def mean(runs, field):
        return statistics.fmean(r[field] for r in runs)

    def gap(runs, other):  # in points, "" against itself or a missing row
        if other is None or other is runs:
            return ""
        return f"{round(100 * (mean(runs, 'test') - mean(other, 'test')), 1) + 0.0:+.1f}"  # no "-0.0"

    for model, (alpha, preset) in NETWORKS.items():
        plain, small = rows.get((model, "plain")), rows.get((model, f"plain, alpha={alpha}"))
        for label, _ in _networks(model):
            runs = rows.get((model, label))
            if runs is None:
                continue
            tests = [r["test"] for r in runs]
            spread = f" ({min(tests):.3f}-{max(tests):.3f})" if len(runs) > 1 else ""
            mark = " *" if any("from" in r for r in runs) else ""
            lines.append(f"| {model} {label}{mark} | {runs[0]['parameters']:,} | {len(runs)} "
                         f"| {mean(runs, 'train'):.3f} | {mean(runs, 'test'):.3f}{spread} | {gap(runs, plain)} "
                         f"| {gap(runs, small) if label == preset else ''} |")
    if any("from" in row for row in kept.values()):
        lines += ["", "\\* Seed 0 of these rows was trained before the results were kept: its figures were "
                  "copied from the table of the time, to three decimals (four in the TFLite table)."]
    tflite = [(model, preset, row["tflite"]) for model, (_, preset) in NETWORKS.items()
              for row in [kept.get(f"{model} | {preset} | seed 0", {})] if "tflite" in row]
    if tflite:
        lines += ["", "## The WHT networks in TFLite (`keras-wht accuracy RUN --qat-epochs 0`, seed 0)", "",
                  "int8: post-training quantization calibrated on 128 training images; points against Keras.", "",
                  "| network | model | test acc. | points against Keras | SQNR, dB |", "|---|---|---:|---:|---:|"]
        for model, preset, rows_ in tflite:
            for r in rows_:
                points = "" if r.get("points") is None else f"{r['points']:+.2f}"
                sqnr = "" if r.get("sqnr_db") is None else f"{r['sqnr_db']:.1f}"
                lines.append(f"| {model} {preset} | {r['name']} | {r['accuracy']:.4f} | {points} | {sqnr} |")
    os.makedirs(os.path.dirname(TABLE), exist_ok=True)
    with open(TABLE + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(TABLE + ".tmp", TABLE)


if __name__ == "__main__":
    main()
