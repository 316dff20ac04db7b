// The interface every engine implements behind rnnx::Rnn. Rnn validates each call's arguments
// (validate.h) before it reaches an engine, so engines may rely on sizes, dtypes and lengths.
#pragma once

#include <cstddef>
#include <memory>

#include "rnnx/rnn.h"

namespace rnnx {

class EngineImpl {
 public:
  explicit EngineImpl(const Model& model) : model_(model) {}
  virtual ~EngineImpl() = default;
  EngineImpl(const EngineImpl&) = delete;
  EngineImpl& operator=(const EngineImpl&) = delete;

  virtual Engine kind() const noexcept = 0;
  virtual std::size_t reserve_bytes(int steps, int batch) const = 0;
  virtual std::size_t workspace_bytes(int /*steps*/, int /*batch*/) const { return 0; }
  virtual void prepare(int /*steps*/, int /*batch*/) {}
  virtual PlanStats stats() const { return {}; }
  // Where the runtime can tell: pointers in the wrong memory for this engine. Called before the
  // arguments' sizes are checked (which reads the lengths on the host).
  virtual void check_memory(const Forward& /*args*/, const Backward* /*grads*/,
                            const void* /*reserve*/) const {}
  virtual void forward(const Forward& args, Stream stream) = 0;
  virtual void forward_train(const Forward& args, Reserve reserve, Stream stream) = 0;
  virtual void backward(const Forward& args, const Backward& grads, Reserve reserve,
                        Stream stream) = 0;

  const Model& model() const noexcept { return model_; }

 private:
  Model model_;
};

// Builds the engine, or throws the Error that says why it cannot (dispatch.cpp).
std::unique_ptr<EngineImpl> make_engine(const Model& model, Engine engine, const Options& options);

}  // namespace rnnx
