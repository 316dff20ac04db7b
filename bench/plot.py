#!/usr/bin/env python3
"""Plots from rnnx_bench (and torch_peer.py) JSON into PNG files.

    python3 bench/plot.py RESULTS.json [MORE.json ...] --out docs/

latency_lstm.png: time per step vs hidden size for each engine, at B=1 and B=64 (T=100).
unroll.png: gpu_static (replay), gpu_dynamic, gpu_persistent per call vs T (H=128, B=1 and 128).
deepbench_speedup.png: each engine's speedup over cuDNN's standard algorithm per DeepBench row.
"""

import argparse
import json
import os
import re
import sys

from timing import benchmark_results

NAME = re.compile(
    r"^(?P<suite>[^/]+)/(?P<engine>[^/]+)/(?P<cell>[^/]+)/H:(?P<H>\d+)/B:(?P<B>\d+)"
    r"/T:(?P<T>\d+)/(?P<mode>[^/]+)/(?P<dtype>[^/]+)"
)


def load(paths):
    """name -> seconds per call (the median where repeated)."""
    seconds = {}
    for path in paths:
        with open(path) as f:
            cases = benchmark_results(json.load(f))
        seconds.update({name: time for name, (time, _) in cases.items()})
    return seconds


def parsed(seconds):
    rows = []
    for name, s in seconds.items():
        m = NAME.match(name)
        if m:
            d = m.groupdict()
            for k in ("H", "B", "T"):
                d[k] = int(d[k])
            d["seconds"] = s
            rows.append(d)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+")
    parser.add_argument("--out", default="docs")
    args = parser.parse_args()
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("plot.py: matplotlib is not installed (pip install matplotlib)")
    rows = parsed(load(args.inputs))
    os.makedirs(args.out, exist_ok=True)
    made = []

    latency = [r for r in rows if r["suite"] == "latency" and r["cell"] == "lstm"]
    if latency:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
        for ax, batch in zip(axes, (1, 64)):
            for engine in sorted({r["engine"] for r in latency}):
                pts = sorted(
                    (r["H"], r["seconds"] / r["T"] * 1e6)
                    for r in latency
                    if r["engine"] == engine and r["B"] == batch
                )
                if pts:
                    ax.plot(*zip(*pts), marker="o", label=engine)
            ax.set(
                title=f"LSTM forward, T=100, B={batch}",
                xlabel="hidden size",
                ylabel="microseconds per step",
                xscale="log",
                yscale="log",
            )
            ax.grid(True, alpha=0.3)
        axes[0].legend(fontsize=7)
        path = os.path.join(args.out, "latency_lstm.png")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        made.append(path)

    unroll = [r for r in rows if r["suite"] == "unroll" and r["H"] == 128]
    if unroll:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
        for ax, batch in zip(axes, (1, 128)):
            for engine in sorted({r["engine"] for r in unroll}):
                pts = sorted(
                    (r["T"], r["seconds"] * 1e3)
                    for r in unroll
                    if r["engine"] == engine and r["B"] == batch
                )
                if pts:
                    ax.plot(*zip(*pts), marker="o", label=engine)
            ax.set(
                title=f"static vs dynamic unroll, LSTM H=128, B={batch}",
                xlabel="T",
                ylabel="ms per call",
                xscale="log",
                yscale="log",
            )
            ax.grid(True, alpha=0.3)
        axes[0].legend(fontsize=7)
        path = os.path.join(args.out, "unroll.png")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        made.append(path)

    deep = [r for r in rows if r["suite"] == "deepbench" and r["mode"] == "train"]
    base = {
        (r["cell"], r["H"], r["B"], r["T"]): r["seconds"] for r in deep if r["engine"] == "cudnn"
    }
    others = [
        r for r in deep if r["engine"] != "cudnn" and (r["cell"], r["H"], r["B"], r["T"]) in base
    ]
    if others:
        labels = sorted({(r["cell"], r["H"], r["B"], r["T"]) for r in others})
        fig, ax = plt.subplots(figsize=(max(8, len(labels) * 0.35), 4))
        engines = sorted({r["engine"] for r in others})
        width = 0.8 / len(engines)
        for i, engine in enumerate(engines):
            ys = [
                next(
                    (
                        base[k] / r["seconds"]
                        for r in others
                        if r["engine"] == engine and (r["cell"], r["H"], r["B"], r["T"]) == k
                    ),
                    0,
                )
                for k in labels
            ]
            ax.bar([x + i * width for x in range(len(labels))], ys, width, label=engine)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels([f"{c} {h}x{b}x{t}" for c, h, b, t in labels], rotation=90, fontsize=6)
        ax.set(ylabel="speedup over cuDNN (training)", title="DeepBench RNN problems")
        ax.legend(fontsize=7)
        path = os.path.join(args.out, "deepbench_speedup.png")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        made.append(path)

    print("plot.py: wrote " + (", ".join(made) if made else "nothing (no matching results)"))


if __name__ == "__main__":
    main()
