"""PyTorch on the CPU as a peer of the cpu suite: torch.nn.LSTM and torch.nn.GRU (PyTorch's GRU
resets after the matmul, rnnx's gru_after) at the suite's sizes, on every core and on one thread,
named as rnnx_bench names its cases (the engine field is "torch"), so that scripts/bench-cpu.sh
can print rnnx's time over PyTorch's for each.

    python bench/torch_cpu_peer.py --out torch_cpu.json [--quick]

Forward is inference (torch.no_grad); "train" is a forward and a backward into the parameters'
gradients, as rnnx's train cases are forward_train + backward. Times are the median over rounds
of the mean per call, in seconds, after a warm-up call.
"""

import argparse
import json
import os
import sys

from result_files import replace_file
from timing import reps_within, timed

# (cell, I, H, B, T, modes), as bench/cpu_suites.cpp registers them.
CASES = [
    ("lstm", 28, 128, 128, 28, ("fwd", "train")),
    ("gru_after", 28, 128, 128, 28, ("fwd", "train")),
    ("lstm", 512, 512, 64, 100, ("fwd", "train")),
    ("gru_after", 512, 512, 64, 100, ("fwd", "train")),
    ("lstm", 256, 256, 1, 100, ("fwd",)),
    ("lstm", 512, 512, 1, 100, ("fwd",)),
    ("lstm", 1024, 1024, 1, 100, ("fwd",)),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true", help="about 0.2 s per case")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("torch_cpu_peer.py: torch is not importable here; no PyTorch peer (see PYTHON.md)")
        return 77
    budget = 0.2 if args.quick else 2.0
    results = {}
    cores = os.cpu_count() or 1
    for suite, threads in (("cpu", cores), ("cpu1", 1)):
        torch.set_num_threads(threads)
        for cell, I, H, B, T, modes in CASES:
            torch.manual_seed(0)
            layer = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(I, H)
            x = torch.randn(T, B, I)
            for mode in modes:
                if mode == "fwd":

                    def call():
                        with torch.no_grad():
                            layer(x)

                else:
                    x_grad = x.clone().requires_grad_(True)

                    def call():
                        y, _ = layer(x_grad)
                        y.sum().backward()

                name = f"{suite}/torch/{cell}/H:{H}/B:{B}/T:{T}/{mode}/f32"
                results[name] = timed(call, reps_within(call, budget))
                print(f"{name:56s} {results[name] * 1e3:9.3f} ms", flush=True)
    context = {"torch": torch.__version__, "threads": {"cpu": cores, "cpu1": 1}}
    replace_file(args.out, json.dumps({"context": context, "seconds": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
