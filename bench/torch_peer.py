#!/usr/bin/env python3
"""PyTorch's torch.nn.LSTM / GRU (cuDNN underneath) timed on the GPU in rnnx_bench's units.

Writes Google-Benchmark-shaped JSON (name, real_time in ms, FLOP/s, per_step) for the `latency`
and `seed` suites, engine name `torch`, so bench/plot.py and the README can set rnnx beside what
users run today. CUDA events, a warm-up, the median of --repeats timed runs, random data.

    python3 bench/torch_peer.py --out OUT.json [--repeats 20] [--suites latency,seed]
                                [--dtypes f32,bf16,f16] [--l2 cold|warm]

--l2 matches rnnx_bench's RNNX_BENCH_L2: cold (default) writes a buffer of twice the device's L2
before each timed call, outside the timing, so every call starts with nothing of its own in L2;
warm times the same module and input call after call.

The latency suite runs in each of --dtypes (bf16/f16: module and input in that type, as
gpu_persistent's 16-bit cases); a dtype PyTorch/cuDNN refuses on the device is reported and left
out.
"""

import argparse
import json
import statistics
import sys

from result_files import replace_file


def flops(gates, layers, input_size, hidden, batch, steps, dirs=1):
    total, size = 0.0, input_size
    for _ in range(layers):
        total += 2.0 * gates * hidden * (size + hidden) * batch * steps * dirs
        size = hidden * dirs
    return total


def time_module(torch, module, x, repeats, flush):
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    with torch.no_grad():
        for _ in range(3):
            module(x)
        times = []
        for _ in range(repeats):
            if flush is not None:
                flush.zero_()
                torch.cuda.synchronize()
            start.record()
            module(x)
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop))
    return statistics.median(times)


def entry(name, ms, total_flops, steps):
    return {
        "name": name,
        "run_type": "aggregate",
        "aggregate_name": "median",
        "real_time": ms,
        "time_unit": "ms",
        "FLOP/s": total_flops / (ms * 1e-3),
        "per_step": ms * 1e-3 / steps,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--suites", default="latency,seed")
    parser.add_argument("--dtypes", default="f32,bf16,f16")
    parser.add_argument("--l2", choices=("cold", "warm"), default="cold")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("torch_peer.py: PyTorch is not installed")
    if not torch.cuda.is_available():
        sys.exit("torch_peer.py: no CUDA device for PyTorch")
    torch.backends.cudnn.allow_tf32 = False  # float32 as rnnx measures it
    device = torch.device("cuda")
    flush = None
    if args.l2 == "cold":
        l2_bytes = torch.cuda.get_device_properties(0).L2_cache_size
        if l2_bytes <= 0:
            sys.exit("torch_peer.py: the device reports no L2 size; use --l2 warm")
        flush = torch.empty(2 * l2_bytes, dtype=torch.uint8, device=device)
    results = []
    suites = args.suites.split(",")
    types = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}
    if "latency" in suites:
        for label in args.dtypes.split(","):
            for cell, gates in (("lstm", 4), ("gru", 3)):
                for hidden in (256, 512, 1024, 2048):
                    for batch in (1, 4, 16, 64):
                        kind = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
                        module = kind(hidden, hidden).to(device=device, dtype=types[label])
                        x = torch.randn(100, batch, hidden, device=device, dtype=types[label])
                        name = f"latency/torch/{cell}/H:{hidden}/B:{batch}/T:100/fwd/{label}"
                        try:
                            ms = time_module(torch, module, x, args.repeats, flush)
                        except RuntimeError as e:  # e.g. a dtype cuDNN's RNN lacks here
                            print(f"torch_peer.py: {name}: {e}", file=sys.stderr)
                            continue
                        results.append(
                            entry(name, ms, flops(gates, 1, hidden, hidden, batch, 100), 100)
                        )
    if "seed" in suites:
        # The notebook's networks PyTorch can express exactly (its GRU resets after the matmul,
        # TF's before, so the seed's GRUs are left out).
        for name, layers, bidirectional in (
            ("lstm", 1, False),
            ("multi_lstm", 3, False),
            ("bi_lstm", 1, True),
            ("multi_bi_lstm", 3, True),
        ):
            module = torch.nn.LSTM(28, 128, num_layers=layers, bidirectional=bidirectional).to(
                device
            )
            x = torch.randn(28, 128, 28, device=device)
            ms = time_module(torch, module, x, args.repeats, flush)
            dirs = 2 if bidirectional else 1
            results.append(
                entry(
                    f"seed/torch/{name}/H:128/B:128/T:28/fwd/f32",
                    ms,
                    flops(4, layers, 28, 128, 128, 28, dirs),
                    28,
                )
            )
    context = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cudnn": torch.backends.cudnn.version(),
        "l2": args.l2,
    }
    replace_file(args.out, json.dumps({"context": context, "benchmarks": results}, indent=1))
    print(f"torch_peer.py: {len(results)} cases on {context['device']} -> {args.out}")


if __name__ == "__main__":
    main()
