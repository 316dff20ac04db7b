"""rnnx.torch: drop-in LSTM/GRU/RNN layers against torch.nn's, autograd, gradcheck, errors."""

import pytest

torch = pytest.importorskip("torch")

import rnnx  # noqa: E402
import rnnx.torch as rt  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

CELLS = {
    "lstm": (rt.LSTM, torch.nn.LSTM),
    "gru": (rt.GRU, torch.nn.GRU),
    "rnn": (rt.RNN, torch.nn.RNN),
}
T, B, I, H = 4, 3, 3, 2
LENGTHS = [4, 2, 3]  # unsorted, mixed


def make_pair(cell, dtype, engine="cpu", seed=0, **kw):
    ours_cls, theirs_cls = CELLS[cell]
    torch.manual_seed(seed)
    theirs = theirs_cls(I, H, dtype=dtype, **kw)
    ours = ours_cls(I, H, dtype=dtype, engine=engine, **kw)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def make_inputs(cell, dtype, layers, bidirectional, batch_first, seed=1):
    g = torch.Generator().manual_seed(seed)
    shape = (B, T, I) if batch_first else (T, B, I)
    x = torch.rand(shape, generator=g, dtype=dtype) - 0.5
    sshape = (layers * (2 if bidirectional else 1), B, H)
    h0 = torch.rand(sshape, generator=g, dtype=dtype) - 0.5
    hx = (h0, torch.rand(sshape, generator=g, dtype=dtype) - 0.5) if cell == "lstm" else h0
    return x, hx


def leaves(x, hx):
    hs = list(hx) if isinstance(hx, tuple) else [hx]
    return [t.requires_grad_() for t in [x] + hs]


def run(layer, x, hx, packed, batch_first):
    """Padded output and the final states as a list."""
    hx_arg = tuple(hx) if isinstance(hx, (tuple, list)) else hx
    if packed:
        p = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first, enforce_sorted=False)
        y, state = layer(p, hx_arg)
        y = pad_packed_sequence(y, batch_first=batch_first, total_length=T)[0]
    else:
        y, state = layer(x, hx_arg)
    return [y] + (list(state) if isinstance(state, tuple) else [state])


def compare(cell, dtype, engine, layers, bidirectional, batch_first, packed, tol):
    kw = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    ours, theirs = make_pair(cell, dtype, engine, **kw)
    results = []
    for layer in (ours, theirs):
        x, hx = make_inputs(cell, dtype, layers, bidirectional, batch_first)
        ins = leaves(x, hx)
        outs = run(layer, ins[0], ins[1:] if cell == "lstm" else ins[1], packed, batch_first)
        g = torch.Generator().manual_seed(7)
        loss = sum((o * (torch.rand(o.shape, generator=g, dtype=dtype) - 0.5)).sum() for o in outs)
        loss.backward()
        grads = [t.grad for t in ins] + [p.grad for p in layer.parameters()]
        results.append((outs, grads))
    (o1, g1), (o2, g2) = results
    assert len(g1) == len(g2) == 1 + (2 if cell == "lstm" else 1) + len(list(theirs.parameters()))
    for a, b in zip(o1 + g1, o2 + g2):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert torch.allclose(a, b, rtol=0, atol=tol), (a - b).abs().max().item()


@pytest.mark.parametrize("engine", ["cpu_reference", "cpu"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, True)])
@pytest.mark.parametrize("batch_first,packed", [(False, False), (True, True), (False, True)])
def test_matches_torch_float64(engine, cell, layers, bidirectional, batch_first, packed):
    compare(cell, torch.float64, engine, layers, bidirectional, batch_first, packed, 1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("packed", [False, True])
def test_matches_torch_float32(cell, packed):
    compare(cell, torch.float32, "cpu", 2, True, False, packed, 1e-5)


def test_relu_and_no_bias():
    for kw in (dict(nonlinearity="relu"), dict(bias=False)):
        ours, theirs = make_pair("rnn" if "nonlinearity" in kw else "lstm", torch.float64, **kw)
        x = torch.rand(T, B, I, dtype=torch.float64) - 0.5
        y1, y2 = ours(x)[0], theirs(x)[0]
        assert torch.allclose(y1, y2, rtol=0, atol=1e-12)
    assert [n for n, _ in ours.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    assert ours._flat.abs().sum() == sum(p.abs().sum() for p in ours.parameters())


@pytest.mark.parametrize("engine", ["cpu_reference", "cpu"])
@pytest.mark.parametrize(
    "cell,layers,bidirectional,batch_first,packed",
    [
        ("lstm", 2, True, False, True),
        ("lstm", 1, False, True, False),
        ("gru", 2, False, True, True),
        ("gru", 1, True, False, False),
        ("rnn", 2, True, True, True),
        ("rnn", 1, False, False, True),
    ],
)
def test_gradcheck(engine, cell, layers, bidirectional, batch_first, packed):
    kw = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    layer = CELLS[cell][0](I, H, dtype=torch.float64, engine=engine, **kw)
    x, hx = make_inputs(cell, torch.float64, layers, bidirectional, batch_first)
    ins = leaves(x, hx)
    params = list(layer.parameters())

    def f(*args):  # gradcheck perturbs the parameters in place: they are the layer's
        x, *hs = args[: len(ins)]
        return tuple(run(layer, x, hs if cell == "lstm" else hs[0], packed, batch_first))

    assert torch.autograd.gradcheck(f, tuple(ins + params), eps=1e-6, atol=1e-8)


def test_state_dict_both_ways_and_interop():
    ours, theirs = make_pair("lstm", torch.float64, num_layers=2, bidirectional=True)
    names = [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_parameters()] == names
    with torch.no_grad():
        for p in ours.parameters():
            p.add_(1.0)
    theirs.load_state_dict(ours.state_dict())
    for n, p in theirs.named_parameters():
        assert torch.equal(p, getattr(ours, n))
    # The flat buffer is rnnx's weights for the torch format's tensors.
    model = ours._model(torch.float64)
    sd = {k: v.numpy() for k, v in theirs.state_dict().items()}
    assert torch.equal(torch.from_numpy(rnnx.import_weights(model, "torch", sd)), ours._flat)


def test_flat_views_and_replaced_parameters():
    ours, theirs = make_pair("gru", torch.float32)
    x = torch.rand(T, B, I) - 0.5
    assert ours._flat_is_current(list(ours.parameters()))
    ours.double()  # _apply re-flattens
    assert ours._flat.dtype == torch.float64 and ours._flat_is_current(list(ours.parameters()))
    ours.float()
    ours.weight_hh_l0 = torch.nn.Parameter(ours.weight_hh_l0.detach().clone() * 2)
    assert not ours._flat_is_current(list(ours.parameters()))
    with torch.no_grad():
        theirs.weight_hh_l0.mul_(2)
    y1, h1 = ours(x.requires_grad_())
    y2, h2 = theirs(x)
    assert torch.allclose(y1, y2, atol=1e-6)
    (y1.sum() + h1.sum()).backward()
    (y2.sum() + h2.sum()).backward()
    assert torch.allclose(ours.weight_hh_l0.grad, theirs.weight_hh_l0.grad, atol=1e-5)
    ours.flatten_parameters()
    assert ours._flat_is_current(list(ours.parameters()))


def test_no_grad_uses_forward_and_matches():
    ours, theirs = make_pair("lstm", torch.float64, num_layers=2)
    x = torch.rand(T, B, I, dtype=torch.float64)
    with torch.no_grad():
        y, (h, c) = ours(x)
    assert y.grad_fn is None and not y.requires_grad
    assert (False in [k[2] for k in ours._plans]) and (True not in [k[2] for k in ours._plans])
    y2, (h2, c2) = theirs(x)
    for a, b in ((y, y2), (h, h2), (c, c2)):
        assert torch.allclose(a, b, rtol=0, atol=1e-12)


def test_unbatched_and_lengths_keyword():
    ours, theirs = make_pair("gru", torch.float64)
    x = torch.rand(T, I, dtype=torch.float64)
    y, h = ours(x)
    y2, h2 = theirs(x)
    assert y.shape == (T, H) and h.shape == (1, H)
    assert torch.allclose(y, y2, atol=1e-12) and torch.allclose(h, h2, atol=1e-12)
    # lengths= on a padded input equals the packed call (zeros past each length).
    xb = torch.rand(T, B, I, dtype=torch.float64)
    y, h = ours(xb, lengths=LENGTHS)
    p = pack_padded_sequence(xb, torch.tensor(LENGTHS), enforce_sorted=False)
    yp, hp = theirs(p)
    assert torch.allclose(y, pad_packed_sequence(yp, total_length=T)[0], atol=1e-12)
    assert torch.allclose(h, hp, atol=1e-12)
    assert y[2:, 1].abs().max() == 0


def test_packed_output_keeps_indices():
    ours, _ = make_pair("lstm", torch.float64)
    x = torch.rand(T, B, I, dtype=torch.float64)
    p = pack_padded_sequence(x, torch.tensor(LENGTHS), enforce_sorted=False)
    y, _ = ours(p)
    assert torch.equal(y.batch_sizes, p.batch_sizes)
    assert torch.equal(y.sorted_indices, p.sorted_indices)
    assert torch.equal(y.unsorted_indices, p.unsorted_indices)


def test_errors():
    ours, _ = make_pair("lstm", torch.float64)
    x = torch.rand(T, B, I, dtype=torch.float64)
    with pytest.raises(rnnx.InvalidArgumentError, match="expected torch.float64 on cpu"):
        ours(x.float())
    with pytest.raises(rnnx.InvalidArgumentError, match="contiguous"):
        ours(torch.rand(B, T, I, dtype=torch.float64).transpose(0, 1))
    with pytest.raises(rnnx.InvalidArgumentError, match="length"):
        ours(x, lengths=[5, 1, 1])
    with pytest.raises(rnnx.InvalidArgumentError, match="lengths"):
        ours(x, lengths=[1, 1])
    with pytest.raises(rnnx.InvalidArgumentError, match=r"h_0: expected \[1, 3, 2\]"):
        ours(x, (torch.zeros(2, B, H, dtype=torch.float64),) * 2)
    with pytest.raises(rnnx.InvalidArgumentError, match=r"expected \(h_0, c_0\)"):
        ours(x, torch.zeros(1, B, H, dtype=torch.float64))
    with pytest.raises(rnnx.InvalidArgumentError, match="on meta"):
        ours(torch.empty(T, B, I, dtype=torch.float64, device="meta"))
    with pytest.raises(rnnx.InvalidArgumentError, match="dropout=0.5 is not supported"):
        rt.LSTM(I, H, num_layers=2, dropout=0.5)
    with pytest.raises(rnnx.InvalidArgumentError, match="proj_size=2 is not supported"):
        rt.LSTM(I, H, proj_size=2)
    with pytest.raises(rnnx.InvalidArgumentError, match="dtype: expected torch.float32"):
        rt.GRU(I, H, dtype=torch.float16)
    with pytest.raises(rnnx.InvalidArgumentError, match="nonlinearity"):
        rt.RNN(I, H, nonlinearity="sigmoid")
    with pytest.raises(rnnx.InvalidArgumentError, match="engine: expected one of"):
        rt.RNN(I, H, engine="fast")
    # Double backward is refused.
    xg = x.clone().requires_grad_()
    y, _ = ours(xg)
    (g,) = torch.autograd.grad(y.sum(), xg, create_graph=True)
    with pytest.raises(RuntimeError, match="double backward"):
        g.sum().backward()


def test_import_rnnx_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, rnnx; assert 'torch' not in sys.modules; rnnx.torch.LSTM; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


gpu = pytest.mark.skipif(
    not torch.cuda.is_available() or not rnnx.engine_available("gpu_dynamic")[0],
    reason="needs a GPU and rnnx's GPU engines",
)


@gpu
@pytest.mark.parametrize("engine", ["auto", "gpu_dynamic", "cudnn"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gpu_matches_torch(engine, cell):
    if not rnnx.engine_available(engine)[0]:
        pytest.skip(f"{engine} unavailable")
    ours, theirs = make_pair(cell, torch.float32, engine, num_layers=2, bidirectional=True)
    ours.cuda(), theirs.cuda()
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        results = []
        for layer in (ours, theirs):
            x, hx = make_inputs(cell, torch.float32, 2, True, False)
            x = x.cuda().requires_grad_()
            hx = tuple(h.cuda() for h in hx) if cell == "lstm" else hx.cuda()
            p = pack_padded_sequence(x, torch.tensor(LENGTHS), enforce_sorted=False)
            y, state = layer(p, hx)
            y = pad_packed_sequence(y, total_length=T)[0]
            h = state[0] if cell == "lstm" else state
            (y.square().sum() + h.sum()).backward()
            results.append([y, h, x.grad] + [q.grad for q in layer.parameters()])
    stream.synchronize()
    for a, b in zip(*results):
        assert a.device.type == "cuda"
        assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max().item()
    with torch.no_grad():
        y, _ = ours(torch.rand(T, B, I, device="cuda"))
    assert y.device.type == "cuda"
