#include "gpu/cudnn_support.h"

#include <string>

namespace rnnx::gpu {

namespace {

// cuDNN 9 deprecates the name of 2001 (CUDNN_STATUS_INVALID_VALUE) but its RNN functions may still
// answer it; the number avoids the deprecation warning.
constexpr int kInvalidValue = 2001;

bool is_persistent(CudnnAlgo algo) {
  switch (algo) {
    case CudnnAlgo::standard:
      return false;
    case CudnnAlgo::persist_static:
    case CudnnAlgo::persist_dynamic:
    case CudnnAlgo::persist_static_small_h:
      return true;
  }
  return true;
}

// cuDNN as a whole cannot run here; the algorithm has nothing to do with it.
bool is_environment(int code) {
  switch (code) {
    case CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER:
    case CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART:
    case CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH:
    case CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING:
    case CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE:
      return true;
    default:
      return false;
  }
}

// The BAD_PARAM answers that may mean "not with this algorithm" rather than a wrong argument.
// The other sub-codes (null or misaligned pointer, insufficient size, stream, graph, shape or
// descriptor mismatch, ...) name a caller's mistake, which no algorithm can excuse.
bool is_general_bad_param(int code) {
  return code == CUDNN_STATUS_BAD_PARAM || code == kInvalidValue ||
         code == CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND;
}

const char* cudnn_name(CudnnAlgo algo) {
  switch (algo) {
    case CudnnAlgo::standard:
      return "CUDNN_RNN_ALGO_STANDARD";
    case CudnnAlgo::persist_static:
      return "CUDNN_RNN_ALGO_PERSIST_STATIC";
    case CudnnAlgo::persist_dynamic:
      return "CUDNN_RNN_ALGO_PERSIST_DYNAMIC";
    case CudnnAlgo::persist_static_small_h:
      return "CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H";
  }
  return "CUDNN_RNN_ALGO_STANDARD";
}

// What cuDNN was asked to take: the model, or a shape of it.
std::string what_was_asked(const CudnnContext& c) {
  std::string s = std::string(to_string(c.dtype));
  if (c.steps == 0) return "this model (" + s + ")";
  s = "steps = " + std::to_string(c.steps) + ", batch = " + std::to_string(c.batch) + ", " + s;
  if (c.varied_lengths) s += ", sequence lengths that differ across the batch";
  if (c.training) s += ", training";
  return s;
}

// The likely reason, from what cuDNN documents of the algorithm; cuDNN does not say which limit
// a refusal hit.
std::string likely_reason(cudnnStatus_t status, const CudnnContext& c) {
  std::string reason;
  if (static_cast<int>(status) == CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED) {
    reason = "cuDNN could not compile the algorithm's kernel for this configuration; ";
  }
  if (c.varied_lengths && is_persistent(c.algo)) {
    reason +=
        "the sequences' lengths differ, which cuDNN's persistent algorithms typically do not "
        "take (equal lengths may run); failing that, ";
  }
  switch (c.algo) {
    case CudnnAlgo::standard:
      reason += "a size beyond what cuDNN's RNN functions take";
      break;
    case CudnnAlgo::persist_static:
      reason +=
          "its persistent kernel keeps each layer's recurrent weights on the chip for the whole "
          "sequence, so the hidden sizes and batches that fit depend on the GPU";
      break;
    case CudnnAlgo::persist_dynamic:
      reason +=
          "it compiles a persistent kernel for the batch (cudnnBuildRNNDynamic), and a hidden "
          "size or batch too large for the chip does not compile or fit";
      break;
    case CudnnAlgo::persist_static_small_h:
      reason +=
          "it is made for small hidden sizes (LSTM and GRU up to 192, up to 128 for training)";
      break;
  }
  return reason;
}

// cuDNN 9 may keep a message for the last error of this thread, more specific than the status;
// empty when it has none.
std::string last_message() {
  char text[1024] = {};
  cudnnGetLastErrorString(text, sizeof(text));
  text[sizeof(text) - 1] = '\0';
  return text[0] == '\0' ? std::string() : std::string("; cuDNN says: ") + text;
}

}  // namespace

CudnnFailure classify(cudnnStatus_t status, CudnnCall call, CudnnAlgo algo) noexcept {
  const int code = static_cast<int>(status);
  if (is_environment(code)) return CudnnFailure::environment;
  const bool not_supported = CUDNN_STATUS_CATEGORY(code) == CUDNN_STATUS_NOT_SUPPORTED;
  const bool persistent = is_persistent(algo);
  switch (call) {
    case CudnnCall::plumbing:
      return CudnnFailure::error;
    case CudnnCall::configure:
      if (not_supported) return CudnnFailure::refusal;
      if (persistent &&
          (is_general_bad_param(code) || code == CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED)) {
        return CudnnFailure::refusal;
      }
      return CudnnFailure::error;
    case CudnnCall::execute:
      if (persistent && (not_supported || is_general_bad_param(code))) {
        return CudnnFailure::refusal;
      }
      return CudnnFailure::error;
  }
  return CudnnFailure::error;
}

Error cudnn_error(cudnnStatus_t status, const char* call_name, CudnnCall call,
                  const CudnnContext& context) {
  // Read once: what cuDNN keeps for this thread's last error goes into whichever error this is.
  const std::string cudnn_says = last_message();
  const std::string answer =
      std::string(call_name) + " returned " + cudnnGetErrorString(status) + cudnn_says;
  switch (classify(status, call, context.algo)) {
    case CudnnFailure::refusal: {
      const std::string instead =
          is_persistent(context.algo)
              ? "Options.cudnn.algo = standard runs it, as do engines gpu_dynamic and cpu"
              : "engines gpu_dynamic and cpu run it";
      return Error(Status::unsupported,
                   "engine cudnn, Options.cudnn.algo = " + std::string(to_string(context.algo)) +
                       ": cuDNN's " + cudnn_name(context.algo) + " refuses " +
                       what_was_asked(context) + " (" + answer +
                       "). Likely reason: " + likely_reason(status, context) + ". " + instead);
    }
    case CudnnFailure::environment:
      return Error(Status::unsupported, "engine cudnn: cuDNN cannot run on this machine (" +
                                            answer +
                                            "); engines gpu_dynamic and cpu do not need it");
    case CudnnFailure::error:
      break;
  }
  return Error(Status::backend_error, std::string(call_name) +
                                          " failed: " + cudnnGetErrorString(status) +
                                          " (cuDNN algorithm " + to_string(context.algo) + ", " +
                                          what_was_asked(context) + ")" + cudnn_says);
}

cudnnRNNMode_t cudnn_cell_mode(CellKind kind) {
  switch (kind) {
    case CellKind::lstm:
      return CUDNN_LSTM;
    case CellKind::gru_reset_after:
      return CUDNN_GRU;
    case CellKind::rnn_tanh:
      return CUDNN_RNN_TANH;
    case CellKind::rnn_relu:
      return CUDNN_RNN_RELU;
    case CellKind::gru_reset_before:
      break;
  }
  throw Error(Status::unsupported,
              "engine cudnn: cuDNN's GRU resets after the matmul (n = tanh(Wx x + r*(Wh h + bh))); "
              "a GRU that resets before it (TF's GRUCell) is not something cuDNN computes: use "
              "gpu_dynamic, gpu_static, cpu or cpu_reference");
}

LinearLayer linear_layer(CellKind kind, int id) {
  const int G = cell_traits(kind).gates;
  return LinearLayer{id >= G, id % G};
}

double packed_bias_add(CellKind kind, const Layer& layer, LinearLayer linear) {
  switch (kind) {
    case CellKind::lstm:
      return !linear.recurrent && linear.gate == lstm_f ? layer.forget_bias : 0.0;
    case CellKind::gru_reset_after:
    case CellKind::gru_reset_before:
    case CellKind::rnn_tanh:
    case CellKind::rnn_relu:
      return 0.0;
  }
  return 0.0;
}

cudnnRNNAlgo_t to_cudnn(CudnnAlgo algo) {
  switch (algo) {
    case CudnnAlgo::persist_static:
      return CUDNN_RNN_ALGO_PERSIST_STATIC;
    case CudnnAlgo::persist_dynamic:
      return CUDNN_RNN_ALGO_PERSIST_DYNAMIC;
    case CudnnAlgo::persist_static_small_h:
      return CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H;
    case CudnnAlgo::standard:
      break;
  }
  return CUDNN_RNN_ALGO_STANDARD;
}

}  // namespace rnnx::gpu
