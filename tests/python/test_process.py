"""The package in a process: no GPU library until a GPU is needed, the GPU module found beside the
extension, the GIL released while rnnx computes, info(), and the errors' classes."""

import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import rnnx
from conftest import make_model, random_inputs

GPU_LIBRARIES = ("librnnx_gpu", "libcublas", "libcudnn", "libcudart")


def run_python(code):
    """Runs `code` in a fresh interpreter; returns its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_and_a_cpu_forward_map_no_gpu_library():
    out = run_python("""
        import sys
        import numpy as np, rnnx
        model = rnnx.Model(input_size=2, layers=[{"cell": "lstm", "hidden": 3}])
        rnnx.Rnn(model, "cpu").forward(np.ones((2, 1, 2), np.float32),
                                        np.ones(rnnx.WeightLayout(model).size, np.float32))
        rnnx.Rnn(model, "cpu_reference")
        assert "torch" not in sys.modules
        print(open("/proc/self/maps").read())
        """)
    mapped = [name for name in GPU_LIBRARIES if name in out]
    assert mapped == [], f"mapped after import and a CPU forward: {mapped}"
    assert "_rnnx" in out  # the extension itself is there


def test_info_loads_the_gpu_module_from_beside_the_extension():
    out = run_python("""
        import json, os, rnnx
        info = rnnx.info()
        maps = open("/proc/self/maps").read()
        print(json.dumps({"info": info, "here": os.path.dirname(os.path.realpath(rnnx._rnnx.__file__)),
                          "maps": maps}))
        """)
    result = json.loads(out)
    info = result["info"]
    if not info["cuda"]:
        assert info["gpu_module"] == "" and "RNNX_CUDA=OFF" in info["gpus_why_none"]
        pytest.skip("this rnnx was built without CUDA")
    assert info["gpu_module_problem"] == "", info["gpu_module_problem"]
    assert info["gpu_module"] == os.path.join(result["here"], "librnnx_gpu.so")
    assert "librnnx_gpu" in result["maps"]
    assert info["gpu_libraries"][0]["name"] == "librnnx_gpu"
    assert any(lib["name"].startswith("libcublas") for lib in info["gpu_libraries"])


def test_info_reports_like_rnnx_info():
    info = rnnx.info()
    assert info["version"] == rnnx.__version__
    assert set(info["engines"]) == set(rnnx.ENGINES) - {"auto"}
    assert info["engines"]["cpu"] == "available"
    assert info["engines"]["cpu_reference"] == "available"
    assert info["auto"] in rnnx.ENGINES
    if not info["gpus"]:
        assert info["gpus_why_none"]
        assert info["auto"] == "cpu"
        for engine in ("gpu_dynamic", "gpu_static", "gpu_persistent", "cudnn"):
            assert info["engines"][engine] != "available"
            assert rnnx.engine_available(engine)[0] is False
    assert rnnx.engine_available("cpu") == (True, "")


def test_gpu_engines_without_a_gpu_raise_their_status():
    if rnnx.info()["gpus"]:
        pytest.skip("this machine has a GPU")
    with pytest.raises(rnnx.Error) as raised:
        rnnx.Rnn(make_model(), "gpu_dynamic")
    status = raised.value.status
    assert status in ("no_device", "not_built")
    expected = rnnx.BackendError if status == "no_device" else rnnx.UnavailableError
    assert isinstance(raised.value, expected)
    assert isinstance(raised.value, RuntimeError if status == "no_device" else NotImplementedError)
    assert "gpu_dynamic" in str(raised.value)


def test_error_classes():
    assert issubclass(rnnx.InvalidArgumentError, ValueError)
    assert issubclass(rnnx.UnavailableError, NotImplementedError)
    assert issubclass(rnnx.BackendError, RuntimeError)
    for cls in (rnnx.InvalidArgumentError, rnnx.UnavailableError, rnnx.BackendError):
        assert issubclass(cls, rnnx.Error)
    with pytest.raises(rnnx.UnavailableError) as raised:  # training a bfloat16 model
        model = rnnx.Model(input_size=2, dtype="bfloat16", layers=[{"cell": "rnn", "hidden": 2}])
        rnnx.Rnn(model, "cpu")
    assert raised.value.status == "unsupported"


def test_the_gil_is_released_while_rnnx_computes():
    model = rnnx.Model(input_size=64, dtype="float64", layers=[{"cell": "lstm", "hidden": 64}])
    x, weights, _ = random_inputs(model, 1000, 4)
    rnn = rnnx.Rnn(model, "cpu_reference")
    start = time.perf_counter()
    rnn.forward(x, weights)
    one_call = time.perf_counter() - start
    assert one_call > 0.02, f"a forward took {one_call:.4f} s: too short to tell"
    calls = max(3, int(0.3 / one_call))

    def work():
        for _ in range(calls):
            rnn.forward(x, weights)

    worker = threading.Thread(target=work)
    longest_gap = 0.0
    worker.start()
    last = time.perf_counter()
    while worker.is_alive():
        now = time.perf_counter()
        longest_gap = max(longest_gap, now - last)
        last = now
    worker.join()
    # Holding the GIL, each forward would stop this loop for its whole duration.
    assert longest_gap < one_call / 2, (longest_gap, one_call)


def test_calls_of_one_plan_from_threads_wait_for_each_other():
    model = make_model()
    x, weights, _ = random_inputs(model, 20, 4)
    rnn = rnnx.Rnn(model, "cpu")
    want, _ = rnn.forward(x, weights)
    results = [None] * 8

    def work(i):
        results[i] = rnn.forward(x, weights)[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got in results:
        np.testing.assert_array_equal(got, want)


def test_the_gpu_module_is_looked_up_where_the_loader_says(tmp_path):
    """RNNX_GPU_MODULE names the file and nothing else (docs/GPU_LIBRARIES.md)."""
    if not rnnx.info()["cuda"]:
        pytest.skip("this rnnx was built without CUDA")
    env = dict(os.environ, RNNX_GPU_MODULE=str(tmp_path / "missing.so"))
    done = subprocess.run(
        [sys.executable, "-c", "import rnnx; print(rnnx.info()['gpu_module_problem'])"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "RNNX_GPU_MODULE=" + str(tmp_path / "missing.so") in done.stdout
