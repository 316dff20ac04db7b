"""Shared pieces of the Python binding's tests (tests/python, run by scripts/test.sh)."""

import os

import numpy as np
import pytest

import rnnx


def pytest_sessionstart(session):
    """Under RNNX_REQUIRE_GPU=1 (as scripts/gpu-check.sh sets on the GPU machine) a missing GPU, or
    a torch without CUDA, fails the run instead of letting the GPU tests skip."""
    if os.environ.get("RNNX_REQUIRE_GPU") != "1":
        return
    info = rnnx.info()
    if not info["gpus"]:
        pytest.exit("RNNX_REQUIRE_GPU=1 but rnnx finds no GPU: " + info["gpus_why_none"], 1)
    try:
        import torch
    except ImportError:
        pytest.exit("RNNX_REQUIRE_GPU=1 but torch is not importable (the GPU tests need it)", 1)
    if not torch.cuda.is_available():
        pytest.exit("RNNX_REQUIRE_GPU=1 but torch sees no CUDA device", 1)

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
