"""What a trained plain network does for its WHT variant, at equal budget (issue 20).

    python benchmarks/from_plain.py [--dataset digits] [--epochs 10] [--batch-size 16] [--train-size N]
        [--fit resize|pad] [--model mobilenet_v2] [--wht paper-540k] [--alphas 0.9] [--out runs/from-plain]
        [--markdown docs/bench/from-plain.md]

Trains, with the same recipe (epochs, batch, seed, data): the plain network; its WHT
preset from scratch; the preset started from the plain run's weights (--init-from); the
preset distilled from the plain run (--teacher, at each --alphas, temperature 4); and both.
Writes a table of test accuracy and the gap to plain, with the CPU on its first line and
the recipe, to --markdown. Each run's folder stays in --out (`keras-wht accuracy` reads it).
Fashion-MNIST offline: --dataset fashion_mnist --fit pad --train-size 5000.
"""

import argparse
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

from keras_wht import training  # noqa: E402
from keras_wht._keras import keras  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from training_speed import cpu_description  # noqa: E402


def runs(plain, alphas):
    """(row name, train's extra arguments) after the plain run."""
    rows = [("from scratch", {}), ("--init-from plain", {"init_from": plain})]
    for alpha in alphas:
        rows.append((f"--teacher plain (alpha {alpha:g})", {"teacher": plain, "distill_alpha": alpha}))
    rows.append((f"--init-from and --teacher plain (alpha {alphas[0]:g})",
                 {"init_from": plain, "teacher": plain, "distill_alpha": alphas[0]}))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--wht", default="paper-540k")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--fit", default="resize")
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alphas", default="0.9", help="comma-separated --distill-alpha values (default 0.9)")
    parser.add_argument("--out", default="runs/from-plain")
    parser.add_argument("--markdown", default="docs/bench/from-plain.md")
    args = parser.parse_args(argv)
    alphas = [float(a) for a in args.alphas.split(",") if a.strip()]
    recipe = dict(model=args.model, dataset=args.dataset, fit=args.fit, train_size=args.train_size,
                  input_size=args.input_size, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
    plain = os.path.join(args.out, "plain")
    table = [("plain", training.train(**recipe, out=plain, verbose=2))]
    for index, (name, extra) in enumerate(runs(plain, alphas)):
        keras.backend.clear_session()
        table.append((name, training.train(**recipe, wht=args.wht, out=os.path.join(args.out, f"wht-{index}"),
                                           verbose=2, **extra)))
        print(f"{name}: {table[-1][1]['test_accuracy']:.4f}", flush=True)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    command = " ".join(["python benchmarks/from_plain.py", *(argv if argv is not None else sys.argv[1:])])
    size = f", the first {args.train_size:,} training images" if args.train_size else ""
    lines = [
        f"{cpu_description()}; TensorFlow {tf.__version__}, Keras {keras.__version__}; commit {commit or 'unknown'}",
        "",
        f"`{command}`",
        "",
        f"{args.model} on {args.dataset} ({args.input_size}x{args.input_size}, --fit {args.fit}{size}), "
        f"{args.epochs} epochs, batch {args.batch_size}, seed {args.seed}, Adam 1e-3 with cosine decay, "
        "batch norms recalibrated; the WHT network is "
        f"`{args.wht}`; distillation at temperature 4. One run each: on a test split this small a point or two "
        "is noise.",
        "",
        "| network | parameters | test accuracy | gap to plain (points) |",
        "|---|---:|---:|---:|",
    ]
    base = table[0][1]["test_accuracy"]
    for name, metrics in table:
        label = name if name == "plain" else f"{args.wht}, {name}"
        gap = "" if name == "plain" else f"{100 * (metrics['test_accuracy'] - base):+.1f}"
        lines.append(f"| {label} | {metrics['parameters']:,} | {metrics['test_accuracy']:.4f} | {gap} |")
    text = "\n".join(lines) + "\n"
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
