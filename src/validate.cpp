#include "validate.h"

#include <cstdint>
#include <string>

#include "rnnx/error.h"
#include "rnnx/layout.h"
#include "size_math.h"

namespace rnnx {

namespace {

[[noreturn]] void fail(const std::string& message) {
  throw Error(Status::invalid_argument, message);
}

void check_dim(const char* name, int value) {
  if (value < 1 || value > max_size) {
    fail(std::string(name) + " = " + std::to_string(value) + ": must be in [1, " +
         std::to_string(max_size) + "]");
  }
}

// A buffer the call needs (required) or may take (optional: empty means absent).
// `role` names what the expected dtype is: "" for the model's dtype, the state's wording for
// state buffers.
void check_buffer(const char* name, const void* data, std::size_t size, DType dtype,
                  std::size_t expected, DType model_dtype, bool required, const char* shape,
                  const char* role = "") {
  if (data == nullptr && size == 0) {
    if (required)
      fail(std::string(name) + " is required: expected " + shape + " = " +
           std::to_string(expected) + " elements, got an empty buffer");
    return;
  }
  if (data == nullptr) {
    fail(std::string(name) + ": null pointer with size " + std::to_string(size) +
         "; pass a valid pointer, or an empty buffer where the argument is optional");
  }
  if (dtype != model_dtype) {
    fail(std::string(name) + ": dtype " + to_string(dtype) + " does not match the model's " + role +
         to_string(model_dtype));
  }
  if (size != expected) {
    fail(std::string(name) + ": " + std::to_string(size) + " elements, expected " + shape + " = " +
         std::to_string(expected));
  }
}

void check_in(const char* name, ConstBuffer b, std::size_t expected, DType dtype, bool required,
              const std::string& shape) {
  check_buffer(name, b.data, b.size, b.dtype, expected, dtype, required, shape.c_str());
}

void check_out(const char* name, Buffer b, std::size_t expected, DType dtype, bool required,
               const std::string& shape) {
  check_buffer(name, b.data, b.size, b.dtype, expected, dtype, required, shape.c_str());
}

// State buffers (init, final_state and their gradients) hold StateLayout(model, batch).size()
// values of state_dtype: float32 for a bf16/f16 model.
constexpr const char* kStateShape = "StateLayout(model, batch).size()";
constexpr const char* kStateRole = "state dtype (rnnx::state_dtype) ";

void check_state_in(const char* name, ConstBuffer b, std::size_t expected, const Model& model) {
  check_buffer(name, b.data, b.size, b.dtype, expected, state_dtype(model.dtype), false,
               kStateShape, kStateRole);
}

void check_state_out(const char* name, Buffer b, std::size_t expected, const Model& model) {
  check_buffer(name, b.data, b.size, b.dtype, expected, state_dtype(model.dtype), false,
               kStateShape, kStateRole);
}

std::string sequence_shape(const Model& model, const char* feature, const Forward& args) {
  const std::string t = "T=" + std::to_string(args.steps);
  const std::string b = "B=" + std::to_string(args.batch);
  return model.layout == Layout::time_major ? "[" + t + ", " + b + ", " + feature + "]"
                                            : "[" + b + ", " + t + ", " + feature + "]";
}

}  // namespace

CallSizes check_forward(const Model& model, const Forward& args) {
  check_dim("Forward.steps", args.steps);
  check_dim("Forward.batch", args.batch);
  CallSizes sizes;
  const std::size_t tb = checked_mul(args.steps, args.batch, "Forward.steps * Forward.batch");
  sizes.x = checked_mul(tb, model.input_size, "Forward.x");
  sizes.y = checked_mul(tb, output_size(model), "Forward.y");
  sizes.state = StateLayout(model, args.batch).size();
  sizes.weights = WeightLayout(model).size();

  const std::string i = "I=" + std::to_string(model.input_size);
  const std::string d = "D=" + std::to_string(output_size(model));
  check_in("Forward.x", args.x, sizes.x, model.dtype, true, sequence_shape(model, i.c_str(), args));
  check_in("Forward.weights", args.weights, sizes.weights, model.dtype, true,
           "WeightLayout(model).size()");
  check_state_in("Forward.init", args.init, sizes.state, model);
  check_out("Forward.y", args.y, sizes.y, model.dtype, true,
            sequence_shape(model, d.c_str(), args));
  check_state_out("Forward.final_state", args.final_state, sizes.state, model);
  if (args.lengths != nullptr) {
    for (int b = 0; b < args.batch; ++b) {
      const int len = args.lengths[b];
      if (len < 0 || len > args.steps) {
        fail("Forward.lengths[" + std::to_string(b) + "] = " + std::to_string(len) +
             ": must be in [0, steps=" + std::to_string(args.steps) + "]");
      }
    }
  }
  return sizes;
}

void check_not_half(const Model& model, Engine engine) {
  if (is_half(model.dtype)) {
    throw Error(Status::unsupported, std::string("engine ") + to_string(engine) +
                                         " runs float32 and float64 models; this one is " +
                                         to_string(model.dtype) +
                                         ": use gpu_persistent (inference) or cpu_reference");
  }
}

void check_trainable(const Model& model) {
  if (is_half(model.dtype)) {
    throw Error(Status::unsupported, std::string("model.dtype = ") + to_string(model.dtype) +
                                         ": rnnx runs " + to_string(model.dtype) +
                                         " models for inference (forward) only; train in "
                                         "float32 or float64");
  }
}

void check_backward(const Model& model, const Forward& args, const Backward& grads) {
  const CallSizes sizes = check_forward(model, args);
  const std::string i = "I=" + std::to_string(model.input_size);
  const std::string d = "D=" + std::to_string(output_size(model));
  check_in("Backward.dy", grads.dy, sizes.y, model.dtype, true,
           sequence_shape(model, d.c_str(), args));
  check_state_in("Backward.dfinal", grads.dfinal, sizes.state, model);
  check_out("Backward.dx", grads.dx, sizes.x, model.dtype, false,
            sequence_shape(model, i.c_str(), args));
  check_state_out("Backward.dinit", grads.dinit, sizes.state, model);
  check_out("Backward.dweights", grads.dweights, sizes.weights, model.dtype, true,
            "WeightLayout(model).size()");
}

void check_reserve(Reserve reserve, std::size_t needed) {
  if (reserve.data == nullptr) {
    fail("reserve.data is null: pass a buffer of Rnn::reserve_bytes(steps, batch) = " +
         std::to_string(needed) + " bytes");
  }
  if (reinterpret_cast<std::uintptr_t>(reserve.data) % 16 != 0) {
    fail("reserve.data: must be aligned to 16 bytes (memory from malloc, new or cudaMalloc is)");
  }
  if (reserve.bytes < needed) {
    fail("reserve.bytes = " + std::to_string(reserve.bytes) + ": must be at least " +
         "Rnn::reserve_bytes(steps, batch) = " + std::to_string(needed));
  }
}

void check_stream(Engine engine, Stream stream) {
  if (!is_gpu(engine) && stream != nullptr) {
    fail(std::string("stream: the ") + to_string(engine) +
         " engine runs on the calling thread and takes no CUDA stream; pass nullptr");
  }
}

}  // namespace rnnx
