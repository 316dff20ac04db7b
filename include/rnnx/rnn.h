// The plan: a model bound to an engine. Create it once, call it many times.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "rnnx/buffer.h"
#include "rnnx/model.h"

// cudaStream_t is `struct CUstream_st*`; naming the struct keeps CUDA headers out of rnnx's.
struct CUstream_st;

namespace rnnx {

using Stream = CUstream_st*;

enum class Engine {
  cpu_reference,   // naive float64 loops: the oracle every test compares against
  cpu,             // fused algorithm on BLAS and threads
  gpu_dynamic,     // fused cell kernels launched step by step (TF dynamic_rnn's GPU form)
  gpu_static,      // the same kernels captured into a CUDA Graph (TF static_rnn's GPU form)
  gpu_persistent,  // one kernel per sequence, recurrent weights on-chip
  cudnn,           // cuDNN's RNN API behind rnnx's
  automatic,       // the fastest engine here that accepts the model; Rnn::engine() says which
};

const char* to_string(Engine engine) noexcept;  // "cpu_reference", ..., "auto"
Engine parse_engine(std::string_view name);     // the inverse; throws Error(invalid_argument)
bool is_gpu(Engine engine) noexcept;            // where its pointers must live

// cuDNN's RNN algorithms, for the cudnn engine (Options::cudnn_algo). Each has cuDNN's own
// limits (persist_static and persist_static_small_h: no float64; persist_static_small_h: hidden
// up to 192); a model outside them is refused when the plan is made, and a shape cuDNN refuses
// (varied lengths, a batch too large for the chip, ...) is refused by the call that first meets
// it (forward, forward_train, backward, reserve_bytes, workspace_bytes or prepare) with
// Status::unsupported naming the algorithm, before any output is written; the plan stays usable.
enum class CudnnAlgo { standard, persist_static, persist_dynamic, persist_static_small_h };
const char* to_string(CudnnAlgo algo) noexcept;  // "standard", "persist_static", ...

struct Options {
  // cpu engine: worker threads, 0 = the RNNX_NUM_THREADS environment variable, else all cores.
  // cpu_reference is single-threaded and accepts only 0 or 1.
  int threads = 0;
  // GPU engines, float32: let cuBLAS/cuDNN use TF32 tensor cores (about 1e-3 relative error).
  // Engines without TF32 refuse the option rather than ignore it.
  bool allow_tf32 = false;
  // cudnn engine: which of cuDNN's algorithms; the other engines accept only the default.
  CudnnAlgo cudnn_algo = CudnnAlgo::standard;
  // A promise that the plan will only run forward (no forward_train or backward). Lets `auto`
  // pick gpu_persistent, which runs inference only; ignored by the other engines. `auto` checks
  // gpu_persistent's on-chip limits at batch 1: a call whose batch does not fit is refused then
  // (persistent_max_batch in info.h says which do).
  bool inference_only = false;
};

// Arguments of a forward pass. T = steps, B = batch, I = model.input_size, D = output_size(model).
// Pointers are host memory for CPU engines and device memory for GPU engines, except lengths,
// which is always host memory (the engines schedule steps from it).
struct Forward {
  int steps = 0;  // T, in [1, max_size]
  int batch = 0;  // B, in [1, max_size]
  ConstBuffer x;  // [T, B, I] (time_major) or [B, T, I] (batch_major)
  // [B] host int32, each in [0, T]; nullptr = every sequence has T steps. Past its length a
  // sequence's outputs are 0 and its state is carried unchanged (TF dynamic_rnn).
  const std::int32_t* lengths = nullptr;
  ConstBuffer weights;  // WeightLayout(model).size() elements
  ConstBuffer init;     // optional: StateLayout(model, B).size() elements; empty = zero states
  Buffer y;             // [T, B, D] or [B, T, D]
  Buffer final_state;   // optional: StateLayout(model, B).size(); the state after each length
  // The caller's promise that `weights` is the same buffer with the same values as in this
  // plan's previous call: engines that convert weights to another layout (cudnn) then reuse
  // the conversion. Leave it false whenever the weights may have changed (after an update).
  bool weights_unchanged = false;
};

// Arguments of a backward pass, beside the Forward that produced the reserve.
struct Backward {
  ConstBuffer dy;      // shape of y; entries past each length are ignored (y is constant 0 there)
  ConstBuffer dfinal;  // optional: StateLayout, gradient with respect to final_state
  Buffer dx;           // optional: shape of x
  Buffer dinit;        // optional: StateLayout, gradient with respect to init
  Buffer dweights;     // WeightLayout size
  bool accumulate = false;  // add into dweights instead of overwriting it (dx, dinit are written)
};

// What forward_train keeps for backward: caller-owned memory of reserve_bytes(T, B) bytes, in the
// engine's memory space, aligned to 16 bytes. Its contents are private to the engine, and
// backward may use it up (cuDNN's does): one backward per forward_train.
struct Reserve {
  void* data = nullptr;
  std::size_t bytes = 0;
};

// What a plan holds and, for gpu_static, what its CUDA Graphs cost (the static-vs-dynamic
// question of the seed, in numbers).
struct PlanStats {
  std::size_t workspace_bytes = 0;  // memory the plan holds now (device memory for GPU engines)
  int graphs = 0;                   // gpu_static: graphs cached now
  std::size_t graph_nodes = 0;      // gpu_static: nodes of the last graph built
  double graph_build_ms = 0;        // gpu_static: time to capture and instantiate it
  // gpu_static: captures taken a second time because something invalidated the first, such as
  // another thread synchronizing the device meanwhile (README, "Threads and graph capture").
  int graph_capture_retries = 0;
  // gpu_persistent: the grid barrier in use, "cooperative" or "flags" (the faster on this device,
  // measured once per process, unless RNNX_PERSISTENT_BARRIER names one). Of the last call (or
  // prepare): how many layers' recurrent products ran on tensor cores (bf16/f16 models), how many
  // bidirectional layers ran both directions in one grid, and one line per layer ('\n' between)
  // saying how it ran and, where it did not get tensor cores or pairing, why; e.g. "layer 0:
  // tensor cores, one grid per direction (in one grid with tensor cores, a block needs 283 KB of
  // shared memory for its 16 units' W_h rows and the batch's h, the device allows 227 KB;
  // RNNX_PERSISTENT_MMA=on puts tensor cores before pairing)".
  std::string grid_barrier;
  int tensor_core_layers = 0;
  int paired_layers = 0;
  std::string layer_choices;
};

class EngineImpl;  // src/engine.h

// A plan, in the manner of a cuDNN or cuFFT plan: validates the model and the engine once, owns
// the engine's workspace, and runs any number of calls. One plan is not safe to call from two
// threads at once; separate plans are.
class Rnn {
 public:
  // Throws Error: invalid_argument (bad model or options), not_built, not_implemented,
  // no_device, unsupported (the engine cannot run this model; the message says which can).
  explicit Rnn(const Model& model, Engine engine = Engine::automatic, const Options& options = {});
  ~Rnn();
  Rnn(Rnn&&) noexcept;
  Rnn& operator=(Rnn&&) noexcept;
  Rnn(const Rnn&) = delete;
  Rnn& operator=(const Rnn&) = delete;

  const Model& model() const noexcept;
  Engine engine() const noexcept;  // the engine that runs; never Engine::automatic
  std::size_t reserve_bytes(int steps, int batch) const;
  // Memory the plan keeps for calls of this shape (its workspace; grown once, then reused).
  std::size_t workspace_bytes(int steps, int batch) const;
  // Sizes the workspace for this shape now and, for gpu_static, builds its inference graph, so
  // that the first call does not pay for them.
  void prepare(int steps, int batch);
  PlanStats stats() const;

  // Inference. Writes y and, if given, final_state.
  void forward(const Forward& args, Stream stream = nullptr);
  // Like forward, and fills the reserve for backward.
  void forward_train(const Forward& args, Reserve reserve, Stream stream = nullptr);
  // Backpropagation through time. `args` must be the Forward given to forward_train (same
  // inputs, lengths, weights and init), `reserve` what it filled.
  void backward(const Forward& args, const Backward& grads, Reserve reserve,
                Stream stream = nullptr);

 private:
  std::unique_ptr<EngineImpl> impl_;
};

}  // namespace rnnx
