#!/usr/bin/env python3
"""Writes PyTorch golden files for rnnx's tests (tests/data/torch/<case>/).

Each case is a small float64 model run by torch.nn.LSTM / torch.nn.GRU / torch.nn.RNN (tanh and
relu) with autograd:
the case folder holds what `rnnx run --weights-format torch --grad` reads (model.json, x.npy,
lengths.npy, the state_dict tensors weight_ih_l{l}[_reverse].npy ..., initial states
L{l}.{d}.h0.npy / c0.npy, dy.npy, L{l}.{d}.dhn.npy / dcn.npy) and, under expected/, what
PyTorch computed for the files rnnx writes: y.npy, L{l}.{d}.hn.npy / cn.npy, dx.npy,
L{l}.{d}.dh0.npy / dc0.npy and the weight gradients dweight_ih_l{l}.npy ...

The gradients are those of  sum(y * dy) + sum(hn * dhn) + sum(cn * dcn)  (dhn/dcn only where the
case has them), i.e. exactly what rnnx's backward receives as dy and dfinal.

Sequence lengths go through pack_padded_sequence(enforce_sorted=False), so PyTorch zeroes outputs
past each length and takes each sequence's final state at its own last step, as rnnx does.
PyTorch does not accept length-0 sequences; rnnx's own tests cover those.

nn.RNN's nonlinearity is not in its state_dict: model.json carries it as the layer's "activation"
(written from the module's own `nonlinearity`), which is how rnnx learns it.

The committed goldens were written with PyTorch 2.15.0 (CPU, float64) and NumPy 2.4: see
tests/data/torch/VERSIONS.json, which the script writes too. Usage:
    python3 tests/interop/torch_goldens.py [OUT_DIR]      (default: tests/data/torch)
"""

import json
import os
import shutil
import sys

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

DIRS = ("fw", "bw")


class Case:
    def __init__(self, name, input_size, layers, steps, lengths, batch_first=False,
                 with_init=True, with_dfinal=True, seed=0):
        # layers: list of (cell, hidden, bidirectional, num_layers) torch modules, run in order;
        # cell is "lstm", "gru", "rnn_tanh" or "rnn_relu"
        self.name = name
        self.input_size = input_size
        self.layers = layers
        self.steps = steps
        self.lengths = lengths  # None: every sequence is full length, no packing
        self.batch = len(lengths) if lengths is not None else 3
        self.batch_first = batch_first
        self.with_init = with_init
        self.with_dfinal = with_dfinal
        self.seed = seed


CASES = [
    Case("lstm_2_layers_bi_mixed_lengths", 3, [("lstm", 4, True, 2)], 5, [5, 3, 1]),
    Case("gru_2_layers_mixed_lengths", 3, [("gru", 5, False, 2)], 6, [2, 6, 4], seed=1),
    Case("gru_bi_batch_major_full", 4, [("gru", 3, True, 1)], 4, None, batch_first=True,
         with_dfinal=False, seed=2),
    Case("lstm_then_gru_mixed_lengths", 3, [("lstm", 4, False, 1), ("gru", 2, True, 1)], 5,
         [4, 5, 2, 1], seed=3),
    Case("lstm_no_initial_state", 2, [("lstm", 3, False, 1)], 3, None, with_init=False,
         with_dfinal=False, seed=4),
    Case("rnn_tanh_1_layer_mixed_lengths", 3, [("rnn_tanh", 4, False, 1)], 5, [5, 2, 4], seed=5),
    Case("rnn_relu_2_layers_bi_mixed_lengths", 3, [("rnn_relu", 4, True, 2)], 6, [3, 6, 1, 5],
         seed=6),
    Case("rnn_relu_then_lstm_then_rnn_tanh_batch_major", 2,
         [("rnn_relu", 3, True, 1), ("lstm", 4, False, 1), ("rnn_tanh", 2, True, 1)], 4, [4, 2, 3],
         batch_first=True, seed=7),
]

MODULES = {"lstm": (torch.nn.LSTM, {}), "gru": (torch.nn.GRU, {}),
           "rnn_tanh": (torch.nn.RNN, {"nonlinearity": "tanh"}),
           "rnn_relu": (torch.nn.RNN, {"nonlinearity": "relu"})}


def save(path, array):
    np.save(path, np.ascontiguousarray(array))


def model_json(case, modules):
    layers = []
    for (cell, hidden, bidirectional, count), module in zip(case.layers, modules):
        for _ in range(count):
            entry = {"cell": cell.split("_")[0], "hidden": hidden, "bidirectional": bidirectional}
            if cell == "gru":
                entry["gru_reset"] = "after"  # nn.GRU applies r to (W_hn h + b_hn)
            if isinstance(module, torch.nn.RNN):
                entry["activation"] = module.nonlinearity  # not in the state_dict
            layers.append(entry)
    return {"input_size": case.input_size, "dtype": "float64",
            "layout": "batch_major" if case.batch_first else "time_major", "layers": layers}


def write_case(case, out):
    torch.manual_seed(case.seed)
    gen = torch.Generator().manual_seed(case.seed + 100)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    folder = os.path.join(out, case.name)
    expected = os.path.join(folder, "expected")
    os.makedirs(expected)

    T, B = case.steps, case.batch
    x = randn(B, T, case.input_size) if case.batch_first else randn(T, B, case.input_size)
    x.requires_grad_(True)
    save(os.path.join(folder, "x.npy"), x.detach().numpy())
    if case.lengths is not None:
        save(os.path.join(folder, "lengths.npy"), np.array(case.lengths, dtype=np.int64))

    # Run the modules in order; the global layer index l names files as rnnx does.
    h = x
    layer0 = 0
    finals = []  # (global layer, dir index, tensor, kind) for hn/cn
    inits = []   # (global layer, dir index, tensor, kind) for h0/c0 leaves
    params = []  # (file name, parameter)
    modules = []
    for cell, hidden, bidirectional, count in case.layers:
        module_cls, options = MODULES[cell]
        module = module_cls(h.shape[-1], hidden, num_layers=count, bidirectional=bidirectional,
                            batch_first=case.batch_first, **options).double()
        modules.append(module)
        dirs = 2 if bidirectional else 1
        for name, p in module.named_parameters():
            # weight_ih_l{k}[_reverse] -> the global layer index
            base, rest = name.rsplit("_l", 1)
            k, _, reverse = rest.partition("_")
            file = f"{base}_l{layer0 + int(k)}" + (f"_{reverse}" if reverse else "")
            params.append((file, p))
            save(os.path.join(folder, file + ".npy"), p.detach().numpy())
        state = None
        if case.with_init:
            h0 = randn(count * dirs, B, hidden).requires_grad_(True)
            parts = [(h0, "h")]
            if cell == "lstm":
                c0 = randn(count * dirs, B, hidden).requires_grad_(True)
                parts.append((c0, "c"))
            for tensor, kind in parts:
                for j in range(count * dirs):
                    l, d = layer0 + j // dirs, j % dirs
                    save(os.path.join(folder, f"L{l}.{DIRS[d]}.{kind}0.npy"),
                         tensor[j].detach().numpy())
                    inits.append((l, d, tensor, j, kind))
            state = (h0, c0) if cell == "lstm" else h0
        if case.lengths is not None:
            packed = pack_padded_sequence(h, torch.tensor(case.lengths),
                                          batch_first=case.batch_first, enforce_sorted=False)
            out_packed, final = module(packed, state)
            h, _ = pad_packed_sequence(out_packed, batch_first=case.batch_first, total_length=T)
        else:
            h, final = module(h, state)
        final_parts = [(final[0], "h"), (final[1], "c")] if cell == "lstm" else [(final, "h")]
        for tensor, kind in final_parts:
            for j in range(count * dirs):
                finals.append((layer0 + j // dirs, j % dirs, tensor[j], kind))
        layer0 += count

    with open(os.path.join(folder, "model.json"), "w") as f:
        json.dump(model_json(case, modules), f, indent=1)
        f.write("\n")

    y = h
    dy = randn(*y.shape)
    save(os.path.join(folder, "dy.npy"), dy.numpy())
    loss = (y * dy).sum()
    for l, d, tensor, kind in finals:
        if case.with_dfinal:
            g = randn(*tensor.shape)
            save(os.path.join(folder, f"L{l}.{DIRS[d]}.d{kind}n.npy"), g.numpy())
            loss = loss + (tensor * g).sum()
    loss.backward()

    save(os.path.join(expected, "y.npy"), y.detach().numpy())
    for l, d, tensor, kind in finals:
        save(os.path.join(expected, f"L{l}.{DIRS[d]}.{kind}n.npy"), tensor.detach().numpy())
    save(os.path.join(expected, "dx.npy"), x.grad.numpy())
    for l, d, tensor, j, kind in inits:
        save(os.path.join(expected, f"L{l}.{DIRS[d]}.d{kind}0.npy"), tensor.grad[j].numpy())
    for file, p in params:
        save(os.path.join(expected, "d" + file + ".npy"), p.grad.numpy())


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "data", "torch")
    torch.set_num_threads(1)
    if os.path.isdir(out) and os.listdir(out):
        # Replace only a goldens folder this script wrote, never any other folder given by mistake.
        if not os.path.isfile(os.path.join(out, "VERSIONS.json")):
            sys.exit(f"{out} is not empty and holds no VERSIONS.json: not a goldens folder")
        shutil.rmtree(out)
    os.makedirs(out, exist_ok=True)
    for case in CASES:
        write_case(case, out)
    with open(os.path.join(out, "VERSIONS.json"), "w") as f:
        json.dump({"torch": torch.__version__, "numpy": np.__version__,
                   "cases": [c.name for c in CASES]}, f, indent=1)
        f.write("\n")
    print(f"wrote {len(CASES)} cases with PyTorch {torch.__version__} into {out}")


if __name__ == "__main__":
    main()
