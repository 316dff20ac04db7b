// Training the seed's classifier: an rnnx model over the 28 rows of an image, its last output
// through a dense layer into softmax cross-entropy, Adam on everything. A Trainer keeps the
// parameters and the data on one device (the host, or a GPU with cuBLAS and small kernels).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "mnist_idx.h"
#include "rnnx/rnnx.h"

namespace seed {

struct Hyper {
  int batch = 128;
  double lr = 1e-3;
  std::uint64_t seed = 1;
};

struct Tally {
  double loss = 0;  // sum over samples
  long correct = 0, count = 0;
  void add(const Tally& t) {
    loss += t.loss;
    correct += t.correct;
    count += t.count;
  }
  double mean_loss() const { return count ? loss / double(count) : 0; }
  double accuracy() const { return count ? double(correct) / double(count) : 0; }
};

class Trainer {
 public:
  virtual ~Trainer() = default;
  virtual rnnx::Engine engine() const = 0;
  // The epoch's order of the training images (a permutation of 0..n-1).
  virtual void begin_epoch(const std::vector<int>& order) = 0;
  // One step on order[first, first + n).
  virtual void train_batch(int first, int n) = 0;
  // What the steps since the last call added up to (a GPU reads it back only here).
  virtual Tally take_training_tally() = 0;
  // Loss and accuracy on the test set.
  virtual Tally evaluate() = 0;
};

// Initial parameters as frameworks draw them: every RNN tensor uniform in +-1/sqrt(H) of its
// layer, the dense layer uniform in +-1/sqrt(D), its bias zero.
std::vector<float> initial_rnn_weights(const rnnx::Model& model, std::uint64_t seed);
std::vector<float> initial_dense_weights(int D, std::uint64_t seed);

std::unique_ptr<Trainer> make_cpu_trainer(const rnnx::Model& model, rnnx::Engine engine,
                                          const Dataset& data, const Hyper& hyper);
// A GPU engine: parameters, data and the head on the device. Throws rnnx::Error(not_built)
// without CUDA.
std::unique_ptr<Trainer> make_gpu_trainer(const rnnx::Model& model, rnnx::Engine engine,
                                          const Dataset& data, const Hyper& hyper);

}  // namespace seed
