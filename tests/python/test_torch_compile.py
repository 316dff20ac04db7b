"""torch.compile of rnnx.torch layers through the torch.library ops (torch >= 2.4)."""

import pytest

torch = pytest.importorskip("torch")

import rnnx.torch as rt  # noqa: E402

pytestmark = pytest.mark.skipif(not rt._OPS, reason="needs torch.library.custom_op (torch 2.4)")

F64 = torch.float64


def loss_and_grads(module, x, hx, lengths):
    y, state = module(x, hx, lengths=lengths)
    parts = [state] if isinstance(state, torch.Tensor) else list(state)
    flat = [t for p in parts for t in (p if isinstance(p, tuple) else (p,))]
    g = torch.Generator().manual_seed(9)
    loss = (y * torch.rand(y.shape, generator=g, dtype=F64)).sum() + sum(
        (t * torch.rand(t.shape, generator=g, dtype=F64)).sum() for t in flat
    )
    leaves = [x] + [h for h in (hx if isinstance(hx, tuple) else (hx,)) if h is not None]
    grads = torch.autograd.grad(loss, leaves + list(module.parameters()))
    return [y] + flat + list(grads)


def check(module, x, hx, lengths, backend):
    eager = loss_and_grads(module, x, hx, lengths)
    compiled = torch.compile(module, fullgraph=True, backend=backend)
    traced = loss_and_grads(compiled, x, hx, lengths)
    assert len(eager) == len(traced)
    for a, b in zip(eager, traced):
        assert a.shape == b.shape
        assert torch.allclose(a, b, rtol=0, atol=1e-12), (a - b).abs().max().item()


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
def test_lstm_compiles_fullgraph(backend):
    torch._dynamo.reset()
    torch.manual_seed(0)
    lstm = rt.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True, dtype=F64)
    x = (torch.rand(2, 5, 3, dtype=F64) - 0.5).requires_grad_()
    h0 = tuple((torch.rand(4, 2, 4, dtype=F64) - 0.5).requires_grad_() for _ in range(2))
    check(lstm, x, h0, torch.tensor([5, 3]), backend)


def test_stack_and_bias_false_compile():
    torch._dynamo.reset()
    torch.manual_seed(1)
    stack = rt.Stack(
        {"input_size": 3, "layers": [{"cell": "lstm", "hidden": 4, "forget_bias": 1.0},
                                     {"cell": "gru", "hidden": 5, "gru_reset": "before"}]},
        dtype=F64,
    )
    x = (torch.rand(5, 2, 3, dtype=F64) - 0.5).requires_grad_()
    init = (torch.rand(stack.state_size(2), dtype=F64) - 0.5).requires_grad_()
    check(stack, x, init, None, "aot_eager")
    gru = rt.GRU(3, 4, bias=False, dtype=F64)  # no bias parameters: zeros in the flat weights
    check(gru, x, None, [5, 2], "aot_eager")


def test_no_graph_break_and_no_grad():
    torch._dynamo.reset()
    lstm = rt.LSTM(3, 4, dtype=F64)
    x = torch.rand(5, 2, 3, dtype=F64)
    explained = torch._dynamo.explain(lstm)(x)
    assert explained.graph_break_count == 0 and explained.graph_count == 1
    compiled = torch.compile(lstm, fullgraph=True, backend="aot_eager")
    with torch.no_grad():
        y, (h, c) = compiled(x)
        y2, (h2, c2) = lstm(x)
    assert y.abs().max() > 0
    for a, b in ((y, y2), (h, h2), (c, c2)):
        assert torch.equal(a, b)
