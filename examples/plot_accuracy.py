#!/usr/bin/env python3
"""Test accuracy per epoch of seed_classifier runs, from their --json files, as one PNG.

    python3 examples/plot_accuracy.py RUN.json [MORE.json ...] --out docs/seed_accuracy.png

One line per run, labelled with its model; a notebook function's static twin is drawn solid and
its dynamic twin dashed in the same colour, so that twins that coincide (as they do on the cpu
engine, where both are the same computation) show as one line. Needs matplotlib (Debian's
python3-matplotlib).
"""
import argparse
import json
import os
import sys


def load(path):
    with open(path) as f:
        run = json.load(f)
    for key in ("model", "engine", "epochs"):
        if key not in run:
            sys.exit(f"{path}: not a seed_classifier --json file (no '{key}')")
    if not run["epochs"]:
        sys.exit(f"{path}: no epochs")
    return run


def shape_of(model):
    """The shared shape of a notebook function's twins: multi_layer_static_mix -> multi_mix."""
    for unroll in ("static_", "dynamic_"):
        if unroll in model:
            prefix, rest = model.split(unroll, 1)
            return ("multi_" if prefix.startswith("multi") else "") + rest
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="seed_classifier --json files")
    parser.add_argument("--out", default="docs/seed_accuracy.png", help="the PNG to write")
    parser.add_argument("--title", default=None)
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [load(p) for p in args.runs]
    shapes = sorted({shape_of(r["model"]) for r in runs})
    colours = {s: plt.get_cmap("tab10")(k % 10) for k, s in enumerate(shapes)}

    fig, ax = plt.subplots(figsize=(9, 5.5))
    for run in sorted(runs, key=lambda r: r["model"]):
        epochs = [e["epoch"] for e in run["epochs"]]
        accuracy = [100 * e["test_accuracy"] for e in run["epochs"]]
        dashed = "dynamic_" in run["model"]
        ax.plot(epochs, accuracy, color=colours[shape_of(run["model"])],
                linestyle="--" if dashed else "-", marker="o", markersize=3,
                linewidth=1.2 if dashed else 2.2,
                label=f"{run['model']} ({run['engine']})")
    engines = sorted({r["engine"] for r in runs})
    ax.set_title(args.title or f"seed_classifier on Fashion-MNIST: test accuracy per epoch "
                 f"({', '.join(engines)} engine)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    fig.tight_layout()
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out} ({len(runs)} runs)")


if __name__ == "__main__":
    main()
