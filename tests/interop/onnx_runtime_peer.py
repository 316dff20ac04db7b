#!/usr/bin/env python3
"""ONNX Runtime as a peer: rnnx must compute what ONNX's LSTM, GRU and RNN operators compute.

For each case the script builds an ONNX graph with LSTM / GRU / RNN nodes (forward, reverse,
bidirectional; GRU linear_before_reset 0 and 1; RNN activations Tanh and Relu; sequence_lens with
mixed lengths including 0; initial states; stacked LSTM -> GRU and RNN -> LSTM -> RNN graphs),
runs it with ONNX Runtime's CPU provider in
float32, writes the same tensors as the files `rnnx run --weights-format onnx` reads (L{l}.W.npy,
L{l}.R.npy, L{l}.B.npy as the operator holds them, x.npy, lengths.npy, L{l}.{d}.h0.npy / c0.npy),
runs rnnx on the engines cpu_reference and cpu, and compares Y, Y_h and Y_c with rnnx's y.npy,
hn and cn: max |rnnx - ort| / max(1, |ort|) must stay under 1e-5.

Where the conventions differ the script checks the difference instead of hiding it: for a
length-0 sequence ONNX Runtime returns zeros as Y_h / Y_c, rnnx (like TF's dynamic_rnn) the
initial state. Past each sequence's length both write zeros to Y.

rnnx has no reverse-only layer, so an ONNX node with direction="reverse" is compared with the
backward half of a bidirectional rnnx layer whose forward half is given zero weights.

Usage: onnx_runtime_peer.py --rnnx PATH/TO/rnnx [--keep DIR]
Exit codes: 0 all cases agree, 1 a mismatch or failure, 77 onnx / onnxruntime / numpy are not
installed (ctest reports a skip; RNNX_REQUIRE_PEERS=1 turns that into a failure).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
except ImportError as missing:
    print(f"onnx_runtime_peer: {missing}; install onnx, onnxruntime and numpy "
          "(scripts/test.sh does)", file=sys.stderr)
    sys.exit(1 if os.environ.get("RNNX_REQUIRE_PEERS") == "1" else 77)

BOUND = 1e-5
TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools",
                    "onnx_to_rnnx.py")
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
DIRS = ("fw", "bw")


class Layer:
    def __init__(self, op, hidden, direction="forward", linear_before_reset=0, activations=None):
        self.op, self.hidden, self.direction = op, hidden, direction
        self.linear_before_reset = linear_before_reset
        self.activations = activations  # RNN only: the node's attribute; None leaves the default

    @property
    def activation(self):
        """The model.json activation of an RNN layer: Tanh unless the node says otherwise."""
        return (self.activations or ["Tanh"])[0].lower()

    @property
    def dirs(self):
        return 2 if self.direction == "bidirectional" else 1


class Case:
    def __init__(self, name, input_size, layers, steps, lengths, with_init=True, seed=0):
        self.name, self.input_size, self.layers = name, input_size, layers
        self.steps, self.lengths, self.with_init, self.seed = steps, lengths, with_init, seed
        self.batch = len(lengths) if lengths is not None else 3


CASES = [
    Case("lstm_forward_mixed_lengths", 3, [Layer("LSTM", 4)], 6, [6, 3, 0, 1]),
    Case("lstm_reverse_mixed_lengths", 3, [Layer("LSTM", 5, "reverse")], 5, [5, 2, 4], seed=1),
    Case("lstm_bidirectional_mixed_lengths", 2, [Layer("LSTM", 3, "bidirectional")], 7,
         [7, 0, 4, 5, 1], seed=2),
    Case("lstm_bidirectional_full_no_init", 4, [Layer("LSTM", 6, "bidirectional")], 4, None,
         with_init=False, seed=3),
    Case("gru_after_forward_mixed_lengths", 3, [Layer("GRU", 4, linear_before_reset=1)], 6,
         [2, 6, 0], seed=4),
    Case("gru_before_bidirectional_mixed_lengths", 3,
         [Layer("GRU", 5, "bidirectional", linear_before_reset=0)], 5, [5, 1, 3, 0], seed=5),
    Case("gru_after_reverse_full_no_init", 2, [Layer("GRU", 3, "reverse", linear_before_reset=1)],
         5, None, with_init=False, seed=6),
    Case("gru_before_reverse_mixed_lengths", 3,
         [Layer("GRU", 4, "reverse", linear_before_reset=0)], 4, [1, 4, 3], seed=7),
    Case("stacked_lstm_bi_then_gru_before", 3,
         [Layer("LSTM", 4, "bidirectional"), Layer("GRU", 5, linear_before_reset=0)], 6,
         [6, 4, 0, 2], seed=8),
    Case("rnn_tanh_forward_mixed_lengths", 3, [Layer("RNN", 4)], 5, [5, 0, 3, 1], seed=9),
    Case("rnn_relu_bidirectional_mixed_lengths", 3,
         [Layer("RNN", 3, "bidirectional", activations=["Relu", "Relu"])], 6, [6, 2, 0, 4],
         seed=10),
    Case("rnn_relu_reverse_full_no_init", 2, [Layer("RNN", 4, "reverse", activations=["Relu"])],
         5, None, with_init=False, seed=11),
    Case("rnn_tanh_bidirectional_explicit_full", 4,
         [Layer("RNN", 5, "bidirectional", activations=["Tanh", "Tanh"])], 4, None, seed=12),
    Case("stacked_rnn_relu_bi_then_lstm_then_rnn_tanh", 3,
         [Layer("RNN", 4, "bidirectional", activations=["Relu", "Relu"]), Layer("LSTM", 3),
          Layer("RNN", 2, activations=["Tanh"])], 5, [5, 3, 0, 2], seed=13),
]


def rel_error(got, ref):
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        return float("inf")
    if ref.size == 0:
        return 0.0
    return float(np.max(np.abs(got - ref) / np.maximum(1.0, np.abs(ref))))


def build_graph(case, rng, extra_attributes=None, peepholes=False, perm=(0, 2, 1, 3),
                lengths_on_first_only=False):
    """The ONNX model and its feeds. Layer l's W, R, B are initializers named L{l}.W/R/B (also
    returned in feeds, which rnnx needs); its initial states are inputs named L{l}.h0 / c0.
    For the refusal checks: `extra_attributes` adds to every node's; `peepholes` gives the first
    node a P input; `perm` is the Transpose between stacked nodes; `lengths_on_first_only` gives
    sequence_lens to the first node alone."""
    T, B = case.steps, case.batch
    feeds = {"X": rng.uniform(-1, 1, (T, B, case.input_size)).astype(np.float32)}
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, [T, B, case.input_size])]
    if case.lengths is not None:
        feeds["seq_lens"] = np.array(case.lengths, np.int32)
        inputs.append(helper.make_tensor_value_info("seq_lens", TensorProto.INT32, [B]))
    nodes, outputs, initializers = [], [], []
    x_name, x_size = "X", case.input_size
    for l, layer in enumerate(case.layers):
        G, H, D = GATES[layer.op], layer.hidden, layer.dirs
        scale = 1 / np.sqrt(H)
        tensors = {
            "W": rng.uniform(-scale, scale, (D, G * H, x_size)),
            "R": rng.uniform(-scale, scale, (D, G * H, H)),
            "B": rng.uniform(-scale, scale, (D, 2 * G * H)),
        }
        if case.with_init:
            tensors["h0"] = rng.uniform(-1, 1, (D, B, H))
            if layer.op == "LSTM":
                tensors["c0"] = rng.uniform(-1, 1, (D, B, H))
        node_inputs = [x_name]
        for key in ("W", "R", "B"):
            name = f"L{l}.{key}"
            feeds[name] = tensors[key].astype(np.float32)
            initializers.append(numpy_helper.from_array(feeds[name], name))
            node_inputs.append(name)
        with_lengths = case.lengths is not None and not (lengths_on_first_only and l > 0)
        node_inputs.append("seq_lens" if with_lengths else "")
        for key in ("h0", "c0") if layer.op == "LSTM" else ("h0",):
            if key in tensors:
                name = f"L{l}.{key}"
                feeds[name] = tensors[key].astype(np.float32)
                inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [D, B, H]))
                node_inputs.append(name)
            else:
                node_inputs.append("")
        if peepholes and l == 0:
            initializers.append(numpy_helper.from_array(np.zeros((D, 3 * H), np.float32), "P"))
            node_inputs.append("P")
        while node_inputs and node_inputs[-1] == "":
            node_inputs.pop()
        node_outputs = [f"L{l}.Y", f"L{l}.Y_h"] + ([f"L{l}.Y_c"] if layer.op == "LSTM" else [])
        attributes = {"hidden_size": H, "direction": layer.direction}
        if layer.op == "GRU":
            attributes["linear_before_reset"] = layer.linear_before_reset
        if layer.op == "RNN" and layer.activations is not None:
            attributes["activations"] = layer.activations
        attributes.update(extra_attributes or {})
        nodes.append(helper.make_node(layer.op, node_inputs, node_outputs, **attributes))
        outputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT,
                                                  [T, D, B, H] if n.endswith(".Y") else [D, B, H])
                    for n in node_outputs]
        # The next layer reads concat(directions) on the feature axis: [T, D, B, H] -> [T, B, D*H].
        if l + 1 < len(case.layers):
            nodes.append(helper.make_node("Transpose", [f"L{l}.Y"], [f"L{l}.Yt"], perm=list(perm)))
            shape_name = f"L{l}.shape"
            initializers.append(
                numpy_helper.from_array(np.array([T, B, D * H], np.int64), shape_name))
            nodes.append(helper.make_node("Reshape", [f"L{l}.Yt", shape_name], [f"L{l}.out"]))
            x_name, x_size = f"L{l}.out", D * H
    graph = helper.make_graph(nodes, case.name, inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model)
    return model, feeds


def onnx_to_rnnx(model_path, folder):
    """tools/onnx_to_rnnx.py on the model: (exit code, stderr)."""
    done = subprocess.run([sys.executable, TOOL, model_path, folder], capture_output=True,
                          text=True)
    return done.returncode, done.stderr.strip()


def write_rnnx_files(case, model_path, feeds, folder):
    """The files `rnnx run --weights-format onnx` reads: the weights and model.json from
    tools/onnx_to_rnnx.py, the data (x, lengths, initial states) from the feeds. rnnx has no
    reverse-only layer (the tool refuses one), so such a node is written by hand as the backward
    half of a bidirectional layer with a zero forward half."""
    reverse = any(layer.direction == "reverse" for layer in case.layers)
    if not reverse:
        code, err = onnx_to_rnnx(model_path, folder)
        if code != 0:
            raise RuntimeError(f"onnx_to_rnnx exited {code}: {err}")
    layers = []
    for l, layer in enumerate(case.layers):
        entry = {"cell": layer.op.lower(), "hidden": layer.hidden,
                 "bidirectional": layer.direction != "forward"}
        if layer.op == "GRU":
            entry["gru_reset"] = "after" if layer.linear_before_reset else "before"
        if layer.op == "RNN":
            entry["activation"] = layer.activation
        layers.append(entry)
        for key in ("W", "R", "B", "h0", "c0"):
            value = feeds.get(f"L{l}.{key}")
            if value is None or (key in ("W", "R", "B") and not reverse):
                continue
            if layer.direction == "reverse":  # a zero forward half in front of the node's tensors
                value = np.concatenate([np.zeros_like(value), value])
            if key in ("W", "R", "B"):
                np.save(os.path.join(folder, f"L{l}.{key}.npy"), value)
            else:
                for d in range(value.shape[0]):
                    np.save(os.path.join(folder, f"L{l}.{DIRS[d]}.{key}.npy"), value[d])
    if reverse:
        with open(os.path.join(folder, "model.json"), "w") as f:
            json.dump({"input_size": case.input_size, "dtype": "float32", "layers": layers}, f)
    np.save(os.path.join(folder, "x.npy"), feeds["X"])
    if case.lengths is not None:
        np.save(os.path.join(folder, "lengths.npy"), feeds["seq_lens"])


def compare(case, ort_out, folder, engine):
    """Worst relative error of rnnx's files against ONNX Runtime's outputs, and failures."""
    names = [o.name for o in ort_out["__outputs__"]]
    out = dict(zip(names, ort_out["__values__"]))
    T, B = case.steps, case.batch
    lengths = case.lengths if case.lengths is not None else [T] * B
    empty = [b for b in range(B) if lengths[b] == 0]
    full = [b for b in range(B) if lengths[b] > 0]
    worst, problems = 0.0, []

    def check(what, got, ref):
        nonlocal worst
        e = rel_error(got, ref)
        worst = max(worst, e)
        if not e < BOUND:
            problems.append(f"{what}: relative error {e:.3g} (bound {BOUND:g})")

    last = len(case.layers) - 1
    layer = case.layers[last]
    y = np.load(os.path.join(folder, "y.npy"))
    ort_y = out[f"L{last}.Y"]  # [T, D, B, H]
    if layer.direction == "reverse":
        check("Y", y[:, :, layer.hidden:], ort_y[:, 0])
    else:
        check("Y", y, ort_y.transpose(0, 2, 1, 3).reshape(T, B, -1))

    for l, layer in enumerate(case.layers):
        rnnx_dirs = ["bw"] if layer.direction == "reverse" else list(DIRS[:layer.dirs])
        for kind, output in (("h", "Y_h"), ("c", "Y_c")):
            if kind == "c" and layer.op != "LSTM":
                continue
            ort_state = out[f"L{l}.{output}"]
            for k, d in enumerate(rnnx_dirs):
                mine = np.load(os.path.join(folder, f"L{l}.{d}.{kind}n.npy"))
                check(f"L{l}.{output}[{k}]", mine[full], ort_state[k][full])
                if empty:
                    # The documented difference: ORT zeros, rnnx the initial state.
                    init = case.with_init and f"L{l}.{kind}0" in ort_out["__feeds__"]
                    expect = (ort_out["__feeds__"][f"L{l}.{kind}0"][k][empty] if init
                              else np.zeros((len(empty), layer.hidden)))
                    if np.any(ort_state[k][empty] != 0):
                        problems.append(f"L{l}.{output}: ORT no longer gives zeros for length 0")
                    check(f"L{l}.{d}.{kind}n of length-0 sequences = initial state",
                          mine[empty], expect)
    return worst, [f"{engine}: {p}" for p in problems]


def run_case(case, rnnx, work):
    rng = np.random.default_rng(1000 + case.seed)
    model, feeds = build_graph(case, rng)
    model_path = os.path.join(work, case.name + ".onnx")
    onnx.save(model, model_path)
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    values = session.run(None, {k: v for k, v in feeds.items() if k in wanted})
    ort_out = {"__outputs__": session.get_outputs(), "__values__": values, "__feeds__": feeds}
    results, problems = {}, []
    for engine in ("cpu_reference", "cpu"):
        folder = os.path.join(work, f"{case.name}.{engine}")
        os.makedirs(folder)
        write_rnnx_files(case, model_path, feeds, folder)
        cmd = [rnnx, "run", "--model", os.path.join(folder, "model.json"), "--dir", folder,
               "--engine", engine, "--weights-format", "onnx"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            problems.append(f"{engine}: rnnx run exited {done.returncode}: {done.stderr.strip()}")
            continue
        results[engine], more = compare(case, ort_out, folder, engine)
        problems += more
    return results, problems


# Graphs rnnx cannot run: tools/onnx_to_rnnx.py must refuse each (exit 3) naming the feature.
STACK = [Layer("LSTM", 4, "bidirectional"), Layer("GRU", 3)]
REFUSALS = [
    ("clip", Case("lstm_clip", 3, [Layer("LSTM", 4)], 3, None), {"extra_attributes": {"clip": 3.0}}),
    ("peephole weights P", Case("lstm_peepholes", 3, [Layer("LSTM", 4)], 3, None),
     {"peepholes": True}),
    ("activations", Case("gru_relu", 3, [Layer("GRU", 4)], 3, None),
     {"extra_attributes": {"activations": ["Sigmoid", "Relu"]}}),
    ("input_forget=1", Case("lstm_coupled", 3, [Layer("LSTM", 4)], 3, None),
     {"extra_attributes": {"input_forget": 1}}),
    ("layout=1", Case("lstm_batch_first", 3, [Layer("LSTM", 4)], 3, None),
     {"extra_attributes": {"layout": 1}}),
    ("reverse-only", Case("gru_reverse", 3, [Layer("GRU", 4, "reverse")], 3, None), {}),
    ("Tanh or Relu", Case("rnn_sigmoid", 3, [Layer("RNN", 4, activations=["Sigmoid"])], 3, None),
     {}),
    ("activations=['relu']",  # ONNX Runtime refuses "relu" for RNN too: names are case-sensitive
     Case("rnn_lowercase", 3, [Layer("RNN", 4, activations=["relu"])], 3, None), {}),
    ("the directions differ",
     Case("rnn_tanh_relu", 3, [Layer("RNN", 4, "bidirectional", activations=["Tanh", "Relu"])],
          3, None), {}),
    ("activation_alpha", Case("rnn_alpha", 3, [Layer("RNN", 4)], 3, None),
     {"extra_attributes": {"activation_alpha": [0.1]}}),
    ("not a layer of an rnnx stack", Case("stack_wrong_transpose", 3, STACK, 3, None),
     {"perm": (0, 1, 2, 3)}),
    ("one lengths.npy", Case("stack_lengths_on_first_only", 3, STACK, 3, [3, 2, 1]),
     {"lengths_on_first_only": True}),
]


def check_refusals(work):
    problems = []
    for what, case, options in REFUSALS:
        model, _ = build_graph(case, np.random.default_rng(0), **options)
        path = os.path.join(work, case.name + ".onnx")
        onnx.save(model, path)
        folder = os.path.join(work, case.name)
        code, err = onnx_to_rnnx(path, folder)
        if code != 3 or what not in err or os.path.exists(folder):
            problems.append(f"{case.name}: expected exit 3 naming '{what}' and nothing written, "
                            f"got {code}: {err}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rnnx", required=True, help="the rnnx command-line tool")
    parser.add_argument("--keep", help="write the case folders here and keep them")
    args = parser.parse_args()
    print(f"ONNX Runtime {ort.__version__}, onnx {onnx.__version__}, numpy {np.__version__}", flush=True)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="rnnx_ort_") as tmp:
        work = args.keep or tmp
        os.makedirs(work, exist_ok=True)
        for case in CASES:
            results, problems = run_case(case, args.rnnx, work)
            errors = ", ".join(f"{e} {v:.2e}" for e, v in results.items())
            print(f"{'FAIL' if problems else 'ok  '} {case.name}: max relative error {errors}")
            for p in problems:
                print(f"     {p}")
            failed += bool(problems)
        problems = check_refusals(work)
        print(f"{'FAIL' if problems else 'ok  '} tools/onnx_to_rnnx.py refuses "
              f"{', '.join(r[0] for r in REFUSALS)}")
        for p in problems:
            print(f"     {p}")
        failed += bool(problems)
    print(f"{len(CASES) + 1 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
