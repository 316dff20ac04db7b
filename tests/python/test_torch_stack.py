"""rnnx.torch.Stack: mixed stacks against cpu_reference through the core binding, gradcheck,
framework weights, forget_bias, states and errors."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import rnnx  # noqa: E402
import rnnx.torch as rt  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

F64 = torch.float64
T, B, I = 5, 3, 3
LENGTHS = [5, 2, 4]


def spec(gru_bidirectional=False, forget_bias=1.0, activation="relu", sizes=(4, 6, 5)):
    return {
        "input_size": I,
        "layers": [
            {"cell": "lstm", "hidden": sizes[0], "forget_bias": forget_bias},
            {
                "cell": "gru",
                "hidden": sizes[1],
                "gru_reset": "before",
                "bidirectional": gru_bidirectional,
            },
            {"cell": "rnn", "hidden": sizes[2], "activation": activation},
        ],
    }


def rand(shape, seed):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=F64) - 0.5


def flat_grads(stack):
    """The parameters' grads in rnnx's flat order."""
    out = torch.zeros(stack._flat_size, dtype=F64)
    for (name, offset, shape) in stack._slots:
        out[offset : offset + math.prod(shape)] = getattr(stack, name).grad.reshape(-1)
    return out


@pytest.mark.parametrize("engine", ["cpu", "cpu_reference"])
@pytest.mark.parametrize(
    "batch_first,bidirectional,mode",
    [
        (False, False, "padded"),
        (True, True, "lengths"),
        (False, True, "packed"),
        (True, False, "flat"),
    ],
)
def test_matches_cpu_reference_float64(engine, batch_first, bidirectional, mode):
    model = rnnx.Model(spec(bidirectional), dtype="float64")
    stack = rt.Stack(model, batch_first=batch_first, engine=engine)
    torch.manual_seed(3)
    stack.reset_parameters()
    ref_model = rnnx.Model(
        model.to_dict(), layout="batch_major" if batch_first else "time_major"
    )
    ref = rnnx.Rnn(ref_model, "cpu_reference")
    shape = (B, T, I) if batch_first else (T, B, I)
    x = rand(shape, 1).requires_grad_()
    init = rand((stack.state_size(B),), 2).requires_grad_()
    lengths = None if mode == "padded" else LENGTHS
    if mode == "packed":
        p = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first, enforce_sorted=False)
        y, state = stack(p, [s for s in stack.split_state(init, B)])
        y = pad_packed_sequence(y, batch_first=batch_first, total_length=T)[0]
    elif mode == "flat":
        y, state = stack(x, init, lengths=lengths)
    else:
        y, state = stack(x, stack.split_state(init, B), lengths=lengths)
    if mode == "flat":
        final = state
        assert final.shape == (stack.state_size(B),)
    else:
        parts = [list(s) if isinstance(s, tuple) else [s] for s in state]
        final = torch.cat([p[0].reshape(-1) for p in parts] + [p[1].reshape(-1) for p in parts
                                                               if len(p) == 2])
    dy, dfinal = rand(y.shape, 4), rand(final.shape, 5)
    ((y * dy).sum() + (final * dfinal).sum()).backward()

    weights = stack._flat.detach()
    ry, rfinal, reserve = ref.forward_train(
        x.detach(), weights, lengths=lengths, init=init.detach()
    )
    rdx, rdw, rdinit = ref.backward(
        x.detach(), weights, ry, dy, reserve, lengths=lengths, init=init.detach(), dfinal=dfinal
    )
    assert y.shape == ry.shape == (shape[:2] + (5,))
    pairs = [(y, ry), (final, rfinal), (x.grad, rdx), (init.grad, rdinit),
             (flat_grads(stack), rdw)]
    for a, b in pairs:
        assert a.shape == b.shape
        assert torch.allclose(a.detach(), b, rtol=0, atol=1e-12), (a - b).abs().max().item()
    # every gradient is non-trivial
    assert all(g.abs().max() > 0 for g in (x.grad, init.grad, rdw))
    if lengths is not None:  # zeros past each length
        yb = y if batch_first else y.transpose(0, 1)
        assert yb[1, 2:].abs().max() == 0


@pytest.mark.parametrize("engine", ["cpu", "cpu_reference"])
def test_gradcheck_tiny_stack(engine):
    stack = rt.Stack(
        spec(True, 0.5, "tanh", sizes=(2, 3, 2)), dtype=F64, engine=engine, batch_first=True
    )
    x = rand((2, 3, I), 1).requires_grad_()
    init = rand((stack.state_size(2),), 2).requires_grad_()
    params = list(stack.parameters())

    def f(x, init, *_):
        y, state = stack(x, init, lengths=[3, 2])
        return y, state

    assert torch.autograd.gradcheck(f, (x, init, *params), eps=1e-6, atol=1e-8)


def canonical(model, seed=0):
    size = rnnx.WeightLayout(model).size
    return np.random.default_rng(seed).uniform(-0.5, 0.5, size)


def test_load_weights_tf_matches_canonical():
    model = rnnx.Model(spec(True), dtype="float64")
    weights = canonical(model)
    a = rt.Stack(model, engine="cpu")
    a.load_weights("rnnx", rnnx.export_weights(model, "rnnx", weights))
    assert np.array_equal(a._flat.numpy(), weights)
    b = rt.Stack(model, engine="cpu")
    tf = rnnx.export_weights(model, "tf", weights)
    assert "L1.bw.gates_kernel" in tf and "L0.fw.kernel" in tf
    b.load_weights("tf", {k: torch.from_numpy(v) for k, v in tf.items()})
    assert b.l0_fw_bh.abs().max() == 0  # tf's one bias goes into bx
    assert not torch.equal(a._flat, b._flat)
    x = rand((T, B, I), 1)
    with torch.no_grad():
        ya, sa = a(x, lengths=LENGTHS)
        yb, sb = b(x, lengths=LENGTHS)
    assert ya.abs().max() > 0
    assert torch.allclose(ya, yb, rtol=0, atol=1e-12)
    for s1, s2 in zip(sa, sb):
        for t1, t2 in zip(s1 if isinstance(s1, tuple) else [s1], s2 if isinstance(s2, tuple)
                          else [s2]):
            assert torch.allclose(t1, t2, rtol=0, atol=1e-12)
    # tf -> rnnx -> tf is exact
    back = b.export_weights("tf")
    assert all(np.array_equal(back[k], tf[k]) for k in tf)


def test_load_weights_torch_onnx_and_refusals():
    model = rnnx.Model(
        {"input_size": I, "layers": [{"cell": "lstm", "hidden": 4},
                                     {"cell": "gru", "hidden": 3, "bidirectional": True}]},
        dtype="float64",
    )
    weights = canonical(model, 1)
    for fmt in ("torch", "onnx"):
        s = rt.Stack(model)
        s.load_weights(fmt, rnnx.export_weights(model, fmt, weights))
        assert np.array_equal(s._flat.numpy(), weights)
    # the same as torch.nn modules chained, via state dicts
    s = rt.Stack(model)
    s.load_weights("torch", rnnx.export_weights(model, "torch", weights))
    sd = {k: torch.from_numpy(v) for k, v in rnnx.export_weights(model, "torch", weights).items()}
    lstm, gru = torch.nn.LSTM(I, 4, dtype=F64), torch.nn.GRU(4, 3, bidirectional=True, dtype=F64)
    lstm.load_state_dict({k: v for k, v in sd.items() if k.endswith("l0")})
    gru.load_state_dict({k.replace("l1", "l0"): v for k, v in sd.items() if "l1" in k})
    x = rand((T, B, I), 2)
    with torch.no_grad():
        y, _ = s(x)
        y2 = gru(lstm(x)[0])[0]
    assert torch.allclose(y, y2, rtol=0, atol=1e-12)
    # formats that cannot hold the model: rnnx's message
    tf_model = rnnx.Model(spec(), dtype="float64")
    st = rt.Stack(tf_model)
    tensors = rnnx.export_weights(tf_model, "tf", canonical(tf_model))
    with pytest.raises(rnnx.Error, match="forget_bias|reset"):
        st.load_weights("torch", tensors)
    with pytest.raises(rnnx.Error):
        st.load_weights("tf", {k: v for k, v in list(tensors.items())[1:]})


def test_forget_bias_honoured():
    h = 4
    a = rt.Stack(spec(forget_bias=1.0), dtype=F64)
    b = rt.Stack(spec(forget_bias=0.0), dtype=F64)
    b.load_state_dict(a.state_dict())
    x = rand((T, B, I), 1)
    with torch.no_grad():
        ya, _ = a(x)
        yb, _ = b(x)
        assert (ya - yb).abs().max() > 1e-3
        b.l0_fw_bx[h : 2 * h] += 1.0  # gates i, f, g, o: forget_bias adds to f
        yb, _ = b(x)
    assert torch.allclose(ya, yb, rtol=0, atol=1e-12)


def test_parameters_states_and_modules():
    s = rt.Stack(rnnx.Model(spec(True)).to_json(), engine="cpu")
    names = [n for n, _ in s.named_parameters()]
    assert names[:5] == ["l0_fw_Wx", "l0_fw_Wh", "l0_fw_bx", "l0_fw_bh", "l1_fw_Wx"]
    assert "l1_bw_Wh" in names and len(names) == 16
    assert s.l1_bw_Wh.shape == (18, 6) and s.l2_fw_Wx.shape == (5, 12)
    assert s._flat.dtype == torch.float32 and s._flat_is_current(list(s.parameters()))
    assert s.state_size(B) == rnnx.StateLayout(s.model, B).size
    s.double()
    assert s._flat.dtype == torch.float64 and s._flat_is_current(list(s.parameters()))
    x = rand((T, B, I), 1)
    y, state = s(x)
    assert y.shape == (T, B, 5)
    assert [tuple(t.shape) for t in state[0]] == [(1, B, 4)] * 2
    assert state[1].shape == (2, B, 6) and state[2].shape == (1, B, 5)
    y1, state1 = s(x[:, 0].contiguous())  # unbatched
    assert torch.allclose(y1, y[:, 0], atol=1e-12)
    assert state1[1].shape == (2, 6) and torch.allclose(state1[1], state[1][:, 0], atol=1e-12)
    s2 = rt.Stack(spec(True), dtype=F64)
    s2.load_state_dict(s.state_dict())
    assert torch.equal(s2(x)[0], y)


def test_errors():
    s = rt.Stack(spec(), dtype=F64)
    x = rand((T, B, I), 1)
    with pytest.raises(rnnx.InvalidArgumentError, match=r"hx: expected the flat state or one"):
        s(x, [torch.zeros(1, B, 4, dtype=F64)])
    with pytest.raises(rnnx.InvalidArgumentError, match=r"hx\[0\]: expected \(h, c\)"):
        s(x, [torch.zeros(1, B, 4, dtype=F64)] * 3)
    bad = [(torch.zeros(1, B, 4, dtype=F64),) * 2, torch.zeros(1, B, 7, dtype=F64),
           torch.zeros(1, B, 5, dtype=F64)]
    with pytest.raises(rnnx.InvalidArgumentError, match=r"hx: \[1\] h: expected \[1, 3, 6\]"):
        s(x, bad)
    with pytest.raises(rnnx.InvalidArgumentError, match=r"flat state: expected \["):
        s(x, torch.zeros(3, dtype=F64))
    with pytest.raises(rnnx.InvalidArgumentError, match="expected torch.float64 on cpu"):
        s(x.float())
    with pytest.raises(rnnx.InvalidArgumentError, match="dtype: expected a float32 or float64"):
        rt.Stack(rnnx.Model(spec(), dtype="bfloat16"))
    with pytest.raises(rnnx.InvalidArgumentError, match="engine: expected one of"):
        rt.Stack(spec(), engine="fast")
    with pytest.raises(rnnx.InvalidArgumentError, match="layers"):
        rt.Stack({"input_size": 3, "layers": [{"cell": "lstm", "hidden": 0}]})
