"""rnnx.torch's cost: (a) the call overhead of rnnx.torch.LSTM over the binding's own call on
T=1, B=1, H=16; (b) a float32 training step (forward, backward, gradients in the parameters) of
rnnx.torch.LSTM against torch.nn.LSTM in the same process; (c) what the flat weight buffer saves:
the per-call copy of the parameters into one buffer, which the views avoid.

    python bench/torch_layers.py [--out bench/results] [--engine cpu] [--quick]

Writes torch_layers-DATE.json and .md (machine, date, commit) to --out.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess

import torch

import rnnx
import rnnx.torch as rt
from result_files import replace_files
from timing import timed


def overhead(engine, reps):
    torch.manual_seed(0)
    layer = rt.LSTM(16, 16, engine=engine)
    x = torch.rand(1, 1, 16)
    plan = layer._plan(x.device, x.dtype, False)
    flat = layer._flat
    y, final = torch.empty(1, 1, 16), torch.empty(32)

    def direct():
        plan.forward(x, flat, y=y, final_state=final)

    def direct_alloc():
        plan.forward(x, flat)

    def module():
        with torch.no_grad():
            layer(x)

    def module_grad():
        layer(x)

    return {
        "binding_outputs_passed_us": timed(direct, reps) * 1e6,
        "binding_us": timed(direct_alloc, reps) * 1e6,
        "rnnx_torch_no_grad_us": timed(module, reps) * 1e6,
        "rnnx_torch_train_forward_us": timed(module_grad, reps) * 1e6,
        "torch_nn_no_grad_us": timed(_torch_call(x), reps) * 1e6,
    }


def _torch_call(x):
    lstm = torch.nn.LSTM(16, 16)

    def call():
        with torch.no_grad():
            lstm(x)

    return call


def train_step(layer, x, dy):
    for p in layer.parameters():
        p.grad = None
    y, _ = layer(x)
    y.backward(dy)


def training(engine, I, H, B, T, reps):
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(I, H)
    ours = rt.LSTM(I, H, engine=engine)
    ours.load_state_dict(theirs.state_dict())
    x = torch.rand(T, B, I, requires_grad=True)
    dy = torch.rand(T, B, H)
    t_rnnx = timed(lambda: train_step(ours, x, dy), reps)
    t_torch = timed(lambda: train_step(theirs, x, dy), reps)
    params = list(ours.parameters())
    copy = timed(lambda: _copy(ours, params), reps * 4)
    return {
        "shape": {"I": I, "H": H, "B": B, "T": T},
        "rnnx_torch_ms": t_rnnx * 1e3,
        "torch_nn_ms": t_torch * 1e3,
        "speedup_vs_torch": t_torch / t_rnnx,
        "flat_copy_per_call_ms": copy * 1e3,
    }


def _copy(layer, params):
    layer._flat, saved = None, layer._flat  # forces the copy path once
    try:
        return layer._flat_weights(params)
    finally:
        layer._flat = saved


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    p.add_argument("--engine", default="cpu")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    q = args.quick
    result = {
        "date": datetime.date.today().isoformat(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores",
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "engine": args.engine,
        "overhead_T1_B1_H16_float32": overhead(args.engine, 200 if q else 2000),
        "training_float32": [
            training(args.engine, 28, 128, 128, 28, 3 if q else 10),
            training(args.engine, 512, 512, 64, 100, 1 if q else 3),
        ],
    }
    name = f"torch_layers-{result['date']}"
    o = result["overhead_T1_B1_H16_float32"]
    lines = [
        f"# rnnx.torch cost ({result['date']}, commit {result['commit']})",
        "",
        f"{result['machine']}; torch {result['torch']} ({result['torch_threads']} threads); "
        f"rnnx engine {args.engine}; float32. `python bench/torch_layers.py`.",
        "",
        "Call overhead, LSTM(16), T=1, B=1 (µs per call):",
        "",
        "| binding, outputs passed | binding | rnnx.torch no_grad | rnnx.torch with grad "
        "(forward_train) | torch.nn.LSTM no_grad |",
        "|---|---|---|---|---|",
        f"| {o['binding_outputs_passed_us']:.1f} | {o['binding_us']:.1f} | "
        f"{o['rnnx_torch_no_grad_us']:.1f} | {o['rnnx_torch_train_forward_us']:.1f} | "
        f"{o['torch_nn_no_grad_us']:.1f} |",
        "",
        "Training step (forward + backward into the parameters' grads), ms:",
        "",
        "| I, H, B, T | rnnx.torch.LSTM | torch.nn.LSTM | speed vs torch | copying the "
        "parameters into a flat buffer (avoided) |",
        "|---|---|---|---|---|",
    ]
    for r in result["training_float32"]:
        s = r["shape"]
        lines.append(
            f"| {s['I']}, {s['H']}, {s['B']}, {s['T']} | {r['rnnx_torch_ms']:.2f} | "
            f"{r['torch_nn_ms']:.2f} | {r['speedup_vs_torch']:.2f}x | "
            f"{r['flat_copy_per_call_ms']:.3f} |"
        )
    replace_files(
        args.out,
        {
            name + ".json": json.dumps(result, indent=2) + "\n",
            name + ".md": "\n".join(lines) + "\n",
        },
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
