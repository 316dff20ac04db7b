"""Shared pieces of the Python binding's tests (tests/python, run by scripts/test.sh)."""

import numpy as np
import pytest

import rnnx

# Every cell kind, stacked, bidirectional: LSTM (forget bias) -> bi GRU (reset before) -> RNN relu.
MIXED = {
    "input_size": 3,
    "dtype": "float64",
    "layers": [
        {"cell": "lstm", "hidden": 4, "forget_bias": 1.0},
        {"cell": "gru", "hidden": 3, "bidirectional": True, "gru_reset": "before"},
        {"cell": "rnn", "hidden": 2, "activation": "relu"},
    ],
}


def make_model(spec=None, **fields):
    return rnnx.Model(spec if spec is not None else MIXED, **fields)


def random_inputs(model, steps, batch, seed=0):
    """x, weights and init for a model, in its dtype, uniform in +-0.5."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(model.dtype)
    shape = (steps, batch) if model.layout == "time_major" else (batch, steps)
    x = rng.uniform(-0.5, 0.5, shape + (model.input_size,)).astype(dtype)
    weights = rng.uniform(-0.5, 0.5, rnnx.WeightLayout(model).size).astype(dtype)
    init = rng.uniform(-0.5, 0.5, rnnx.StateLayout(model, batch).size).astype(dtype)
    return x, weights, init


@pytest.fixture
def mixed():
    return make_model()
