"""import_weights / export_weights by format name: dicts of numpy arrays, exact round trips."""

import numpy as np
import pytest

import rnnx


def model_for(format_name):
    """A model every format can hold: TF's GRU resets before the matmul, the others' after."""
    reset = "before" if format_name == "tf" else "after"
    return rnnx.Model(
        input_size=3,
        dtype="float64",
        layers=[
            {"cell": "lstm", "hidden": 4, "bidirectional": True},
            {"cell": "gru", "hidden": 2, "gru_reset": reset},
            {"cell": "rnn", "hidden": 3, "activation": "relu"},
        ],
    )


@pytest.mark.parametrize("format_name", rnnx.WEIGHT_FORMATS)
def test_round_trip(format_name):
    model = model_for(format_name)
    weights = np.random.default_rng(0).uniform(-1, 1, rnnx.WeightLayout(model).size)
    tensors = rnnx.export_weights(model, format_name, weights)
    specs = rnnx.weight_tensors(model, format_name)
    assert list(tensors) == [name for name, _ in specs]
    for name, shape in specs:
        assert tensors[name].shape == shape and tensors[name].dtype == np.float64
    back = rnnx.import_weights(model, format_name, tensors)
    assert back.dtype == np.float64 and back.shape == weights.shape
    if format_name == "tf":  # one bias per cell: bx + bh goes to bx, bh is zero
        again = rnnx.export_weights(model, format_name, back)
        for name in tensors:
            np.testing.assert_array_equal(again[name], tensors[name])
    else:
        np.testing.assert_array_equal(back, weights)


def test_torch_names_and_float32():
    model = rnnx.Model(input_size=2, layers=[{"cell": "lstm", "hidden": 3}])
    weights = np.arange(rnnx.WeightLayout(model).size, dtype=np.float32)
    tensors = rnnx.export_weights(model, "torch", weights)
    assert list(tensors) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert tensors["weight_ih_l0"].dtype == np.float32
    np.testing.assert_array_equal(tensors["weight_ih_l0"].ravel(), weights[:24])
    # float32 values in, any float array or list accepted
    tensors["bias_hh_l0"] = tensors["bias_hh_l0"].tolist()
    np.testing.assert_array_equal(rnnx.import_weights(model, "torch", tensors), weights)
    grads = rnnx.export_gradients(model, "torch", weights)
    np.testing.assert_array_equal(grads["weight_hh_l0"], tensors["weight_hh_l0"])


def test_interop_errors():
    model = rnnx.Model(input_size=2, layers=[{"cell": "lstm", "hidden": 3, "forget_bias": 1.0}])
    weights = np.zeros(rnnx.WeightLayout(model).size, np.float32)
    with pytest.raises(rnnx.InvalidArgumentError, match="keras"):
        rnnx.export_weights(model, "keras", weights)
    with pytest.raises(rnnx.UnavailableError, match="forget_bias"):
        rnnx.export_weights(model, "torch", weights)
    with pytest.raises(rnnx.InvalidArgumentError, match="weights: 3 elements"):
        rnnx.export_weights(model, "tf", weights[:3])
    tensors = rnnx.export_weights(model, "tf", weights)
    tensors["L0.fw.extra"] = np.zeros(2)
    with pytest.raises(rnnx.InvalidArgumentError, match="L0.fw.extra"):
        rnnx.import_weights(model, "tf", tensors)
    del tensors["L0.fw.extra"]
    tensors["L0.fw.kernel"] = tensors["L0.fw.kernel"][:1]
    with pytest.raises(rnnx.InvalidArgumentError, match="L0.fw.kernel"):
        rnnx.import_weights(model, "tf", tensors)
    with pytest.raises(rnnx.InvalidArgumentError, match="not convertible"):
        rnnx.import_weights(model, "tf", {"L0.fw.kernel": "text"})
