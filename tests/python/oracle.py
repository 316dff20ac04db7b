"""A plain numpy LSTM/GRU/RNN forward pass, written from docs/DESIGN.md's formulas and layouts
only, as an oracle independent of rnnx's engines for the binding's tests."""

import numpy as np

import rnnx


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _step(layer, x, h, c, wx, wh, bx, bh):
    """One step of one sequence: the new (h, c); c is None for GRU and RNN layers."""
    hidden = layer["hidden"]
    gx = wx @ x + bx
    gh = wh @ h + bh
    if layer["cell"] == "lstm":
        z = gx + gh
        i = _sigmoid(z[0:hidden])
        f = _sigmoid(z[hidden : 2 * hidden] + layer["forget_bias"])
        g = np.tanh(z[2 * hidden : 3 * hidden])
        o = _sigmoid(z[3 * hidden :])
        c = f * c + i * g
        return o * np.tanh(c), c
    if layer["cell"] == "gru":
        r = _sigmoid(gx[0:hidden] + gh[0:hidden])
        z = _sigmoid(gx[hidden : 2 * hidden] + gh[hidden : 2 * hidden])
        if layer["gru_reset"] == "after":
            n = np.tanh(gx[2 * hidden :] + r * gh[2 * hidden :])
        else:
            n = np.tanh(gx[2 * hidden :] + wh[2 * hidden :] @ (r * h) + bh[2 * hidden :])
        return (1 - z) * n + z * h, None
    v = gx + gh
    return (np.tanh(v) if layer["activation"] == "tanh" else np.maximum(v, 0.0)), None


def forward(model, x, weights, lengths=None, init=None):
    """(y, final_state) as rnnx defines them, in float64."""
    spec = model.to_dict()
    wl = rnnx.WeightLayout(model)
    weights = np.asarray(weights, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if spec["layout"] == "batch_major":
        x = x.transpose(1, 0, 2)
    steps, batch, _ = x.shape
    lengths = np.full(batch, steps) if lengths is None else np.asarray(lengths)
    sl = rnnx.StateLayout(model, batch)
    init = np.zeros(sl.size) if init is None else np.asarray(init, dtype=np.float64)
    final = np.zeros(sl.size)
    inputs = x
    for l, layer in enumerate(spec["layers"]):
        hidden = layer["hidden"]
        outputs = []
        for d in ("fw", "bw") if layer["bidirectional"] else ("fw",):
            wx, wh, bx, bh = (wl.view(weights, l, d, p) for p in ("Wx", "Wh", "bx", "bh"))
            out = np.zeros((steps, batch, hidden))
            for b in range(batch):
                h = sl.h_view(init, l, d)[b].copy()
                c = sl.c_view(init, l, d)[b].copy() if layer["cell"] == "lstm" else None
                order = range(lengths[b]) if d == "fw" else reversed(range(lengths[b]))
                for t in order:
                    h, c = _step(layer, inputs[t, b], h, c, wx, wh, bx, bh)
                    out[t, b] = h
                sl.h_view(final, l, d)[b] = h
                if c is not None:
                    sl.c_view(final, l, d)[b] = c
            outputs.append(out)
        inputs = np.concatenate(outputs, axis=2)
    y = inputs.transpose(1, 0, 2) if spec["layout"] == "batch_major" else inputs
    return y, final
