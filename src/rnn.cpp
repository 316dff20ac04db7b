#include "rnnx/rnn.h"

#include <memory>
#include <string>
#include <utility>

#include "engine.h"
#include "gpu/capture_gate.h"
#include "rnnx/error.h"
#include "validate.h"

namespace rnnx {

// A GPU plan's construction and destruction allocate, free and create handles, which synchronize
// the device: they wait for, and hold off, other threads' graph captures (gpu/capture_gate.h).
Rnn::Rnn(const Model& model, Engine engine, const Options& options)
    : inference_only_(options.inference_only) {
  validate(model);
  const gpu::SyncScope sync;
  impl_ = make_engine(model, engine, options);
}

Rnn::~Rnn() {
  if (impl_ == nullptr) return;  // moved from
  const gpu::SyncScope sync;
  impl_.reset();
}

Rnn::Rnn(Rnn&&) noexcept = default;

Rnn& Rnn::operator=(Rnn&& other) noexcept {
  if (this != &other) {
    std::unique_ptr<EngineImpl> old = std::move(impl_);
    impl_ = std::move(other.impl_);
    inference_only_ = other.inference_only_;
    if (old != nullptr) {
      const gpu::SyncScope sync;
      old.reset();
    }
  }
  return *this;
}

const Model& Rnn::model() const noexcept {
  return impl_->model();
}
Engine Rnn::engine() const noexcept {
  return impl_->kind();
}

namespace {

void check_shape(const char* function, int steps, int batch) {
  if (steps < 1 || steps > max_size || batch < 1 || batch > max_size) {
    throw Error(Status::invalid_argument,
                std::string(function) + "(steps = " + std::to_string(steps) +
                    ", batch = " + std::to_string(batch) + "): both must be in [1, " +
                    std::to_string(max_size) + "]");
  }
}

// Options::inference_only holds the plan to its promise, whichever engine runs it.
void check_training_allowed(const char* function, bool inference_only) {
  if (inference_only) {
    throw Error(Status::invalid_argument,
                std::string(function) +
                    ": this plan was made with Options::inference_only = true (a promise to run "
                    "forward only); make the plan without it to train");
  }
}

}  // namespace

std::size_t Rnn::reserve_bytes(int steps, int batch) const {
  check_shape("reserve_bytes", steps, batch);
  return impl_->reserve_bytes(steps, batch);
}

std::size_t Rnn::workspace_bytes(int steps, int batch) const {
  check_shape("workspace_bytes", steps, batch);
  return impl_->workspace_bytes(steps, batch);
}

void Rnn::prepare(int steps, int batch) {
  check_shape("prepare", steps, batch);
  impl_->prepare(steps, batch);
}

PlanStats Rnn::stats() const {
  return impl_->stats();
}

void Rnn::forward(const Forward& args, Stream stream) {
  check_stream(engine(), stream);
  impl_->check_memory(args, nullptr, nullptr);
  check_forward(model(), args);
  impl_->forward(args, stream);
}

void Rnn::forward_train(const Forward& args, Reserve reserve, Stream stream) {
  check_training_allowed("forward_train", inference_only_);
  check_stream(engine(), stream);
  impl_->check_memory(args, nullptr, reserve.data);
  check_trainable(model());
  check_forward(model(), args);
  check_reserve(reserve, impl_->reserve_bytes(args.steps, args.batch));
  impl_->forward_train(args, reserve, stream);
}

void Rnn::backward(const Forward& args, const Backward& grads, Reserve reserve, Stream stream) {
  check_training_allowed("backward", inference_only_);
  check_stream(engine(), stream);
  impl_->check_memory(args, &grads, reserve.data);
  check_trainable(model());
  check_backward(model(), args, grads);
  check_reserve(reserve, impl_->reserve_bytes(args.steps, args.batch));
  impl_->backward(args, grads, reserve, stream);
}

}  // namespace rnnx
