// How rnnx's conventions map onto cuDNN's (DESIGN.md, "The cudnn engine"):
// - Layers: consecutive layers of the same kind of cell (CellKind: the GRU's reset mode and the
//   vanilla RNN's activation included), hidden size and direction form one cuDNN RNN (a
//   "segment", one call); a mixed stack is one call per segment.
// - Cells: LSTM, GRU (CUDNN_GRU resets after the matmul), the vanilla RNN as CUDNN_RNN_TANH or
//   CUDNN_RNN_RELU; the GRU that resets before the matmul is refused (gpu::cudnn_cell_mode).
// - Gates: cuDNN's linear layers are LSTM i, f, g, o, GRU r, z, n and the RNN's one (input side
//   0..G-1, recurrent side G..2G-1: for the RNN 0 is W_x, b_x and 1 is W_h, b_h), each an
//   [H, in] row-major block, like rnnx's; addresses come from cudnnGetRNNWeightParams, never from
//   assumed offsets. forget_bias is added to the LSTM forget gate's input-side bias. Every cell
//   has two biases (CUDNN_RNN_DOUBLE_BIAS), b_x and b_h.
// - Sequences: padded IO with per-sequence lengths and zero padding fill, time-major or
//   batch-major as the model says, so x and y need no copies. cuDNN fails on sequences of
//   length 0, so those run with length 1 and are fixed up: their outputs are zeroed, their final
//   states are their initial ones, and backward gives their step no gradient (dy and the final
//   state gradients of their rows are zeroed going in, dinit = dfinal coming out).
// - States: rnnx's state layout puts h of consecutive layers next to each other, so a segment's
//   hx/hy (and cx/cy) are one [layers * dirs, B, H] block of it.
// - Refusals (gpu::classify says which statuses are): cuDNN's limits on an algorithm are partly
//   undocumented and depend on the GPU, so the engine asks cuDNN rather than guessing, at fixed
//   points. Making the plan's descriptors probes the model. For a shape, every call and size
//   query first configures all segments (sequence descriptors with the call's lengths,
//   cudnnBuildRNNDynamic, cudnnGetRNNTempSpaceSizes) before it enqueues any work, so a refusal
//   there leaves the caller's buffers untouched. cuDNN may check per-sequence lengths against
//   the persistent algorithms only in cudnnRNNForward, before it launches anything; the lengths
//   are the same for every segment, so such a refusal comes at the first segment, before the
//   reserve is written. Whatever the refusal, the caller's outputs (y, final_state, dx, dinit,
//   dweights) are written only after the last cuDNN call has returned. Plan state that a
//   refused shape touched (persist_dynamic's build, the reserve layout) is committed only on
//   success, so the next call of any shape starts clean.
#include "gpu/cudnn_engine.h"

#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "fused/reserve.h"
#include "gpu/capture_gate.h"
#include "gpu/cuda_check.h"
#include "gpu/cudnn_support.h"
#include "gpu/cudnn_weights.h"
#include "gpu/plan_support.h"
#include "kernels/fused_kernels.h"
#include "kernels/sequence_kernels.h"
#include "rnnx/error.h"
#include "rnnx/layout.h"
#include "validate.h"

namespace rnnx {

namespace {

using gpu::Carver;
using gpu::check;
using gpu::copy_or_zero;
using gpu::cudnn_cell_mode;
using gpu::CudnnCall;
using gpu::DeviceGuard;
using gpu::HandleStream;
using gpu::Segment;
using gpu::to_cudnn;

template <class T>
class CudnnEngine final : public EngineImpl {
 public:
  CudnnEngine(const Model& model, const Options& options)
      : EngineImpl(model), algo_(options.cudnn.algo) {
    ctx_.algo = algo_;
    ctx_.dtype = model.dtype;
    RNNX_CUDA_CHECK(cudaGetDevice(&device_));
    try {
      create(options);
    } catch (...) {
      release();
      throw;
    }
  }

  ~CudnnEngine() override { release(); }

  Engine kind() const noexcept override { return Engine::cudnn; }

  // Sizes come from cuDNN, which these const queries ask (and persist_dynamic builds for the
  // batch), hence the const_cast: the plan's observable state does not change. They configure
  // the shape as a call would, so they throw the same Status::unsupported for a refused shape.
  std::size_t reserve_bytes(int steps, int batch) const override {
    return const_cast<CudnnEngine*>(this)->layout_reserve(steps, batch);
  }

  std::size_t workspace_bytes(int steps, int batch) const override {
    auto* self = const_cast<CudnnEngine*>(this);
    const std::size_t work = self->full_length_work(steps, batch);
    return weight_memory_bytes_ + self->carve(nullptr, steps, batch, work);
  }

  void prepare(int steps, int batch) override {
    const DeviceGuard guard(device_);
    call_order_.wait();
    ensure_workspace(steps, batch, full_length_work(steps, batch));
  }

  PlanStats stats() const override {
    PlanStats s;
    s.workspace_bytes = weight_memory_bytes_ + workspace_.bytes();
    return s;
  }

  void check_memory(const Forward& args, const Backward* grads,
                    const void* reserve) const override {
    gpu::check_call_memory(args, grads, reserve, device_, Engine::cudnn);
  }

  void forward(const Forward& args, Stream stream) override { run_forward(args, nullptr, stream); }
  void forward_train(const Forward& args, Reserve reserve, Stream stream) override {
    run_forward(args, static_cast<char*>(reserve.data), stream);
  }
  void backward(const Forward& args, const Backward& grads, Reserve reserve,
                Stream stream) override;

 private:
  // The states of one segment, copied to and from rnnx's state layout around each cuDNN call so
  // that cuDNN always gets 256-byte aligned [layers * dirs, B, H] blocks.
  struct SegmentStates {
    T *hx = nullptr, *cx = nullptr, *hy = nullptr, *cy = nullptr;
    T *dhy = nullptr, *dcy = nullptr, *dhx = nullptr, *dcx = nullptr;
  };

  // The pieces of the workspace for a shape.
  struct Buffers {
    int *len = nullptr, *len_raised = nullptr;  // lengths, and lengths raised to >= 1 (cuDNN)
    T *x = nullptr, *out[2] = {}, *dy = nullptr, *grad[2] = {};
    T *state = nullptr, *dinit = nullptr, *dW = nullptr;
    std::vector<SegmentStates> states;
    void* work = nullptr;
  };

  void create(const Options& options) {
    // Refuses what cuDNN does not compute (the reset-before GRU) before anything is made.
    for (const Layer& layer : model().layers) (void)cudnn_cell_mode(cell_kind(layer));
    if (algo_ == CudnnAlgo::persist_static && model().dtype == DType::f64) {
      throw Error(Status::unsupported,
                  "Options.cudnn.algo = persist_static: cuDNN's persistent static algorithm "
                  "has no float64; use standard or persist_dynamic");
    }
    if (algo_ == CudnnAlgo::persist_static_small_h && model().dtype == DType::f64) {
      // NVIDIA's own guidance (PyTorch's algorithm choice, pytorch/pytorch#73211): no float64.
      throw Error(Status::unsupported,
                  "Options.cudnn.algo = persist_static_small_h: cuDNN's persistent algorithm "
                  "for small hidden sizes has no float64; use standard or persist_dynamic");
    }
    if (algo_ == CudnnAlgo::persist_static_small_h) {
      for (const Layer& layer : model().layers) {
        if (layer.hidden > 192) {
          throw Error(Status::unsupported,
                      "Options.cudnn.algo = persist_static_small_h: hidden = " +
                          std::to_string(layer.hidden) +
                          " exceeds cuDNN's limit of 192 for this algorithm (forward; backward "
                          "is limited to 128)");
        }
      }
    }
    if (options.allow_tf32 && model().dtype != DType::f32) {
      throw Error(Status::unsupported,
                  "Options.allow_tf32: TF32 applies to float32 models; this model is float64");
    }
    const cudnnDataType_t type = model().dtype == DType::f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
    const cudnnMathType_t math = model().dtype == DType::f64 ? CUDNN_DEFAULT_MATH
                                 : options.allow_tf32        ? CUDNN_DEFAULT_MATH
                                                             : CUDNN_FMA_MATH;
    check(cudnnCreate(&handle_), "cudnnCreate", CudnnCall::plumbing, ctx_);
    check(cudnnCreateDropoutDescriptor(&dropout_), "cudnnCreateDropoutDescriptor",
          CudnnCall::plumbing, ctx_);
    std::size_t dropout_bytes = 0;
    check(cudnnDropoutGetStatesSize(handle_, &dropout_bytes), "cudnnDropoutGetStatesSize",
          CudnnCall::plumbing, ctx_);
    RNNX_CUDA_CHECK(cudaMalloc(&dropout_states_, std::max<std::size_t>(dropout_bytes, 1)));
    check(cudnnSetDropoutDescriptor(dropout_, handle_, 0.0f, dropout_states_, dropout_bytes, 0),
          "cudnnSetDropoutDescriptor", CudnnCall::plumbing, ctx_);

    // Segments: runs of layers cuDNN can express as one RNN.
    const std::vector<Layer>& layers = model().layers;
    for (int l = 0; l < static_cast<int>(layers.size()); ++l) {
      const Layer& layer = layers[l];
      if (!segments_.empty()) {
        Segment& last = segments_.back();
        const Layer& prev = layers[l - 1];
        if (cell_kind(prev) == cell_kind(layer) && prev.hidden == layer.hidden &&
            prev.bidirectional == layer.bidirectional) {
          ++last.layers;
          continue;
        }
      }
      Segment s;
      s.first = l;
      s.layers = 1;
      s.input = layer_input_size(model(), l);
      s.hidden = layer.hidden;
      s.dirs = directions(layer);
      s.kind = cell_kind(layer);
      s.gates = cell_traits(s.kind).gates;
      segments_.push_back(s);
    }
    for (Segment& s : segments_) {
      check(cudnnCreateRNNDescriptor(&s.rnn), "cudnnCreateRNNDescriptor", CudnnCall::plumbing,
            ctx_);
      check(cudnnSetRNNDescriptor_v8(s.rnn, to_cudnn(algo_), cudnn_cell_mode(s.kind),
                                     CUDNN_RNN_DOUBLE_BIAS,
                                     s.dirs == 2 ? CUDNN_BIDIRECTIONAL : CUDNN_UNIDIRECTIONAL,
                                     CUDNN_LINEAR_INPUT, type, type, math, s.input, s.hidden,
                                     s.hidden, s.layers, dropout_, CUDNN_RNN_PADDED_IO_ENABLED),
            "cudnnSetRNNDescriptor_v8", CudnnCall::configure, ctx_);
      check(cudnnCreateRNNDataDescriptor(&s.x_desc), "cudnnCreateRNNDataDescriptor",
            CudnnCall::plumbing, ctx_);
      check(cudnnCreateRNNDataDescriptor(&s.y_desc), "cudnnCreateRNNDataDescriptor",
            CudnnCall::plumbing, ctx_);
      check(cudnnCreateTensorDescriptor(&s.h_desc), "cudnnCreateTensorDescriptor",
            CudnnCall::plumbing, ctx_);
      check(cudnnGetRNNWeightSpaceSize(handle_, s.rnn, &s.weight_bytes),
            "cudnnGetRNNWeightSpaceSize", CudnnCall::configure, ctx_);
    }
    // The weight spaces and their gradients, once for the plan.
    std::size_t bytes = 0;
    for (const Segment& s : segments_) bytes += 2 * ((s.weight_bytes + 255) / 256 * 256);
    RNNX_CUDA_CHECK(cudaMalloc(&weight_memory_, bytes));
    weight_memory_bytes_ = bytes;
    char* at = static_cast<char*>(weight_memory_);
    for (Segment& s : segments_) {
      s.weights = at;
      at += (s.weight_bytes + 255) / 256 * 256;
      s.dweights = at;
      at += (s.weight_bytes + 255) / 256 * 256;
    }
    weight_map_.map(handle_, model(), segments_, ctx_);
  }

  // Sets the sequence descriptors for a shape and the lengths in `host_len` (each >= 1), and
  // the context that refusals name.
  void describe(int steps, int batch, const int* host_len) {
    ctx_.steps = steps;
    ctx_.batch = batch;
    ctx_.varied_lengths =
        std::any_of(host_len, host_len + batch, [&](int n) { return n != host_len[0]; });
    ctx_.training = false;
    const cudnnDataType_t type = model().dtype == DType::f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
    const cudnnRNNDataLayout_t layout = model().layout == Layout::time_major
                                            ? CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED
                                            : CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED;
    T zero = T(0);
    for (const Segment& s : segments_) {
      if (std::size_t(s.blocks()) * batch * s.hidden > std::size_t(INT_MAX)) {
        throw Error(Status::unsupported,
                    "engine cudnn: layers * directions * batch * hidden = " +
                        std::to_string(std::size_t(s.blocks()) * batch * s.hidden) +
                        " exceeds cuDNN's int sizes; split the batch");
      }
    }
    for (Segment& s : segments_) {
      check(
          cudnnSetRNNDataDescriptor(s.x_desc, type, layout, steps, batch, s.input, host_len, &zero),
          "cudnnSetRNNDataDescriptor", CudnnCall::plumbing, ctx_);
      check(cudnnSetRNNDataDescriptor(s.y_desc, type, layout, steps, batch, s.output(), host_len,
                                      &zero),
            "cudnnSetRNNDataDescriptor", CudnnCall::plumbing, ctx_);
      const int dims[3] = {s.blocks(), batch, s.hidden};
      const int strides[3] = {batch * s.hidden, s.hidden, 1};
      check(cudnnSetTensorNdDescriptor(s.h_desc, type, 3, dims, strides),
            "cudnnSetTensorNdDescriptor", CudnnCall::plumbing, ctx_);
    }
  }

  // persist_dynamic compiles its kernels for a batch size; the other algorithms need nothing.
  void build_for_batch(int batch) {
    if (algo_ != CudnnAlgo::persist_dynamic || batch == built_batch_) return;
    call_order_.wait();  // no call may still run the old build
    // Compiling and loading a kernel module may synchronize the device: not while another
    // thread captures (gpu/capture_gate.h).
    const gpu::SyncScope sync;
    built_batch_ = 0;
    for (const Segment& s : segments_) {
      check(cudnnBuildRNNDynamic(handle_, s.rnn, batch), "cudnnBuildRNNDynamic",
            CudnnCall::configure, ctx_);
    }
    built_batch_ = batch;
  }

  // Workspace for the descriptors as set now (largest over segments and the modes asked);
  // reserve sizes per segment into *reserve when given (training).
  std::size_t query_work(bool training, std::vector<std::size_t>* reserve) {
    std::size_t work = 0;
    if (reserve != nullptr) reserve->clear();
    for (const Segment& s : segments_) {
      std::size_t w = 0, r = 0;
      ctx_.training = false;
      check(cudnnGetRNNTempSpaceSizes(handle_, s.rnn, CUDNN_FWD_MODE_INFERENCE, s.x_desc, &w, &r),
            "cudnnGetRNNTempSpaceSizes", CudnnCall::configure, ctx_);
      work = std::max(work, w);
      if (training) {
        ctx_.training = true;
        check(cudnnGetRNNTempSpaceSizes(handle_, s.rnn, CUDNN_FWD_MODE_TRAINING, s.x_desc, &w, &r),
              "cudnnGetRNNTempSpaceSizes", CudnnCall::configure, ctx_);
        work = std::max(work, w);
        if (reserve != nullptr) reserve->push_back(r);
      }
    }
    return work;
  }

  // Inference workspace for a shape, every sequence full length.
  std::size_t full_length_work(int steps, int batch) {
    const DeviceGuard guard(device_);
    describe(steps, batch, std::vector<int>(batch, steps).data());
    build_for_batch(batch);
    return query_work(false, nullptr);
  }

  // The reserve's layout for a shape (cuDNN's reserve of each segment, then its output), from
  // full-length descriptors; committed only once every query has succeeded.
  std::size_t layout_reserve(int steps, int batch) {
    if (steps == reserve_steps_ && batch == reserve_batch_) return reserve_total_;
    const DeviceGuard guard(device_);
    reserve_steps_ = reserve_batch_ = 0;
    describe(steps, batch, std::vector<int>(batch, steps).data());
    build_for_batch(batch);
    std::vector<std::size_t> reserve;
    query_work(true, &reserve);
    const std::size_t tb = std::size_t(steps) * batch;
    std::size_t total = 0;
    std::vector<std::size_t> reserve_at, output_at;
    for (std::size_t k = 0; k < segments_.size(); ++k) {
      reserve_at.push_back(total);
      total += (reserve[k] + 255) / 256 * 256;
      output_at.push_back(total);
      total += (tb * segments_[k].output() * sizeof(T) + 255) / 256 * 256;
    }
    for (std::size_t k = 0; k < segments_.size(); ++k) {
      segments_[k].reserve_bytes = reserve[k];
      segments_[k].reserve_offset = reserve_at[k];
      segments_[k].output_offset = output_at[k];
    }
    reserve_total_ = total;
    reserve_steps_ = steps;
    reserve_batch_ = batch;
    return total;
  }

  std::size_t carve(Buffers* buf, int steps, int batch, std::size_t work) const {
    Carver c(buf == nullptr ? nullptr : workspace_.data());
    Buffers b;
    const std::size_t tb = std::size_t(steps) * batch;
    std::size_t widest_out = 0, widest_in = 0;
    for (const Segment& s : segments_) {
      widest_out = std::max<std::size_t>(widest_out, s.output());
      widest_in = std::max<std::size_t>(widest_in, s.input);
    }
    const std::size_t S = StateLayout(model(), batch).size(), W = WeightLayout(model()).size();
    b.len = c.take<int>(batch);
    b.len_raised = c.take<int>(batch);
    b.x = c.take<T>(tb * model().input_size);
    for (T*& o : b.out) o = c.take<T>(tb * widest_out);
    b.dy = c.take<T>(tb * output_size(model()));
    for (T*& g : b.grad) g = c.take<T>(tb * widest_in);
    b.state = c.take<T>(S);
    b.dinit = c.take<T>(S);
    b.dW = c.take<T>(W);
    for (const Segment& s : segments_) {
      const std::size_t n = std::size_t(s.blocks()) * batch * s.hidden;
      const std::size_t nc = cell_traits(s.kind).has_c ? n : 0;
      SegmentStates st;
      st.hx = c.take<T>(n);
      st.hy = c.take<T>(n);
      st.dhy = c.take<T>(n);
      st.dhx = c.take<T>(n);
      st.cx = c.take<T>(nc);
      st.cy = c.take<T>(nc);
      st.dcy = c.take<T>(nc);
      st.dcx = c.take<T>(nc);
      b.states.push_back(st);
    }
    b.work = c.take<char>(work);
    if (buf != nullptr) *buf = b;
    return c.used();
  }

  void ensure_workspace(int steps, int batch, std::size_t work) {
    const std::size_t need = carve(nullptr, steps, batch, work);
    workspace_.grow(need);
    carve(&buf_, steps, batch, work);
    work_bytes_ = work;
  }

  // Everything a call needs before its first cuDNN call: the lengths (as given and raised to >= 1
  // for cuDNN) on the device, descriptors for them, the reserve's layout when training (and the
  // check that these lengths need no more reserve than full ones), the workspace for them. Every
  // call that configures cuDNN for the shape happens here, before anything is enqueued: this is
  // where cuDNN refuses a shape.
  void prepare_call(const Forward& args, bool training, cudaStream_t stream) {
    lengths_.fill(args, 0);
    raised_.fill(args, 1);
    if (training) layout_reserve(args.steps, args.batch);
    describe(args.steps, args.batch, raised_.host());
    build_for_batch(args.batch);
    std::vector<std::size_t> reserve;
    const std::size_t work = query_work(training, &reserve);
    for (std::size_t k = 0; training && k < segments_.size(); ++k) {
      if (reserve[k] > segments_[k].reserve_bytes) {
        throw Error(Status::backend_error,
                    "cudnnGetRNNTempSpaceSizes: these lengths need a reserve of " +
                        std::to_string(reserve[k]) + " bytes for segment " + std::to_string(k) +
                        ", more than the " + std::to_string(segments_[k].reserve_bytes) +
                        " full lengths need (rnnx sizes the reserve for full lengths)");
      }
    }
    ensure_workspace(args.steps, args.batch, work);
    lengths_.copy_to(buf_.len, args.batch, stream);
    raised_.copy_to(buf_.len_raised, args.batch, stream);
  }

  // The caller's x with every position past each length zeroed (cuDNN reads its own lengths,
  // raised to 1, and backward multiplies x by gradients that must meet no NaN).
  const T* padded_input(const Forward& args, cudaStream_t stream) {
    const std::size_t n = std::size_t(args.steps) * args.batch * model().input_size;
    RNNX_CUDA_CHECK(
        cudaMemcpyAsync(buf_.x, args.x.data, n * sizeof(T), cudaMemcpyDeviceToDevice, stream));
    RNNX_CUDA_CHECK(gpu::zero_padding<T>(stream, buf_.x, args.steps, args.batch, model().input_size,
                                         model().layout, buf_.len));
    return buf_.x;
  }

  void pack_if_needed(const Forward& args, cudaStream_t stream) {
    if (args.weights_unchanged && packed_from_ == args.weights.data) return;
    packed_from_ = nullptr;  // half-packed weights must never pass for packed ones
    weight_map_.pack(segments_, static_cast<const T*>(args.weights.data), stream);
    packed_from_ = args.weights.data;
  }

  void run_forward(const Forward& args, char* reserve, Stream stream);

  void release() noexcept {
    int previous = device_;
    cudaGetDevice(&previous);
    cudaSetDevice(device_);
    call_order_.wait();
    for (Segment& s : segments_) {
      if (s.rnn != nullptr) cudnnDestroyRNNDescriptor(s.rnn);
      if (s.x_desc != nullptr) cudnnDestroyRNNDataDescriptor(s.x_desc);
      if (s.y_desc != nullptr) cudnnDestroyRNNDataDescriptor(s.y_desc);
      if (s.h_desc != nullptr) cudnnDestroyTensorDescriptor(s.h_desc);
    }
    segments_.clear();
    if (dropout_ != nullptr) cudnnDestroyDropoutDescriptor(dropout_);
    if (handle_ != nullptr) cudnnDestroy(handle_);
    if (dropout_states_ != nullptr) cudaFree(dropout_states_);
    if (weight_memory_ != nullptr) cudaFree(weight_memory_);
    workspace_.release();
    dropout_ = nullptr;
    handle_ = nullptr;
    dropout_states_ = weight_memory_ = nullptr;
    cudaSetDevice(previous);
  }

  CudnnAlgo algo_;
  gpu::CudnnContext ctx_;  // what cuDNN is being configured for or running, for its messages
  int device_ = 0;
  cudnnHandle_t handle_ = nullptr;
  cudnnDropoutDescriptor_t dropout_ = nullptr;
  void* dropout_states_ = nullptr;
  std::vector<Segment> segments_;
  gpu::CudnnWeightMap weight_map_;
  void* weight_memory_ = nullptr;
  std::size_t weight_memory_bytes_ = 0;
  const void* packed_from_ = nullptr;
  int built_batch_ = 0;                        // persist_dynamic
  int reserve_steps_ = 0, reserve_batch_ = 0;  // the shape the reserve layout is for
  std::size_t reserve_total_ = 0;
  std::size_t work_bytes_ = 0;  // of the current call
  gpu::DeviceWorkspace workspace_;
  Buffers buf_;
  gpu::LengthStager lengths_, raised_;
  gpu::CallOrder call_order_;
};

template <class T>
void CudnnEngine<T>::run_forward(const Forward& args, char* reserve, Stream stream) {
  fused::check_gemm_limits(args.steps, args.batch, Engine::cudnn);
  const DeviceGuard guard(device_);
  const cudaStream_t s = stream;
  const gpu::CallScope scope(call_order_, s);
  const HandleStream on_stream(handle_, s, ctx_);
  prepare_call(args, reserve != nullptr, s);
  pack_if_needed(args, s);

  const Model& m = model();
  const StateLayout sl(m, args.batch);
  const T* init = static_cast<const T*>(args.init.data);
  const cudnnForwardMode_t mode =
      reserve != nullptr ? CUDNN_FWD_MODE_TRAINING : CUDNN_FWD_MODE_INFERENCE;
  const T* x = padded_input(args, s);
  T* y = nullptr;
  for (std::size_t k = 0; k < segments_.size(); ++k) {
    Segment& seg = segments_[k];
    const SegmentStates& st = buf_.states[k];
    const bool lstm = cell_traits(seg.kind).has_c;
    const std::size_t n = std::size_t(seg.blocks()) * args.batch * seg.hidden;
    const std::size_t h_at = sl.h(seg.first, Dir::fw), c_at = lstm ? sl.c(seg.first, Dir::fw) : 0;
    copy_or_zero(init != nullptr ? init + h_at : nullptr, st.hx, n, s);
    if (lstm) copy_or_zero(init != nullptr ? init + c_at : nullptr, st.cx, n, s);
    y = reserve != nullptr ? reinterpret_cast<T*>(reserve + seg.output_offset) : buf_.out[k % 2];
    check(cudnnRNNForward(handle_, seg.rnn, mode, buf_.len_raised, seg.x_desc, x, seg.y_desc, y,
                          seg.h_desc, st.hx, st.hy, seg.h_desc, st.cx, st.cy, seg.weight_bytes,
                          seg.weights, work_bytes_, buf_.work,
                          reserve != nullptr ? seg.reserve_bytes : 0,
                          reserve != nullptr ? reserve + seg.reserve_offset : nullptr),
          "cudnnRNNForward", CudnnCall::execute, ctx_);
    // Sequences of length 0 ran one step: no output, and their state is their initial one.
    RNNX_CUDA_CHECK(
        gpu::zero_padding<T>(s, y, args.steps, args.batch, seg.output(), m.layout, buf_.len));
    RNNX_CUDA_CHECK(gpu::copy_rows_of_empty<T>(s, st.hy, st.hx, seg.blocks(), args.batch,
                                               seg.hidden, buf_.len));
    copy_or_zero<T>(st.hy, buf_.state + h_at, n, s);
    if (lstm) {
      RNNX_CUDA_CHECK(gpu::copy_rows_of_empty<T>(s, st.cy, st.cx, seg.blocks(), args.batch,
                                                 seg.hidden, buf_.len));
      copy_or_zero<T>(st.cy, buf_.state + c_at, n, s);
    }
    x = y;
  }
  const std::size_t ny = std::size_t(args.steps) * args.batch * output_size(m);
  copy_or_zero<T>(y, static_cast<T*>(args.y.data), ny, s);
  if (!args.final_state.empty()) {
    copy_or_zero<T>(buf_.state, static_cast<T*>(args.final_state.data), sl.size(), s);
  }
}

template <class T>
void CudnnEngine<T>::backward(const Forward& args, const Backward& grads, Reserve reserve,
                              Stream stream) {
  fused::check_gemm_limits(args.steps, args.batch, Engine::cudnn);
  const DeviceGuard guard(device_);
  const cudaStream_t s = stream;
  const gpu::CallScope scope(call_order_, s);
  const HandleStream on_stream(handle_, s, ctx_);
  prepare_call(args, true, s);
  pack_if_needed(args, s);

  const Model& m = model();
  const StateLayout sl(m, args.batch);
  const std::size_t S = sl.size(), W = WeightLayout(m).size(), D = output_size(m);
  const std::size_t tb = std::size_t(args.steps) * args.batch;
  char* arrays = static_cast<char*>(reserve.data);
  const T* init = static_cast<const T*>(args.init.data);
  const T* dfinal = static_cast<const T*>(grads.dfinal.data);

  // The gradients going in: nothing for the steps past each length, and nothing for the final
  // state of an empty sequence (its one step is cuDNN's, not the model's).
  copy_or_zero(static_cast<const T*>(grads.dy.data), buf_.dy, tb * D, s);
  RNNX_CUDA_CHECK(
      gpu::zero_padding<T>(s, buf_.dy, args.steps, args.batch, int(D), m.layout, buf_.len));
  for (std::size_t k = 0; k < segments_.size(); ++k) {
    const Segment& seg = segments_[k];
    const SegmentStates& st = buf_.states[k];
    const std::size_t n = std::size_t(seg.blocks()) * args.batch * seg.hidden;
    const std::size_t h_at = sl.h(seg.first, Dir::fw);
    copy_or_zero(dfinal != nullptr ? dfinal + h_at : nullptr, st.dhy, n, s);
    RNNX_CUDA_CHECK(
        gpu::zero_rows_of_empty<T>(s, st.dhy, seg.blocks(), args.batch, seg.hidden, buf_.len));
    if (cell_traits(seg.kind).has_c) {
      const std::size_t c_at = sl.c(seg.first, Dir::fw);
      copy_or_zero(dfinal != nullptr ? dfinal + c_at : nullptr, st.dcy, n, s);
      RNNX_CUDA_CHECK(
          gpu::zero_rows_of_empty<T>(s, st.dcy, seg.blocks(), args.batch, seg.hidden, buf_.len));
    }
    RNNX_CUDA_CHECK(cudaMemsetAsync(seg.dweights, 0, seg.weight_bytes, s));  // cuDNN adds
  }
  const T* x0 = padded_input(args, s);

  const T* dy = buf_.dy;
  T* dx = nullptr;
  for (int k = static_cast<int>(segments_.size()) - 1; k >= 0; --k) {
    Segment& seg = segments_[k];
    const SegmentStates& st = buf_.states[k];
    const bool lstm = cell_traits(seg.kind).has_c;
    const std::size_t n = std::size_t(seg.blocks()) * args.batch * seg.hidden;
    const std::size_t h_at = sl.h(seg.first, Dir::fw), c_at = lstm ? sl.c(seg.first, Dir::fw) : 0;
    copy_or_zero(init != nullptr ? init + h_at : nullptr, st.hx, n, s);
    if (lstm) copy_or_zero(init != nullptr ? init + c_at : nullptr, st.cx, n, s);
    const T* x = k == 0 ? x0 : reinterpret_cast<const T*>(arrays + segments_[k - 1].output_offset);
    const T* y = reinterpret_cast<const T*>(arrays + seg.output_offset);
    void* seg_reserve = arrays + seg.reserve_offset;
    dx = buf_.grad[k % 2];
    check(cudnnRNNBackwardData_v8(handle_, seg.rnn, buf_.len_raised, seg.y_desc, y, dy, seg.x_desc,
                                  dx, seg.h_desc, st.hx, st.dhy, st.dhx, seg.h_desc, st.cx, st.dcy,
                                  st.dcx, seg.weight_bytes, seg.weights, work_bytes_, buf_.work,
                                  seg.reserve_bytes, seg_reserve),
          "cudnnRNNBackwardData_v8", CudnnCall::execute, ctx_);
    check(cudnnRNNBackwardWeights_v8(handle_, seg.rnn, CUDNN_WGRAD_MODE_ADD, buf_.len_raised,
                                     seg.x_desc, x, seg.h_desc, st.hx, seg.y_desc, y,
                                     seg.weight_bytes, seg.dweights, work_bytes_, buf_.work,
                                     seg.reserve_bytes, seg_reserve),
          "cudnnRNNBackwardWeights_v8", CudnnCall::execute, ctx_);
    RNNX_CUDA_CHECK(
        gpu::zero_padding<T>(s, dx, args.steps, args.batch, seg.input, m.layout, buf_.len));
    // An empty sequence's state passes straight through: dinit = dfinal for its rows.
    const T* pass_h = dfinal != nullptr ? dfinal + h_at : nullptr;
    RNNX_CUDA_CHECK(gpu::copy_rows_of_empty<T>(s, st.dhx, pass_h, seg.blocks(), args.batch,
                                               seg.hidden, buf_.len));
    copy_or_zero<T>(st.dhx, buf_.dinit + h_at, n, s);
    if (lstm) {
      const T* pass_c = dfinal != nullptr ? dfinal + c_at : nullptr;
      RNNX_CUDA_CHECK(gpu::copy_rows_of_empty<T>(s, st.dcx, pass_c, seg.blocks(), args.batch,
                                                 seg.hidden, buf_.len));
      copy_or_zero<T>(st.dcx, buf_.dinit + c_at, n, s);
    }
    dy = dx;
  }

  weight_map_.unpack_gradients(segments_, buf_.dW, s);
  RNNX_CUDA_CHECK(
      gpu::write_or_add<T>(s, buf_.dW, W, grads.accumulate, static_cast<T*>(grads.dweights.data)));
  if (!grads.dx.empty()) {
    copy_or_zero<T>(dx, static_cast<T*>(grads.dx.data), tb * m.input_size, s);
  }
  if (!grads.dinit.empty()) copy_or_zero<T>(buf_.dinit, static_cast<T*>(grads.dinit.data), S, s);
}

}  // namespace

std::unique_ptr<EngineImpl> make_cudnn_engine(const Model& model, const Options& options) {
  check_not_half(model, Engine::cudnn);
  if (model.dtype == DType::f64) return std::make_unique<CudnnEngine<double>>(model, options);
  return std::make_unique<CudnnEngine<float>>(model, options);
}

}  // namespace rnnx
