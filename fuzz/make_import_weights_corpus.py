#!/usr/bin/env python3
"""Writes fuzz/corpus/import_weights: inputs for fuzz/import_weights_fuzz.cpp (its header
describes the byte format) that import a small model's weights in every format and cell the
format holds, and a few that import_weights refuses. Run from anywhere; rewrites the folder."""
import os
import struct

FORMATS = {"rnnx": 0, "tf": 1, "torch": 2, "onnx": 3}
KINDS = {"lstm": 0, "gru_reset_after": 1, "gru_reset_before": 2, "rnn_tanh": 3, "rnn_relu": 4}
GATES = {"lstm": 4, "gru_reset_after": 3, "gru_reset_before": 3, "rnn_tanh": 1, "rnn_relu": 1}


def tensors_per_layer(fmt, kind, bidirectional):
    dirs = 2 if bidirectional else 1
    if fmt == "onnx":
        return 3
    if fmt == "tf":
        return dirs * (4 if kind.startswith("gru") else 2)
    return dirs * 4


def model_bytes(fmt, input_size, layers):
    """layers: (kind, hidden, bidirectional, forget_bias_one)"""
    out = bytes([FORMATS[fmt], len(layers) - 1, input_size - 1])
    for kind, hidden, bi, fb in layers:
        out += bytes([KINDS[kind], hidden - 1, (1 if bi else 0) | (2 if fb else 0)])
    return out


def expected_count(fmt, layers):
    return sum(tensors_per_layer(fmt, k, bi) for k, _, bi, _ in layers)


def tensor(spec, how=0, extra=b"", seed=None):
    """One tensor entry: based on spec `spec`; `how` as the target reads it; `extra` the bytes
    its name and shape modes read; then the values' seed byte (or raw doubles when how & 64)."""
    return bytes([spec, how]) + extra + (bytes([seed if seed is not None else 17 + spec])
                                         if not how & 64 else b"")


def valid(fmt, input_size, layers):
    n = expected_count(fmt, layers)
    body = b"".join(tensor(k) for k in range(n))
    return model_bytes(fmt, input_size, layers) + bytes([n]) + body


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "import_weights")
    os.makedirs(root, exist_ok=True)
    for name in os.listdir(root):
        os.remove(os.path.join(root, name))
    files = {}
    # Every format and cell it holds, one layer, I = 3, H = 2.
    for fmt in FORMATS:
        for kind in KINDS:
            if (fmt, kind) in (("tf", "gru_reset_after"), ("torch", "gru_reset_before")):
                continue
            bi = kind in ("lstm", "rnn_relu")
            files[f"ok_{fmt}_{kind}"] = valid(fmt, 3, [(kind, 2, bi, False)])
    # Stacks, bidirectional layers feeding the next one.
    files["ok_rnnx_3_layers"] = valid(
        "rnnx", 8, [("lstm", 8, True, True), ("gru_reset_before", 5, False, False),
                    ("rnn_relu", 1, True, False)])
    files["ok_torch_2_layers_bi"] = valid(
        "torch", 4, [("gru_reset_after", 3, True, False), ("lstm", 4, True, False)])
    files["ok_onnx_3_layers"] = valid(
        "onnx", 2, [("lstm", 3, True, False), ("gru_reset_before", 2, True, False),
                    ("rnn_tanh", 6, False, False)])
    files["ok_tf_2_layers"] = valid(
        "tf", 5, [("lstm", 2, True, True), ("gru_reset_before", 4, False, False)])
    # Raw values: NaN, -0, infinity, the smallest subnormal, in a tf bias (added to bh = 0).
    model = model_bytes("tf", 1, [("rnn_tanh", 1, False, False)])
    raw = struct.pack("<4d", float("nan"), -0.0, float("inf"), 5e-324)
    files["ok_tf_raw_values"] = (model + bytes([2]) + tensor(0, 0, seed=1) +
                                 bytes([1, 64]) + raw[:8])
    files["ok_onnx_raw_values"] = (model_bytes("onnx", 1, [("rnn_relu", 1, False, False)]) +
                                   bytes([3]) + bytes([0, 64]) + raw[8:16] +
                                   bytes([1, 64]) + raw[16:24] + bytes([2, 64]) + raw[24:] + raw[:8])
    # Refused: a missing tensor, a tensor twice, an unknown name, wrong shapes and counts.
    one = [("lstm", 2, False, False)]
    n = expected_count("rnnx", one)
    head = model_bytes("rnnx", 3, one)
    files["bad_missing"] = head + bytes([n - 1]) + b"".join(tensor(k) for k in range(n - 1))
    files["bad_twice"] = head + bytes([n + 1]) + b"".join(tensor(k) for k in range(n)) + tensor(0)
    files["bad_unknown_name"] = (head + bytes([n + 1]) + b"".join(tensor(k) for k in range(n)) +
                                 tensor(0, 3, bytes([6]) + b"L0.fw."))
    files["bad_other_direction"] = (head + bytes([n]) + b"".join(tensor(k) for k in range(n - 1)) +
                                    tensor(n - 1, 1, bytes([3])))
    # Shapes declaring 2^40 and more elements (then a byte: the values' count) with few values:
    # refused by comparison, never allocated.
    files["bad_huge_dim"] = (head + bytes([n]) + tensor(0, 4, bytes([0]) + struct.pack("<Q", 1 << 40) + bytes([5])) +
                             b"".join(tensor(k) for k in range(1, n)))
    files["bad_huge_raw_shape"] = (head + bytes([n]) + b"".join(tensor(k) for k in range(n - 1)) +
                                   tensor(n - 1, 12, bytes([2, 255]) + struct.pack("<Q", 2**64 - 1) +
                                          bytes([255]) + struct.pack("<Q", 2**63) + bytes([3])))
    files["bad_count_mismatch"] = (head + bytes([n]) + tensor(0, 16, bytes([0xFF])) +
                                   b"".join(tensor(k) for k in range(1, n)))
    files["bad_zero_dim"] = (head + bytes([n]) + tensor(0, 8, bytes([1, 0])) +
                             b"".join(tensor(k) for k in range(1, n)))
    # Refused by name: ONNX peepholes, PyTorch's projection, TF's peepholes.
    for fmt in ("onnx", "torch", "tf"):
        m = [("lstm", 2, True, False)]
        k = expected_count(fmt, m)
        files[f"bad_{fmt}_refused_tensor"] = (model_bytes(fmt, 2, m) + bytes([k + 1]) +
                                               b"".join(tensor(j) for j in range(k)) +
                                               tensor(0, 2, bytes([1])))
    # Models the format cannot hold.
    files["bad_tf_gru_reset_after"] = valid("rnnx", 2, [("gru_reset_after", 2, False, False)])
    files["bad_tf_gru_reset_after"] = bytes([FORMATS["tf"]]) + files["bad_tf_gru_reset_after"][1:]
    files["bad_torch_forget_bias"] = valid("torch", 2, [("lstm", 2, False, True)])
    files["bad_onnx_forget_bias"] = valid("onnx", 2, [("lstm", 2, True, True)])
    files["empty"] = b""
    for name, data in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    print(f"{len(files)} files, {sum(len(d) for d in files.values())} bytes in {root}")


if __name__ == "__main__":
    main()
