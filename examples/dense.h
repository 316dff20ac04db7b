// The classifier's head on the host: a dense layer over the RNN's last output, softmax
// cross-entropy, and Adam. Plain loops (10 classes: nothing here is worth a BLAS call).
// Templates so that the tests can check the gradients in float64.
#pragma once

#include <cmath>
#include <cstddef>

namespace seed {

constexpr int kClasses = 10;

// logits[b][k] = bias[k] + sum_d W[k][d] feat[b * feat_ld + d]
template <class T>
void dense_forward(const T* feat, int feat_ld, int B, int D, const T* W, const T* bias, T* logits) {
  for (int b = 0; b < B; ++b)
    for (int k = 0; k < kClasses; ++k) {
      T sum = bias[k];
      for (int d = 0; d < D; ++d) sum += W[k * D + d] * feat[std::size_t(b) * feat_ld + d];
      logits[b * kClasses + k] = sum;
    }
}

// Mean softmax cross-entropy over the batch; dlogits = (softmax - onehot) / B. Returns the sum of
// the per-sample losses; *correct counts the arg-max hits.
template <class T>
double softmax_cross_entropy(const T* logits, const int* labels, int B, T* dlogits, int* correct) {
  double loss = 0;
  *correct = 0;
  for (int b = 0; b < B; ++b) {
    const T* z = logits + b * kClasses;
    int best = 0;
    for (int k = 1; k < kClasses; ++k) best = z[k] > z[best] ? k : best;
    *correct += best == labels[b];
    double sum = 0;
    for (int k = 0; k < kClasses; ++k) sum += std::exp(double(z[k] - z[best]));
    loss += std::log(sum) - double(z[labels[b]] - z[best]);
    for (int k = 0; k < kClasses; ++k) {
      const double p = std::exp(double(z[k] - z[best])) / sum;
      dlogits[b * kClasses + k] = T((p - (k == labels[b] ? 1.0 : 0.0)) / B);
    }
  }
  return loss;
}

// dW = dlogits^T feat, db = column sums of dlogits (both overwritten), and dfeat (rows at
// dfeat + b * dfeat_ld) = dlogits W.
template <class T>
void dense_backward(const T* feat, int feat_ld, const T* dlogits, int B, int D, const T* W, T* dW,
                    T* db, T* dfeat, int dfeat_ld) {
  for (int k = 0; k < kClasses; ++k) {
    db[k] = 0;
    for (int d = 0; d < D; ++d) dW[k * D + d] = 0;
  }
  for (int b = 0; b < B; ++b) {
    for (int k = 0; k < kClasses; ++k) {
      const T g = dlogits[b * kClasses + k];
      db[k] += g;
      for (int d = 0; d < D; ++d) dW[k * D + d] += g * feat[std::size_t(b) * feat_ld + d];
    }
    for (int d = 0; d < D; ++d) {
      T sum = 0;
      for (int k = 0; k < kClasses; ++k) sum += dlogits[b * kClasses + k] * W[k * D + d];
      dfeat[std::size_t(b) * dfeat_ld + d] = sum;
    }
  }
}

// One Adam step (Kingma and Ba) on n parameters; t counts steps from 1.
template <class T>
void adam_step(T* params, const T* grads, T* m, T* v, std::size_t n, double lr, long t,
               double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8) {
  const double c1 = 1 - std::pow(beta1, double(t)), c2 = 1 - std::pow(beta2, double(t));
  for (std::size_t i = 0; i < n; ++i) {
    m[i] = T(beta1 * m[i] + (1 - beta1) * grads[i]);
    v[i] = T(beta2 * v[i] + (1 - beta2) * double(grads[i]) * grads[i]);
    params[i] -= T(lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + eps));
  }
}

}  // namespace seed
