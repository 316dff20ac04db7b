"""GPU engines through the binding, on torch CUDA tensors (zero-copy through DLPack), on the
caller's stream. Skipped without torch, a CUDA device or rnnx's GPU module."""

import numpy as np
import pytest

import oracle
import rnnx
from conftest import make_model, random_inputs

torch = pytest.importorskip("torch")

if not torch.cuda.is_available():
    pytest.skip("torch sees no CUDA device", allow_module_level=True)
if not rnnx.info()["gpus"]:
    pytest.skip("rnnx finds no GPU: " + rnnx.info()["gpus_why_none"], allow_module_level=True)

TRAINING_ENGINES = ["gpu_dynamic", "gpu_static", "cudnn"]
FLOAT32 = {"input_size": 8, "dtype": "float32", "layers": [{"cell": "lstm", "hidden": 32}]}


def on_gpu(*arrays):
    return [torch.from_numpy(a).cuda() for a in arrays]


@pytest.mark.parametrize("engine", TRAINING_ENGINES + ["gpu_persistent"])
def test_forward_matches_the_oracle(engine):
    model = rnnx.Model(FLOAT32)
    x, weights, init = random_inputs(model, 6, 4)
    rnn = rnnx.Rnn(model, engine, inference_only=engine == "gpu_persistent")
    y, final_state = rnn.forward(*on_gpu(x, weights), init=on_gpu(init)[0])
    assert isinstance(y, torch.Tensor) and y.is_cuda and y.dtype == torch.float32
    torch.cuda.synchronize()
    want_y, want_final = oracle.forward(model, x, weights, None, init)
    np.testing.assert_allclose(y.cpu().numpy(), want_y, rtol=0, atol=2e-5)
    np.testing.assert_allclose(final_state.cpu().numpy(), want_final, rtol=0, atol=2e-5)


@pytest.mark.parametrize("engine", TRAINING_ENGINES)
def test_training_matches_cpu_reference(engine):
    model = make_model(dtype="float32", layers=[{"cell": "gru", "hidden": 16}])
    x, weights, _ = random_inputs(model, 5, 3)
    dy = np.random.default_rng(1).uniform(-1, 1, (5, 3, 16)).astype(np.float32)
    reference = rnnx.Rnn(model, "cpu_reference")
    y, _, reserve = reference.forward_train(x, weights)
    want = reference.backward(x, weights, y, dy, reserve)
    rnn = rnnx.Rnn(model, engine)
    gx, gw, gdy = on_gpu(x, weights, dy)
    y, _, reserve = rnn.forward_train(gx, gw)
    assert reserve.is_cuda and reserve.dtype == torch.uint8
    got = rnn.backward(gx, gw, y, gdy, reserve)
    torch.cuda.synchronize()
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.cpu().numpy(), w, rtol=0, atol=1e-4)


def test_float64_gpu_dynamic_within_1e12():
    model = make_model()
    x, weights, init = random_inputs(model, 5, 3)
    lengths = np.array([5, 0, 2], np.int32)
    want_y, want_final = rnnx.Rnn(model, "cpu_reference").forward(
        x, weights, lengths=lengths, init=init
    )
    y, final_state = rnnx.Rnn(model, "gpu_dynamic").forward(
        *on_gpu(x, weights), lengths=lengths, init=on_gpu(init)[0]
    )
    np.testing.assert_allclose(y.cpu().numpy(), want_y, rtol=0, atol=1e-12)
    np.testing.assert_allclose(final_state.cpu().numpy(), want_final, rtol=0, atol=1e-12)


def test_runs_on_the_callers_stream_in_place():
    model = rnnx.Model(FLOAT32)
    x, weights, _ = random_inputs(model, 6, 4)
    rnn = rnnx.Rnn(model, "gpu_dynamic")
    gx, gw = on_gpu(x, weights)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        y = torch.empty((6, 4, 32), device="cuda")
        state = torch.empty(rnnx.StateLayout(model, 4).size, device="cuda")
    for s in (stream, stream.cuda_stream):
        got_y, got_state = rnn.forward(gx, gw, y=y, final_state=state, stream=s)
        assert got_y is y and got_state is state
        stream.synchronize()
        want, _ = rnnx.Rnn(model, "cpu").forward(x, weights)
        np.testing.assert_allclose(y.cpu().numpy(), want, rtol=0, atol=2e-5)


def test_memory_refusals():
    model = rnnx.Model(FLOAT32)
    x, weights, _ = random_inputs(model, 2, 1)
    gx, gw = on_gpu(x, weights)
    with pytest.raises(rnnx.InvalidArgumentError, match="x: host memory; the gpu_dynamic engine"):
        rnnx.Rnn(model, "gpu_dynamic").forward(x, gw)
    with pytest.raises(rnnx.InvalidArgumentError, match="x: cuda:0 memory; the cpu engine"):
        rnnx.Rnn(model, "cpu").forward(gx, weights)
    with pytest.raises(rnnx.InvalidArgumentError, match="lengths: cuda:0 memory"):
        rnnx.Rnn(model, "gpu_dynamic").forward(
            gx, gw, lengths=torch.ones(1, dtype=torch.int32).cuda()
        )
