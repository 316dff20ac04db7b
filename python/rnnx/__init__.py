"""rnnx: LSTM, GRU and vanilla RNN layers on interchangeable CPU and GPU engines.

    import numpy as np, rnnx
    model = rnnx.Model(input_size=28, dtype="float64", layers=[{"cell": "lstm", "hidden": 128}])
    rnn = rnnx.Rnn(model, engine="cpu")
    weights = np.random.default_rng(0).uniform(-0.1, 0.1, rnnx.WeightLayout(model).size)
    y, final_state = rnn.forward(np.ones((5, 2, 28)), weights)  # x [T, B, I] -> y [T, B, 128]

Arrays are any object with __dlpack__ or the buffer protocol (numpy arrays, torch tensors on the
CPU or a GPU) and are used in place, never copied; rnnx.Rnn's calls release the GIL while rnnx
computes. Importing rnnx loads no GPU library: the GPU module (librnnx_gpu.so, beside the
extension) is loaded at the first need of a GPU. docs/PYTHON.md describes the API.
"""

from ._rnnx import (
    BackendError,
    Error,
    InvalidArgumentError,
    Model,
    Rnn,
    StateLayout,
    UnavailableError,
    WeightLayout,
    __version__,
    engine_available,
    export_gradients,
    export_weights,
    import_weights,
    info,
    weight_tensors,
)

ENGINES = ("cpu_reference", "cpu", "gpu_dynamic", "gpu_static", "gpu_persistent", "cudnn", "auto")
WEIGHT_FORMATS = ("rnnx", "tf", "torch", "onnx")



def __getattr__(name):
    # rnnx.torch (drop-in torch.nn layers) imports torch: loaded at its first use only.
    if name == "torch":
        import importlib

        return importlib.import_module(".torch", __name__)
    raise AttributeError(f"module 'rnnx' has no attribute {name!r}")


__all__ = [
    "BackendError",
    "ENGINES",
    "Error",
    "InvalidArgumentError",
    "Model",
    "Rnn",
    "StateLayout",
    "UnavailableError",
    "WEIGHT_FORMATS",
    "WeightLayout",
    "__version__",
    "engine_available",
    "export_gradients",
    "export_weights",
    "import_weights",
    "info",
    "weight_tensors",
]
