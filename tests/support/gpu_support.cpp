#include "support/gpu_support.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace rnnx::test {

namespace {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
  }
}

// Host bytes of `values` in `dtype`.
std::vector<unsigned char> encode(const std::vector<double>& values, DType dtype) {
  std::vector<unsigned char> bytes(values.size() * dtype_size(dtype));
  for (std::size_t k = 0; k < values.size(); ++k) {
    if (dtype == DType::f64) {
      std::memcpy(bytes.data() + 8 * k, &values[k], 8);
    } else if (is_half(dtype)) {
      const std::uint16_t h = to_half(dtype, static_cast<float>(values[k]));
      std::memcpy(bytes.data() + 2 * k, &h, 2);
    } else {
      const float f = static_cast<float>(values[k]);
      std::memcpy(bytes.data() + 4 * k, &f, 4);
    }
  }
  return bytes;
}

std::vector<double> decode(const std::vector<unsigned char>& bytes, DType dtype) {
  std::vector<double> values(bytes.size() / dtype_size(dtype));
  for (std::size_t k = 0; k < values.size(); ++k) {
    if (dtype == DType::f64) {
      std::memcpy(&values[k], bytes.data() + 8 * k, 8);
    } else if (is_half(dtype)) {
      std::uint16_t h;
      std::memcpy(&h, bytes.data() + 2 * k, 2);
      values[k] = from_half(dtype, h);
    } else {
      float f;
      std::memcpy(&f, bytes.data() + 4 * k, 4);
      values[k] = f;
    }
  }
  return values;
}

// One tensor on the device: an input (uploaded) or an output (NaN-poisoned). With a stream,
// everything is ordered on it (stream-ordered allocation, asynchronous copies): nothing
// synchronizes the device, which would break another thread's graph capture.
class DeviceTensor {
 public:
  DeviceTensor(const std::vector<double>& values, DType dtype, cudaStream_t stream)
      : dtype_(dtype),
        count_(values.size()),
        stream_(stream),
        memory_(std::max<std::size_t>(1, values.size()) * dtype_size(dtype), stream) {
    const std::vector<unsigned char> bytes = encode(values, dtype);
    if (stream_ == nullptr) {
      check(cudaMemcpy(memory_.get(), bytes.data(), bytes.size(), cudaMemcpyHostToDevice),
            "upload");
    } else {
      // From pageable memory: the copy is staged before cudaMemcpyAsync returns.
      check(cudaMemcpyAsync(memory_.get(), bytes.data(), bytes.size(), cudaMemcpyHostToDevice,
                            stream_),
            "upload");
      check(cudaStreamSynchronize(stream_), "upload");
    }
  }
  DeviceTensor(std::size_t count, DType dtype, cudaStream_t stream)
      : dtype_(dtype),
        count_(count),
        stream_(stream),
        memory_(std::max<std::size_t>(1, count) * dtype_size(dtype), stream) {
    // All bits set is a NaN in every dtype.
    if (stream_ == nullptr) {
      check(cudaMemset(memory_.get(), 0xFF, memory_.bytes()), "poison");
    } else {
      check(cudaMemsetAsync(memory_.get(), 0xFF, memory_.bytes(), stream_), "poison");
    }
  }
  ConstBuffer in() const {
    return count_ == 0 ? ConstBuffer() : ConstBuffer(memory_.get(), count_, dtype_);
  }
  Buffer out() { return Buffer(memory_.get(), count_, dtype_); }
  std::vector<double> download() const {
    std::vector<unsigned char> bytes(count_ * dtype_size(dtype_));
    if (stream_ == nullptr) {
      check(cudaMemcpy(bytes.data(), memory_.get(), bytes.size(), cudaMemcpyDeviceToHost),
            "download");
    } else {
      check(cudaMemcpyAsync(bytes.data(), memory_.get(), bytes.size(), cudaMemcpyDeviceToHost,
                            stream_),
            "download");
      check(cudaStreamSynchronize(stream_), "download");
    }
    return decode(bytes, dtype_);
  }

 private:
  DType dtype_;
  std::size_t count_;
  cudaStream_t stream_;
  DeviceMemory memory_;
};

}  // namespace

DeviceMemory::DeviceMemory(std::size_t bytes, cudaStream_t stream)
    : bytes_(bytes), stream_(stream) {
  if (stream_ == nullptr) {
    check(cudaMalloc(&p_, bytes), "cudaMalloc");
  } else {
    check(cudaMallocAsync(&p_, bytes, stream_), "cudaMallocAsync");
  }
}

DeviceMemory::~DeviceMemory() {
  if (stream_ == nullptr) {
    cudaFree(p_);
  } else {
    cudaFreeAsync(p_, stream_);
  }
}

Result run_on_device(const Problem& p, Engine engine, bool backward, const Options& options,
                     cudaStream_t stream) {
  Rnn rnn(p.model, engine, options);
  return run_on_device(rnn, p, backward, stream);
}

Result run_on_device(Rnn& rnn, const Problem& p, bool backward, cudaStream_t stream) {
  const DType dt = p.model.dtype, st = state_dtype(dt);
  const std::size_t state = StateLayout(p.model, p.batch).size();
  const DeviceTensor x(p.x, dt, stream), w(p.weights, dt, stream), init(p.init, st, stream),
      dy(p.dy, dt, stream), dfinal(p.dfinal, st, stream);
  DeviceTensor y(std::size_t(p.steps) * p.batch * output_size(p.model), dt, stream),
      final_state(state, st, stream);
  // The legacy stream's uploads and poison must be done before a non-blocking `stream` reads
  // them; with a stream of the caller's, they were ordered on it.
  auto setup_done = [&] {
    if (stream == nullptr) check(cudaDeviceSynchronize(), "setup");
  };

  Forward f;
  f.steps = p.steps;
  f.batch = p.batch;
  f.x = x.in();
  f.lengths = p.lengths.empty() ? nullptr : p.lengths.data();
  f.weights = w.in();
  f.init = init.in();
  f.y = y.out();
  f.final_state = final_state.out();

  Result r;
  if (!backward) {
    setup_done();
    rnn.forward(f, stream);
  } else {
    // At least some memory: an engine that keeps no reserve (or refuses training) still gets a
    // valid pointer, so that what is tested is the engine's answer, not the null check.
    DeviceMemory reserve(std::max<std::size_t>(rnn.reserve_bytes(p.steps, p.batch), 256), stream);
    DeviceTensor dx(p.x.size(), dt, stream), dinit(state, st, stream),
        dweights(p.weights.size(), dt, stream);
    setup_done();
    Backward b;
    b.dy = dy.in();
    b.dfinal = dfinal.in();
    b.dx = dx.out();
    b.dinit = dinit.out();
    b.dweights = dweights.out();
    rnn.forward_train(f, {reserve.get(), reserve.bytes()}, stream);
    rnn.backward(f, b, {reserve.get(), reserve.bytes()}, stream);
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    r.dx = dx.download();
    r.dinit = dinit.download();
    r.dweights = dweights.download();
  }
  check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  r.y = y.download();
  r.final_state = final_state.download();
  return r;
}

double expect_device_close(const Problem& p, Engine engine, double bound, const Options& options,
                           cudaStream_t stream) {
  const Result ref = run(p, Engine::cpu_reference, true);
  const Errors fwd = compare_results(run_on_device(p, engine, false, options, stream), ref, false);
  const Errors all = compare_results(run_on_device(p, engine, true, options, stream), ref, true);
  EXPECT_LT(fwd.y, bound) << "forward y";
  EXPECT_LT(fwd.final_state, bound) << "forward final_state";
  EXPECT_LT(all.y, bound) << "training y";
  EXPECT_LT(all.final_state, bound) << "training final_state";
  EXPECT_LT(all.dx, bound) << "dx";
  EXPECT_LT(all.dinit, bound) << "dinit";
  EXPECT_LT(all.dweights, bound) << "dweights";
  const double worst = std::max(fwd.worst(), all.worst());
  ::testing::Test::RecordProperty("max_rel_error", scientific(worst));
  return worst;
}

}  // namespace rnnx::test
