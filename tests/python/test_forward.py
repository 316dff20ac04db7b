"""forward, forward_train and backward through the binding: against a numpy oracle, cpu against
cpu_reference in float64 (1e-12), finite differences, and the rnnx CLI (RNNX_CLI) on the same
files."""

import os
import subprocess

import numpy as np
import pytest

import oracle
import rnnx
from conftest import make_model, random_inputs

LENGTHS = np.array([5, 0, 2], dtype=np.int32)


@pytest.mark.parametrize("layout", ["time_major", "batch_major"])
@pytest.mark.parametrize("engine", ["cpu_reference", "cpu"])
def test_forward_matches_the_oracle(layout, engine):
    model = make_model(layout=layout)
    x, weights, init = random_inputs(model, 5, 3)
    y, final_state = rnnx.Rnn(model, engine).forward(x, weights, lengths=LENGTHS, init=init)
    want_y, want_final = oracle.forward(model, x, weights, LENGTHS, init)
    assert y.shape == want_y.shape and y.dtype == np.float64
    np.testing.assert_allclose(y, want_y, rtol=0, atol=1e-12)
    np.testing.assert_allclose(final_state, want_final, rtol=0, atol=1e-12)


def test_lengths_as_a_list_and_final_state_false():
    model = make_model()
    x, weights, _ = random_inputs(model, 5, 3)
    rnn = rnnx.Rnn(model, "cpu")
    y, final_state = rnn.forward(x, weights, lengths=[5, 0, 2], final_state=False)
    assert final_state is None
    want, _ = rnn.forward(x, weights, lengths=LENGTHS)
    np.testing.assert_array_equal(y, want)


@pytest.mark.parametrize("layout", ["time_major", "batch_major"])
def test_cpu_trains_as_cpu_reference(layout):
    model = make_model(layout=layout)
    x, weights, init = random_inputs(model, 6, 3, seed=1)
    results = {}
    for engine in ("cpu_reference", "cpu"):
        rnn = rnnx.Rnn(model, engine)
        y, final_state, reserve = rnn.forward_train(x, weights, lengths=LENGTHS, init=init)
        assert reserve.dtype == np.uint8 and reserve.nbytes >= rnn.reserve_bytes(6, 3)
        dy = np.random.default_rng(3).uniform(-1, 1, y.shape)
        dfinal = np.random.default_rng(4).uniform(-1, 1, final_state.shape)
        dx, dweights, dinit = rnn.backward(
            x, weights, y, dy, reserve, lengths=LENGTHS, init=init, dfinal=dfinal
        )
        results[engine] = (y, final_state, dx, dweights, dinit)
    for got, want in zip(results["cpu"], results["cpu_reference"]):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_backward_matches_finite_differences():
    model = make_model(input_size=2, layers=[{"cell": "lstm", "hidden": 3}])
    x, weights, init = random_inputs(model, 4, 2, seed=5)
    rnn = rnnx.Rnn(model, "cpu_reference")
    lengths = [4, 3]
    dy = np.random.default_rng(6).uniform(-1, 1, (4, 2, 3))
    dfinal = np.random.default_rng(7).uniform(-1, 1, init.shape)

    def loss(x_, w_, init_):
        y, final_state = rnn.forward(x_, w_, lengths=lengths, init=init_)
        return float(np.sum(y * dy) + np.sum(final_state * dfinal))

    y, _, reserve = rnn.forward_train(x, weights, lengths=lengths, init=init)
    dx, dweights, dinit = rnn.backward(
        x, weights, y, dy, reserve, lengths=lengths, init=init, dfinal=dfinal
    )
    eps = 1e-6
    for array, grad, args in ((weights, dweights, 1), (x, dx, 0), (init, dinit, 2)):
        for index in np.random.default_rng(8).choice(array.size, 6, replace=False):
            plus, minus = array.copy(), array.copy()
            plus.flat[index] += eps
            minus.flat[index] -= eps
            inputs_plus = [x, weights, init]
            inputs_minus = [x, weights, init]
            inputs_plus[args], inputs_minus[args] = plus, minus
            numeric = (loss(*inputs_plus) - loss(*inputs_minus)) / (2 * eps)
            assert abs(grad.flat[index] - numeric) < 1e-7


def test_backward_accumulates_and_skips():
    model = make_model()
    x, weights, _ = random_inputs(model, 3, 2)
    rnn = rnnx.Rnn(model, "cpu")
    y, _, reserve = rnn.forward_train(x, weights)
    dy = np.ones_like(y)
    _, once, _ = rnn.backward(x, weights, y, dy, reserve)
    y, _, reserve = rnn.forward_train(x, weights)
    total = once.copy()
    dx, returned, dinit = rnn.backward(
        x, weights, y, dy, reserve, dweights=total, accumulate=True, dx=False, dinit=False
    )
    assert returned is total and dx is None and dinit is None
    np.testing.assert_allclose(total, 2 * once, rtol=1e-15, atol=0)


def test_float32_cpu_near_reference():
    model = make_model(dtype="float32")
    x, weights, init = random_inputs(model, 5, 3)
    y, final_state = rnnx.Rnn(model, "cpu").forward(x, weights, init=init)
    assert y.dtype == np.float32 and final_state.dtype == np.float32
    want_y, want_final = oracle.forward(model, x, weights, None, init)
    np.testing.assert_allclose(y, want_y, rtol=0, atol=1e-5)
    np.testing.assert_allclose(final_state, want_final, rtol=0, atol=1e-5)


def test_plan_queries():
    model = make_model()
    rnn = rnnx.Rnn(model, "cpu", threads=1)
    assert rnn.engine == "cpu"
    assert rnn.model == model
    assert rnn.options["threads"] == 1
    assert rnn.reserve_bytes(5, 3) > 0
    rnn.prepare(5, 3)
    assert rnn.workspace_bytes(5, 3) >= 0
    stats = rnn.stats()
    assert set(stats) == {"workspace_bytes", "graph", "persistent"}
    assert stats["persistent"]["grid_barrier"] == "auto"
    assert "engine=cpu" in repr(rnn)
    with pytest.raises(rnnx.InvalidArgumentError, match="steps = 0"):
        rnn.reserve_bytes(0, 3)


def test_inference_only_refuses_training():
    model = make_model()
    x, weights, _ = random_inputs(model, 2, 1)
    rnn = rnnx.Rnn(model, "cpu", inference_only=True)
    rnn.forward(x, weights)
    with pytest.raises(rnnx.InvalidArgumentError, match="inference_only"):
        rnn.forward_train(x, weights)


def test_options_of_other_engines_are_refused():
    model = make_model()
    with pytest.raises(rnnx.UnavailableError) as raised:
        rnnx.Rnn(model, "cpu", cudnn_algo="persist_static")
    assert raised.value.status == "unsupported"
    with pytest.raises(rnnx.InvalidArgumentError, match="cuDNN algorithm 'fast' is unknown"):
        rnnx.Rnn(model, "cpu", cudnn_algo="fast")
    with pytest.raises(rnnx.InvalidArgumentError, match="engine 'gpu' is unknown"):
        rnnx.Rnn(model, "gpu")
    with pytest.raises(rnnx.UnavailableError, match="cpu_reference is single-threaded"):
        rnnx.Rnn(model, "cpu_reference", threads=4)


def _save_inputs(directory, model, x, weights, init, lengths, dy):
    """The files `rnnx run --grad` reads (docs/CLI.md)."""
    np.save(os.path.join(directory, "x.npy"), x)
    np.save(os.path.join(directory, "lengths.npy"), lengths)
    np.save(os.path.join(directory, "dy.npy"), dy)
    wl = rnnx.WeightLayout(model)
    sl = rnnx.StateLayout(model, x.shape[1])
    for l, layer in enumerate(model.layers):
        for d in ("fw", "bw") if layer["bidirectional"] else ("fw",):
            for p in ("Wx", "Wh", "bx", "bh"):
                np.save(os.path.join(directory, f"L{l}.{d}.{p}.npy"), wl.view(weights, l, d, p))
            np.save(os.path.join(directory, f"L{l}.{d}.h0.npy"), sl.h_view(init, l, d))
            if layer["cell"] == "lstm":
                np.save(os.path.join(directory, f"L{l}.{d}.c0.npy"), sl.c_view(init, l, d))
    with open(os.path.join(directory, "model.json"), "w") as f:
        f.write(model.to_json())


@pytest.mark.skipif(not os.environ.get("RNNX_CLI"), reason="RNNX_CLI (the rnnx program) not set")
def test_same_results_as_the_cli(tmp_path):
    model = make_model()
    x, weights, init = random_inputs(model, 5, 3, seed=9)
    dy = np.random.default_rng(10).uniform(-1, 1, (5, 3, model.output_size))
    _save_inputs(str(tmp_path), model, x, weights, init, LENGTHS, dy)
    subprocess.run(
        [os.environ["RNNX_CLI"], "run", "--model", str(tmp_path / "model.json")]
        + ["--dir", str(tmp_path), "--engine", "cpu", "--grad"],
        check=True,
        capture_output=True,
    )
    rnn = rnnx.Rnn(model, "cpu")
    y, final_state, reserve = rnn.forward_train(x, weights, lengths=LENGTHS, init=init)
    dx, dweights, dinit = rnn.backward(x, weights, y, dy, reserve, lengths=LENGTHS, init=init)

    def close(got, file):
        np.testing.assert_allclose(got, np.load(tmp_path / file), rtol=0, atol=1e-12)

    close(y, "y.npy")
    close(dx, "dx.npy")
    wl, sl = rnnx.WeightLayout(model), rnnx.StateLayout(model, 3)
    for l, layer in enumerate(model.layers):
        for d in ("fw", "bw") if layer["bidirectional"] else ("fw",):
            close(sl.h_view(final_state, l, d), f"L{l}.{d}.hn.npy")
            close(sl.h_view(dinit, l, d), f"L{l}.{d}.dh0.npy")
            for p in ("Wx", "Wh", "bx", "bh"):
                close(wl.view(dweights, l, d, p), f"L{l}.{d}.d{p}.npy")
