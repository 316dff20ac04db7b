"""Arrays without copies: outputs written in place, and every refusal (dtype, shape, contiguity,
memory, read-only, overlap, lengths, stream) raised before anything is written."""

import array

import numpy as np
import pytest

import rnnx
from conftest import make_model, random_inputs

SENTINEL = 12345.0


@pytest.fixture
def call():
    """A plan and a valid call's arguments, with outputs filled with SENTINEL."""
    model = make_model()
    x, weights, init = random_inputs(model, 5, 3)
    rnn = rnnx.Rnn(model, "cpu")
    y = np.full((5, 3, model.output_size), SENTINEL)
    final_state = np.full(rnnx.StateLayout(model, 3).size, SENTINEL)
    return rnn, x, weights, init, y, final_state


def untouched(*arrays):
    return all(np.all(a == SENTINEL) for a in arrays)


def test_outputs_passed_in_are_written_in_place(call):
    rnn, x, weights, init, y, final_state = call
    y_data, final_data = y.ctypes.data, final_state.ctypes.data
    got_y, got_final = rnn.forward(x, weights, init=init, y=y, final_state=final_state)
    assert got_y is y and got_final is final_state
    assert y.ctypes.data == y_data and final_state.ctypes.data == final_data
    want_y, want_final = rnn.forward(x, weights, init=init)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(final_state, want_final)


def test_a_view_into_a_larger_array_is_written_in_place(call):
    rnn, x, weights, _, _, _ = call
    big = np.full((2, 5, 3, 2), SENTINEL)
    rnn.forward(x, weights, y=big[1], final_state=False)
    assert untouched(big[0])
    np.testing.assert_array_equal(big[1], rnn.forward(x, weights)[0])


def test_buffer_protocol_objects_are_arrays(call):
    rnn, x, weights, _, _, _ = call
    flat = array.array("d", weights.tolist())  # the buffer protocol, no __dlpack__
    y, _ = rnn.forward(x, flat)
    np.testing.assert_array_equal(y, rnn.forward(x, weights)[0])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.update(x=a["x"].astype(np.float32)), "x: dtype float32, expected float64"),
        (lambda a: a.update(x=a["x"][:, :, :2]), "x: the array of shape (5, 3, 2) is not C-cont"),
        (lambda a: a.update(x=np.ascontiguousarray(a["x"][:, :, :2])), "x: shape (5, 3, 2)"),
        (lambda a: a.update(x=a["x"][0]), "x: shape (3, 3), expected [T, B, I=3]"),
        (lambda a: a.update(x=np.zeros((0, 3, 3))), "x: shape (0, 3, 3): T and B must be in"),
        (lambda a: a.update(x=[[[1.0, 2.0, 3.0]]]), "x: expected an array"),
        (
            lambda a: a.update(weights=a["weights"][:-1]),
            "weights: 325 elements (shape (325,)), expected WeightLayout(model).size = 326",
        ),
        (lambda a: a.update(weights=a["weights"][::2]), "weights: "),
        (lambda a: a.update(weights="weights"), "weights: expected an array"),
        (lambda a: a.update(init=a["init"][1:]), "init: 47 elements"),
        (lambda a: a.update(init=a["init"].astype(np.float32)), "init: dtype float32"),
        (lambda a: a.update(y=a["y"][:4]), "y: shape (4, 3, 2), expected (5, 3, 2)"),
        (lambda a: a.update(y=a["y"].astype(np.float32)), "y: dtype float32"),
        (lambda a: a.update(y=np.asfortranarray(a["y"])), "y: the array of shape (5, 3, 2) is not"),
        (lambda a: a["y"].setflags(write=False), "y: the array is read-only"),
        (lambda a: a.update(final_state=a["final_state"][:3]), "final_state: 3 elements"),
        (lambda a: a.update(y=a["x"][:, :, :2]), "y: the array of shape (5, 3, 2) is not C-cont"),
        (lambda a: a.update(lengths=np.array([5, 0, 2])), "lengths: dtype int64, expected int32"),
        (lambda a: a.update(lengths=np.array([5, 0], np.int32)), "lengths: shape (2,), expected"),
        (lambda a: a.update(lengths=[5, 6, 1]), "lengths[1] = 6: must be an int in [0, steps=5]"),
        (lambda a: a.update(lengths=[5, -1, 1]), "lengths[1] = -1"),
        (lambda a: a.update(lengths=[5, 1]), "lengths: 2 entries, expected B = 3"),
        (lambda a: a.update(lengths=np.array([5, 9, 1], np.int32)), "Forward.lengths[1] = 9"),
        (lambda a: a.update(stream=7), "stream: the cpu engine runs on the calling thread"),
        (lambda a: a.update(stream="s"), "stream: expected None, an int (a cudaStream_t)"),
    ],
)
def test_bad_calls_are_refused_and_write_nothing(call, change, message):
    rnn, x, weights, init, y, final_state = call
    args = dict(x=x, weights=weights, init=init, y=y, final_state=final_state)
    change(args)
    with pytest.raises(rnnx.InvalidArgumentError) as raised:
        rnn.forward(args.pop("x"), args.pop("weights"), **args)
    assert message in str(raised.value)
    assert untouched(y, final_state)


def test_overlapping_outputs_are_refused(call):
    rnn, x, weights, _, _, _ = call
    state_size = rnnx.StateLayout(rnn.model, 3).size
    shared = np.full(30 + state_size, SENTINEL)
    with pytest.raises(rnnx.InvalidArgumentError, match="y: its memory overlaps final_state's"):
        rnn.forward(
            x, weights, y=shared[:30].reshape(5, 3, 2), final_state=shared[20:][:state_size]
        )
    with pytest.raises(rnnx.InvalidArgumentError, match="y: its memory overlaps x's"):
        rnn.forward(x, weights, y=x.reshape(-1)[:30].reshape(5, 3, 2))
    assert untouched(shared)


def test_backward_refusals_name_the_argument(call):
    rnn, x, weights, _, _, _ = call
    y, _, reserve = rnn.forward_train(x, weights)
    dy = np.ones_like(y)
    with pytest.raises(rnnx.InvalidArgumentError, match="reserve: 1 bytes, expected at least"):
        rnn.backward(x, weights, y, dy, np.zeros(1, np.uint8))
    with pytest.raises(rnnx.InvalidArgumentError, match=r"dy: shape \(5, 3\)"):
        rnn.backward(x, weights, y, np.ascontiguousarray(dy[:, :, 0]), reserve)
    dweights = np.full(weights.size, SENTINEL)
    with pytest.raises(rnnx.InvalidArgumentError, match="dx: dtype float32"):
        rnn.backward(x, weights, y, dy, reserve, dx=x.astype(np.float32), dweights=dweights)
    assert untouched(dweights)


def test_reserve_passed_in_is_used(call):
    rnn, x, weights, _, _, _ = call
    reserve = np.zeros(rnn.reserve_bytes(5, 3) + 64, np.uint8)
    y, _, got = rnn.forward_train(x, weights, reserve=reserve)
    assert got is reserve and reserve.any()
    dx, dweights, _ = rnn.backward(x, weights, y, np.ones_like(y), reserve)
    assert np.isfinite(dweights).all() and np.isfinite(dx).all()
    with pytest.raises(rnnx.InvalidArgumentError, match="reserve: 8 bytes"):
        rnn.forward_train(x, weights, reserve=np.zeros(8, np.uint8))


def test_bfloat16_outputs_need_a_caller_array():
    model = rnnx.Model(input_size=2, dtype="bfloat16", layers=[{"cell": "rnn", "hidden": 2}])
    rnn = rnnx.Rnn(model, "cpu_reference")
    # bfloat16 values are 16-bit patterns; numpy has no such dtype, so it cannot hold x either.
    with pytest.raises(rnnx.InvalidArgumentError, match="x: dtype uint16, expected bfloat16"):
        rnn.forward(np.zeros((1, 1, 2), np.uint16), np.zeros(12, np.uint16))


def test_float16_model_on_cpu_reference():
    model = rnnx.Model(input_size=2, dtype="float16", layers=[{"cell": "gru", "hidden": 3}])
    rnn = rnnx.Rnn(model, "cpu_reference")
    x = np.full((2, 1, 2), 0.5, np.float16)
    weights = np.full(rnnx.WeightLayout(model).size, 0.25, np.float16)
    y, final_state = rnn.forward(x, weights)
    assert y.dtype == np.float16 and final_state.dtype == np.float32
    assert np.allclose(y[-1, 0], final_state, atol=1e-3)


def test_layout_views_share_memory():
    model = make_model()
    wl = rnnx.WeightLayout(model)
    weights = np.zeros(wl.size)
    view = wl.view(weights, 1, "bw", "Wh")
    assert view.shape == wl.shape(1, "Wh") == (9, 3)
    view[:] = 7.0
    offset = wl.offset(1, "bw", "Wh")
    assert np.all(weights[offset : offset + 27] == 7.0) and weights.sum() == 7.0 * 27
    gate = wl.view(weights, 0, "fw", "bx", gate=1)
    assert gate.shape == (4,) and wl.offset(0, "fw", "bx", 1) == wl.offset(0, "fw", "bx") + 4
    sl = rnnx.StateLayout(model, 3)
    state = np.zeros(sl.size)
    sl.c_view(state, 0)[:] = 1.0
    assert sl.c(0) == sl.h(2) + 6 and state[sl.c(0) : sl.c(0) + 12].sum() == 12.0
    with pytest.raises(rnnx.InvalidArgumentError, match="not bidirectional"):
        wl.offset(0, "bw", "Wx")
    with pytest.raises(rnnx.InvalidArgumentError, match='param: "W" is unknown'):
        wl.offset(0, "fw", "W")
    with pytest.raises(rnnx.InvalidArgumentError, match="weights: 3 elements"):
        wl.view(np.zeros(3), 0, "fw", "Wx")


def test_torch_cpu_tensors_without_copies():
    torch = pytest.importorskip("torch")
    model = make_model()
    x, weights, init = random_inputs(model, 5, 3)
    rnn = rnnx.Rnn(model, "cpu")
    want_y, want_final = rnn.forward(x, weights, init=init)
    tx, tw, tinit = (torch.from_numpy(a) for a in (x, weights, init))
    y, final_state = rnn.forward(tx, tw, init=tinit)  # allocated as x is held: torch tensors
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float64 and y.device.type == "cpu"
    np.testing.assert_array_equal(y.numpy(), want_y)
    np.testing.assert_array_equal(final_state.numpy(), want_final)
    out = torch.full((5, 3, 2), SENTINEL, dtype=torch.float64)
    got, _ = rnn.forward(tx, tw, init=tinit, y=out)
    assert got is out
    np.testing.assert_array_equal(out.numpy(), want_y)
    # A tensor that requires grad is read through torch's to_dlpack (its __dlpack__ refuses).
    y, _ = rnn.forward(tx, tw.clone().requires_grad_(), init=tinit)
    np.testing.assert_array_equal(y.numpy(), want_y)
    with pytest.raises(rnnx.InvalidArgumentError, match="x: the array of shape"):
        rnn.forward(tx.transpose(0, 1), tw)
