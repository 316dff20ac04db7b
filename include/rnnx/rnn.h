// The plan: a model bound to an engine. Create it once, call it many times.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "rnnx/buffer.h"
#include "rnnx/engine_options.h"
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

struct Options {
  // GPU engines, float32: let cuBLAS/cuDNN use TF32 tensor cores (about 1e-3 relative error).
  // Engines without TF32 refuse the option rather than ignore it.
  bool allow_tf32 = false;
  // A promise about the plan's use, not a knob of one engine: it will only run forward, never
  // forward_train or backward. It lets `auto` pick gpu_persistent, which runs inference only, and
  // every engine holds the plan to it: forward_train and backward then throw
  // Status::invalid_argument, whichever engine runs, so that a program behaves the same on a
  // machine where `auto` picks another engine. `auto` checks gpu_persistent's on-chip limits at
  // batch 1: a call whose batch does not fit is refused then (persistent_max_batch in info.h says
  // which do).
  bool inference_only = false;
  // Each engine's own options (engine_options.h). An engine refuses another's that differ from
  // their defaults (Status::unsupported); `auto` drops them for the engines they do not belong to.
  CpuOptions cpu;                // cpu (cpu_reference: threads 0 or 1)
  CudnnOptions cudnn;            // cudnn
  PersistentOptions persistent;  // gpu_persistent
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

// gpu_static's CUDA Graphs: what they cost (the static-vs-dynamic question of the seed, in
// numbers).
struct GraphStats {
  int graphs = 0;         // graphs cached now
  std::size_t nodes = 0;  // nodes of the last graph built
  double build_ms = 0;    // time to capture and instantiate it
  // Captures taken a second time because something invalidated the first, such as another
  // thread synchronizing the device meanwhile (docs/ENGINES.md, "Threads and graph capture").
  int capture_retries = 0;
};

// gpu_persistent: how its layers ran in the last call (or prepare).
struct PersistentStats {
  // The grid barrier in use, cooperative or flags (automatic: not a gpu_persistent plan):
  // Options::persistent.barrier or RNNX_PERSISTENT_BARRIER, else the faster on this device,
  // measured once per process.
  PersistentBarrier grid_barrier = PersistentBarrier::automatic;
  int tensor_core_layers = 0;  // layers whose recurrent product ran on tensor cores (bf16/f16)
  int paired_layers = 0;       // bidirectional layers that ran both directions in one grid
  // One line per layer ('\n' between) saying how it ran and, where it did not get tensor cores
  // or pairing, why; e.g. "layer 0: tensor cores, one grid per direction (in one grid with tensor
  // cores, a block needs 283 KB of shared memory for its 16 units' W_h rows and the batch's h,
  // the device allows 227 KB; RNNX_PERSISTENT_MMA=on puts tensor cores before pairing)".
  std::string layer_choices;
};

// What a plan holds, and what its engine reports of itself (zeros and empty for other engines).
struct PlanStats {
  std::size_t workspace_bytes = 0;  // memory the plan holds now (device memory for GPU engines)
  GraphStats graph;                 // gpu_static
  PersistentStats persistent;       // gpu_persistent
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
  // Like forward, and fills the reserve for backward. Not on a plan made with
  // Options::inference_only.
  void forward_train(const Forward& args, Reserve reserve, Stream stream = nullptr);
  // Backpropagation through time. `args` must be the Forward given to forward_train (same
  // inputs, lengths, weights and init), `reserve` what it filled. Not on a plan made with
  // Options::inference_only either.
  void backward(const Forward& args, const Backward& grads, Reserve reserve,
                Stream stream = nullptr);

 private:
  std::unique_ptr<EngineImpl> impl_;
  bool inference_only_ = false;  // Options::inference_only
};

}  // namespace rnnx
