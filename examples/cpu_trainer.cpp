#include <algorithm>
#include <cmath>
#include <random>

#include "dense.h"
#include "trainer.h"

namespace seed {

std::vector<float> initial_rnn_weights(const rnnx::Model& model, std::uint64_t seed) {
  const rnnx::WeightLayout wl(model);
  std::vector<float> w(wl.size());
  std::mt19937_64 rng(seed);
  const int L = static_cast<int>(model.layers.size());
  for (int l = 0; l < L; ++l) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(model.layers[l].hidden));
    std::uniform_real_distribution<float> u(-scale, scale);
    const std::size_t begin = wl.offset(l, rnnx::Dir::fw, rnnx::Param::Wx);
    const std::size_t end =
        l + 1 < L ? wl.offset(l + 1, rnnx::Dir::fw, rnnx::Param::Wx) : wl.size();
    for (std::size_t k = begin; k < end; ++k) w[k] = u(rng);
  }
  return w;
}

std::vector<float> initial_dense_weights(int D, std::uint64_t seed) {
  std::vector<float> w(std::size_t(kClasses) * D + kClasses, 0.0f);  // W, then the bias
  std::mt19937_64 rng(seed * 31 + 7);
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  std::uniform_real_distribution<float> u(-scale, scale);
  for (std::size_t k = 0; k < std::size_t(kClasses) * D; ++k) w[k] = u(rng);
  return w;
}

namespace {

class CpuTrainer final : public Trainer {
 public:
  CpuTrainer(const rnnx::Model& model, rnnx::Engine engine, const Dataset& data, const Hyper& hyper)
      : model_(model),
        rnn_(model, engine),
        data_(data),
        hyper_(hyper),
        T_(data.train_images.rows),
        I_(data.train_images.cols),
        D_(rnnx::output_size(model)) {
    w_ = initial_rnn_weights(model, hyper.seed);
    dense_ = initial_dense_weights(D_, hyper.seed);
    for (auto* v : {&dw_, &mw_, &vw_}) v->assign(w_.size(), 0.0f);
    for (auto* v : {&ddense_, &mdense_, &vdense_}) v->assign(dense_.size(), 0.0f);
    const std::size_t B = hyper.batch;
    x_.resize(B * T_ * I_);
    y_.resize(B * T_ * D_);
    dy_.assign(B * T_ * D_, 0.0f);  // only the last step's rows are ever written
    logits_.resize(B * kClasses);
    dlogits_.resize(B * kClasses);
    labels_.resize(B);
    reserve_.resize(rnn_.reserve_bytes(T_, hyper.batch));
    // The engine's buffers and oneDNN's first-call set-up now, not in the first timed batch.
    rnn_.prepare(T_, hyper.batch);
  }

  rnnx::Engine engine() const override { return rnn_.engine(); }

  void begin_epoch(const std::vector<int>& order) override { order_ = order; }

  void train_batch(int first, int n) override {
    gather(data_.train_images, data_.train_labels, order_.data() + first, n);
    rnnx::Forward f = forward_args(n);
    rnn_.forward_train(f, {reserve_.data(), reserve_.size()});
    tally_.add(head(n));
    const int ld = T_ * D_;
    const float* feat = y_.data() + std::size_t(T_ - 1) * D_;
    const float* W = dense_.data();
    dense_backward(feat, ld, dlogits_.data(), n, D_, W, ddense_.data(),
                   ddense_.data() + kClasses * D_, dy_.data() + std::size_t(T_ - 1) * D_, ld);
    rnnx::Backward b;
    b.dy = rnnx::ConstBuffer(dy_.data(), std::size_t(n) * T_ * D_);
    b.dweights = dw_;
    rnn_.backward(f, b, {reserve_.data(), reserve_.size()});
    ++step_;
    adam_step(w_.data(), dw_.data(), mw_.data(), vw_.data(), w_.size(), hyper_.lr, step_);
    adam_step(dense_.data(), ddense_.data(), mdense_.data(), vdense_.data(), dense_.size(),
              hyper_.lr, step_);
  }

  Tally take_training_tally() override {
    const Tally t = tally_;
    tally_ = Tally{};
    return t;
  }

  Tally evaluate() override {
    Tally t;
    const Images& images = data_.test_images;
    std::vector<int> all(images.count);
    for (int k = 0; k < images.count; ++k) all[k] = k;
    for (int first = 0; first < images.count; first += hyper_.batch) {
      const int n = std::min(hyper_.batch, images.count - first);
      gather(images, data_.test_labels, all.data() + first, n);
      rnn_.forward(forward_args(n));
      t.add(head(n));
    }
    return t;
  }

 private:
  // The images (batch-major [n][T][I]: row r of the image is step r) and labels of `indices`.
  void gather(const Images& images, const std::vector<int>& labels, const int* indices, int n) {
    const std::size_t per = std::size_t(T_) * I_;
    for (int b = 0; b < n; ++b) {
      std::copy_n(images.pixels.data() + per * indices[b], per, x_.data() + per * b);
      labels_[b] = labels[indices[b]];
    }
  }

  // The dense layer on the last step's outputs (sample b's is y[b][T-1][:], rows T*D apart),
  // then softmax cross-entropy: logits and dlogits written, the batch's loss and hits returned.
  Tally head(int n) {
    const float* W = dense_.data();
    dense_forward(y_.data() + std::size_t(T_ - 1) * D_, T_ * D_, n, D_, W, W + kClasses * D_,
                  logits_.data());
    Tally t;
    int correct = 0;
    t.loss = softmax_cross_entropy(logits_.data(), labels_.data(), n, dlogits_.data(), &correct);
    t.correct = correct;
    t.count = n;
    return t;
  }

  rnnx::Forward forward_args(int n) {
    rnnx::Forward f;
    f.steps = T_;
    f.batch = n;
    f.x = rnnx::ConstBuffer(x_.data(), std::size_t(n) * T_ * I_);
    f.weights = w_;
    f.y = rnnx::Buffer(y_.data(), std::size_t(n) * T_ * D_);
    return f;
  }

  rnnx::Model model_;
  rnnx::Rnn rnn_;
  const Dataset& data_;
  Hyper hyper_;
  int T_, I_, D_;
  long step_ = 0;
  std::vector<float> w_, dw_, mw_, vw_, dense_, ddense_, mdense_, vdense_;
  std::vector<float> x_, y_, dy_, logits_, dlogits_;
  std::vector<int> labels_, order_;
  std::vector<unsigned char> reserve_;
  Tally tally_;
};

}  // namespace

std::unique_ptr<Trainer> make_cpu_trainer(const rnnx::Model& model, rnnx::Engine engine,
                                          const Dataset& data, const Hyper& hyper) {
  return std::make_unique<CpuTrainer>(model, engine, data, hyper);
}

}  // namespace seed
