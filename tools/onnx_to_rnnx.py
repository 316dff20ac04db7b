#!/usr/bin/env python3
"""Extracts the LSTM / GRU / RNN layers of an ONNX model into the files `rnnx run --weights-format
onnx` reads: model.json and L{l}.W.npy, L{l}.R.npy, L{l}.B.npy, one layer per LSTM/GRU/RNN node in
graph order. An RNN node's `activations` (Tanh, the default, or Relu; the same for both
directions) becomes the layer's "activation" in model.json: rnnx's files do not carry it.

The nodes' W, R and (optional) B must be initializers. What rnnx cannot run is refused, naming
the node and the attribute or input, with exit code 3: clip, activations other than the
default ones (for RNN: other than Tanh or Relu, or different per direction),
activation_alpha/beta, input_forget=1, layout=1 (batch-first), peephole weights P,
direction="reverse" (rnnx has no reverse-only layer), float16 weights (the CLI reads float32 and
float64), nodes that are not chained as rnnx stacks layers (the next node must read Y through
Transpose(perm=[0, 2, 1, 3]) and a Reshape to [T, B, dirs*H] whose shape is an initializer, i.e.
the concat of the directions), and nodes that do not share one sequence_lens input (rnnx applies
one lengths.npy to every layer). Inputs (X, sequence_lens, initial_h, initial_c) are data: give
them to rnnx as x.npy, lengths.npy and L{l}.{fw|bw}.h0.npy / c0.npy.

Usage: onnx_to_rnnx.py MODEL.onnx OUT_DIR
Exit codes: 0 written, 2 unreadable model or missing weights, 3 a feature rnnx does not support.
"""

import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

OPS = ("LSTM", "GRU", "RNN")
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}
RNN_ACTIVATIONS = {"Tanh": "tanh", "Relu": "relu"}  # ONNX name -> model.json (ORT: this case)


class Refused(Exception):
    """A feature rnnx does not support (exit code 3)."""


class BadModel(Exception):
    """A model this tool cannot read (exit code 2)."""


def attributes_of(node):
    return {a.name: helper_value(a) for a in node.attribute}


def helper_value(attribute):
    value = onnx.helper.get_attribute_value(attribute)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        return [v.decode() if isinstance(v, bytes) else v for v in value]
    return value


def check_attributes(node, where):
    attrs = attributes_of(node)
    direction = attrs.get("direction", "forward")
    if direction not in ("forward", "bidirectional"):
        raise Refused(f"{where}: direction={direction!r}: rnnx has no reverse-only layer "
                      "(allowed: forward, bidirectional)")
    if "clip" in attrs:
        raise Refused(f"{where}: clip={attrs['clip']}: rnnx does not clip cell inputs "
                      "(allowed: no clip attribute)")
    dirs = 2 if direction == "bidirectional" else 1
    activation = None
    if node.op_type == "RNN":
        activation = rnn_activation(attrs.get("activations", ["Tanh"] * dirs), dirs, where)
    else:
        default = DEFAULT_ACTIVATIONS[node.op_type] * dirs
        if "activations" in attrs and [a.lower() for a in attrs["activations"]] != [
                a.lower() for a in default]:
            raise Refused(f"{where}: activations={attrs['activations']}: rnnx computes "
                          f"{default} only")
    for name in ("activation_alpha", "activation_beta"):
        if name in attrs:
            raise Refused(f"{where}: {name} is set: rnnx's activations take no parameters")
    if attrs.get("input_forget", 0) != 0:
        raise Refused(f"{where}: input_forget=1 (coupled input and forget gates) is not "
                      "supported by rnnx (allowed: 0)")
    if attrs.get("layout", 0) != 0:
        raise Refused(f"{where}: layout=1 (batch-first Y and states) is not supported "
                      "(allowed: 0)")
    if "hidden_size" not in attrs:
        raise BadModel(f"{where}: no hidden_size attribute")
    return attrs["hidden_size"], dirs, attrs.get("linear_before_reset", 0), activation


def rnn_activation(names, dirs, where):
    """The model.json activation of an RNN node's `activations`: one per direction, each Tanh or
    Relu, the same for both (an rnnx layer has one activation)."""
    if len(names) != dirs or any(a not in RNN_ACTIVATIONS for a in names):
        raise Refused(f"{where}: activations={names}: rnnx's RNN computes Tanh or Relu, one per "
                      f"direction ({dirs} here)")
    if len(set(names)) != 1:
        raise Refused(f"{where}: activations={names}: the directions differ; an rnnx layer has "
                      "one activation for both (allowed: [Tanh, Tanh] or [Relu, Relu])")
    return RNN_ACTIVATIONS[names[0]]


def producers(graph):
    return {out: node for node in graph.node for out in node.output}


def check_chain(previous, previous_features, node, graph, weights, where):
    """node's X must be Reshape(Transpose(previous.Y, perm=[0, 2, 1, 3]), [T, B, dirs*H])."""
    made_by = producers(graph)
    refusal = Refused(f"{where}: its input X is not the previous {previous.op_type} node's Y "
                      "through Transpose(perm=[0, 2, 1, 3]) and a Reshape to [T, B, dirs*H], so "
                      "it is not a layer of an rnnx stack")
    reshape = made_by.get(node.input[0])
    if reshape is None or reshape.op_type != "Reshape" or len(reshape.input) < 2:
        raise refusal
    transpose = made_by.get(reshape.input[0])
    if (transpose is None or transpose.op_type != "Transpose"
            or attributes_of(transpose).get("perm") != [0, 2, 1, 3]
            or transpose.input[0] != previous.output[0]):
        raise refusal
    shape = weights.get(reshape.input[1])
    if shape is None or list(shape.shape) != [3] or int(shape[2]) not in (previous_features, -1):
        raise refusal


def convert(model_path, out_dir):
    try:
        model = onnx.load(model_path)
    except Exception as e:  # onnx raises several types for unreadable files
        raise BadModel(f"{model_path}: cannot read the ONNX model: {e}")
    graph = model.graph
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    nodes = [n for n in graph.node if n.op_type in OPS]
    if not nodes:
        raise BadModel(f"{model_path}: no LSTM, GRU or RNN node")
    layers, files, dtype, input_size = [], {}, None, None
    lengths_input, features = None, None
    for l, node in enumerate(nodes):
        where = f"{model_path}: node {node.name or node.op_type} (layer {l})"
        H, dirs, linear_before_reset, activation = check_attributes(node, where)
        inputs = list(node.input) + [""] * (8 - len(node.input))
        if len(inputs) > 8 or not inputs[0]:
            raise BadModel(f"{where}: expected inputs X, W, R[, B, sequence_lens, initial_h, "
                           "initial_c, P]")
        if inputs[7]:
            raise Refused(f"{where}: peephole weights P ({inputs[7]}) are not supported by rnnx")
        if l == 0:
            lengths_input = inputs[4]
        elif inputs[4] != lengths_input:
            raise Refused(f"{where}: sequence_lens is {inputs[4] or 'absent'!r}, the first "
                          f"node's is {lengths_input or 'absent'!r}: rnnx applies one "
                          "lengths.npy to every layer")
        if l > 0:
            check_chain(nodes[l - 1], features, node, graph, weights, where)
        tensors = {}
        for key, name in (("W", inputs[1]), ("R", inputs[2]), ("B", inputs[3])):
            if name and name not in weights:
                raise BadModel(f"{where}: {key} ({name}) is not an initializer")
            tensors[key] = weights.get(name) if name else None
        if tensors["W"] is None or tensors["R"] is None:
            raise BadModel(f"{where}: W and R are required")
        G = GATES[node.op_type]
        if tensors["B"] is None:
            tensors["B"] = np.zeros((dirs, 2 * G * H), tensors["W"].dtype)
        W = tensors["W"]
        if W.ndim != 3 or W.shape[:2] != (dirs, G * H):
            raise BadModel(f"{where}: W has shape {list(W.shape)}, expected "
                           f"[{dirs}, {G * H}, input size]")
        I = int(W.shape[2])
        for key, shape in (("R", (dirs, G * H, H)), ("B", (dirs, 2 * G * H))):
            if tensors[key].shape != shape:
                raise BadModel(f"{where}: {key} has shape {list(tensors[key].shape)}, expected "
                               f"{list(shape)}")
        if l == 0:
            input_size = I
        elif I != features:
            raise BadModel(f"{where}: W's input size {I} is not the previous layer's output "
                           f"size {features}")
        features = dirs * H
        if dtype is None:
            dtype = W.dtype
        for key, t in tensors.items():
            if t.dtype == np.float16:
                raise Refused(f"{where}: {key} is float16; rnnx's CLI reads float32 and float64 "
                              "weights (convert them, or use the library's DType::f16)")
            if t.dtype not in (np.float32, np.float64) or t.dtype != dtype:
                raise BadModel(f"{where}: {key} is {t.dtype}; rnnx needs one of float32 or "
                               f"float64 for all weights (the first is {dtype})")
            files[f"L{l}.{key}.npy"] = np.ascontiguousarray(t)
        layer = {"cell": node.op_type.lower(), "hidden": H, "bidirectional": dirs == 2}
        if node.op_type == "GRU":
            layer["gru_reset"] = "after" if linear_before_reset else "before"
        if node.op_type == "RNN":
            layer["activation"] = activation
        layers.append(layer)
    model_json = {"input_size": input_size, "dtype": str(np.dtype(dtype)), "layers": layers}
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "model.json"), "w") as f:
        json.dump(model_json, f, indent=1)
        f.write("\n")
    for name, array in files.items():
        np.save(os.path.join(out_dir, name), array)  # shapes are checked by rnnx run
    return model_json


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        model_json = convert(argv[1], argv[2])
    except Refused as e:
        print(f"onnx_to_rnnx: {e}", file=sys.stderr)
        return 3
    except BadModel as e:
        print(f"onnx_to_rnnx: {e}", file=sys.stderr)
        return 2
    print(f"onnx_to_rnnx: {len(model_json['layers'])} layers into {argv[2]}: model.json, "
          "L{l}.W.npy, L{l}.R.npy, L{l}.B.npy")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
