// The classifier on a GPU engine. The images, labels, parameters and Adam moments live on the
// device; each step is a gather kernel, the rnnx forward_train and backward, three cuBLAS GEMMs
// for the dense layer, one softmax kernel and one Adam kernel, all on one stream. The host reads
// back only the loss tallies, when the driver asks for them.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cmath>
#include <string>

#include "dense.h"
#include "trainer.h"

namespace seed {

namespace {

void check(cudaError_t status, const char* call) {
  if (status != cudaSuccess) {
    throw rnnx::Error(rnnx::Status::backend_error, std::string("seed_classifier: ") + call +
                                                       " failed: " + cudaGetErrorString(status));
  }
}

void check(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw rnnx::Error(rnnx::Status::backend_error, std::string("seed_classifier: ") + call +
                                                       " failed with cuBLAS status " +
                                                       std::to_string(static_cast<int>(status)));
  }
}

#define SEED_CHECK(call) check((call), #call)
#define SEED_CHECK_LAUNCH() check(cudaGetLastError(), "kernel launch")

// cudaMalloc'd array of T, freed with the trainer.
template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(std::size_t n) : n_(n) {
    SEED_CHECK(cudaMalloc(reinterpret_cast<void**>(&p_), n * sizeof(T) + (n == 0)));
  }
  ~DeviceArray() { cudaFree(p_); }  // nothing to do about a failure in a destructor
  DeviceArray(DeviceArray&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  DeviceArray& operator=(DeviceArray&& o) noexcept {
    std::swap(p_, o.p_), std::swap(n_, o.n_);
    return *this;
  }
  T* get() const { return p_; }
  std::size_t size() const { return n_; }
  void upload(const T* host, std::size_t n, cudaStream_t stream) {
    SEED_CHECK(cudaMemcpyAsync(p_, host, n * sizeof(T), cudaMemcpyHostToDevice, stream));
  }
  void zero(cudaStream_t stream) { SEED_CHECK(cudaMemsetAsync(p_, 0, n_ * sizeof(T), stream)); }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

// x[b] = images[indices[b]], labels likewise: the batch's rows, batch-major.
__global__ void gather_batch(const float* images, const int* labels, const int* indices,
                             int per_image, float* x, int* batch_labels) {
  const int b = blockIdx.y;
  const float* src = images + std::size_t(indices[b]) * per_image;
  for (int k = blockIdx.x * blockDim.x + threadIdx.x; k < per_image; k += gridDim.x * blockDim.x)
    x[std::size_t(b) * per_image + k] = src[k];
  if (blockIdx.x == 0 && threadIdx.x == 0) batch_labels[b] = labels[indices[b]];
}

// One block: adds the bias to the logits, writes dlogits = (softmax - onehot) / n and db (the
// column sums of dlogits), and adds the batch's loss sum and hits to tally[0], tally[1].
__global__ void softmax_cross_entropy_batch(const float* logits_no_bias, const float* bias,
                                            const int* labels, int n, float* dlogits, float* db,
                                            double* tally) {
  __shared__ double loss_sum[256];
  __shared__ double hits[256];
  double loss = 0, correct = 0;
  for (int b = threadIdx.x; b < n; b += blockDim.x) {
    float z[kClasses];
    int best = 0;
    for (int k = 0; k < kClasses; ++k) {
      z[k] = logits_no_bias[b * kClasses + k] + bias[k];
      best = z[k] > z[best] ? k : best;
    }
    correct += best == labels[b];
    float sum = 0;
    for (int k = 0; k < kClasses; ++k) sum += expf(z[k] - z[best]);
    loss += double(logf(sum) - (z[labels[b]] - z[best]));
    for (int k = 0; k < kClasses; ++k) {
      const float p = expf(z[k] - z[best]) / sum;
      dlogits[b * kClasses + k] = (p - (k == labels[b] ? 1.0f : 0.0f)) / n;
    }
  }
  loss_sum[threadIdx.x] = loss;
  hits[threadIdx.x] = correct;
  __syncthreads();
  if (threadIdx.x < kClasses) {
    float sum = 0;
    for (int b = 0; b < n; ++b) sum += dlogits[b * kClasses + threadIdx.x];
    db[threadIdx.x] = sum;
  }
  if (threadIdx.x == 0) {
    for (int t = 1; t < blockDim.x; ++t) loss += loss_sum[t], correct += hits[t];
    tally[0] += loss;
    tally[1] += correct;
  }
}

// Adam, with the bias corrections c1 = 1 - beta1^t and c2 = 1 - beta2^t from the host.
__global__ void adam_update(float* params, const float* grads, float* m, float* v, std::size_t n,
                            float lr, float c1, float c2) {
  constexpr float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const float g = grads[i];
    const float mi = beta1 * m[i] + (1 - beta1) * g;
    const float vi = beta2 * v[i] + (1 - beta2) * g * g;
    m[i] = mi, v[i] = vi;
    params[i] -= lr * (mi / c1) / (sqrtf(vi / c2) + eps);
  }
}

constexpr int kThreads = 256;

// The trainer's stream and its cuBLAS handle, released in the reverse order.
struct Stream {
  cudaStream_t get = nullptr;
  Stream() { SEED_CHECK(cudaStreamCreateWithFlags(&get, cudaStreamNonBlocking)); }
  ~Stream() { cudaStreamDestroy(get); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
};

struct Blas {
  cublasHandle_t get = nullptr;
  explicit Blas(cudaStream_t stream) {
    SEED_CHECK(cublasCreate(&get));
    // ~Blas does not run when the constructor throws: release the handle here.
    try {
      SEED_CHECK(cublasSetStream(get, stream));
      // Plain float32 GEMMs, as on the CPU (no TF32), so both devices train the same model.
      SEED_CHECK(cublasSetMathMode(get, CUBLAS_PEDANTIC_MATH));
    } catch (...) {
      cublasDestroy(get);
      throw;
    }
  }
  ~Blas() { cublasDestroy(get); }
  Blas(const Blas&) = delete;
  Blas& operator=(const Blas&) = delete;
};

class GpuTrainer final : public Trainer {
 public:
  GpuTrainer(const rnnx::Model& model, rnnx::Engine engine, const Dataset& data, const Hyper& hyper)
      : rnn_(model, engine),
        hyper_(hyper),
        T_(data.train_images.rows),
        I_(data.train_images.cols),
        D_(rnnx::output_size(model)),
        train_count_(data.train_images.count),
        test_count_(data.test_images.count),
        stream_owner_(),
        blas_owner_(stream_owner_.get),
        stream_(stream_owner_.get),
        blas_(blas_owner_.get) {
    upload(train_images_, data.train_images.pixels);
    upload(train_labels_, data.train_labels);
    upload(test_images_, data.test_images.pixels);
    upload(test_labels_, data.test_labels);
    std::vector<int> all(test_count_);
    for (int k = 0; k < test_count_; ++k) all[k] = k;
    upload(test_order_, all);
    train_order_ = DeviceArray<int>(train_count_);

    upload(w_, initial_rnn_weights(model, hyper.seed));
    upload(dense_, initial_dense_weights(D_, hyper.seed));
    for (auto* a : {&dw_, &mw_, &vw_}) *a = zeroed(w_.size());
    for (auto* a : {&ddense_, &mdense_, &vdense_}) *a = zeroed(dense_.size());

    const std::size_t B = hyper.batch;
    x_ = DeviceArray<float>(B * T_ * I_);
    y_ = DeviceArray<float>(B * T_ * D_);
    dy_ = DeviceArray<float>(B * T_ * D_);
    logits_ = DeviceArray<float>(B * kClasses);
    dlogits_ = DeviceArray<float>(B * kClasses);
    labels_ = DeviceArray<int>(B);
    eval_db_ = DeviceArray<float>(kClasses);
    train_tally_ = zeroed_tally();
    eval_tally_ = zeroed_tally();
    reserve_ = DeviceArray<unsigned char>(rnn_.reserve_bytes(T_, hyper.batch));
    SEED_CHECK(cudaStreamSynchronize(stream_));
  }

  rnnx::Engine engine() const override { return rnn_.engine(); }

  void begin_epoch(const std::vector<int>& order) override {
    train_order_.upload(order.data(), order.size(), stream_);
  }

  void train_batch(int first, int n) override {
    gather(train_images_, train_labels_, train_order_.get() + first, n);
    rnnx::Forward f = forward_args(n);
    const rnnx::Reserve reserve{reserve_.get(), reserve_.size()};
    rnn_.forward_train(f, reserve, stream_);
    float* W = dense_.get();
    float* dW = ddense_.get();
    head(n, W, dlogits_.get(), dW + kClasses * D_, train_tally_.get());
    // The loss sees only the last step: dy is zero but for y[:, T-1, :].
    SEED_CHECK(cudaMemsetAsync(dy_.get(), 0, sizeof(float) * n * T_ * D_, stream_));
    const float one = 1, zero = 0;
    const int ld = T_ * D_;
    // dW (row-major [10][D], column-major D x 10) = feat^T dlogits, over the batch.
    SEED_CHECK(cublasSgemm(blas_, CUBLAS_OP_N, CUBLAS_OP_T, D_, kClasses, n, &one, last_step(y_),
                           ld, dlogits_.get(), kClasses, &zero, dW, D_));
    // dfeat (column-major D x n, ld T*D, inside dy) = W^T-as-stored times dlogits.
    SEED_CHECK(cublasSgemm(blas_, CUBLAS_OP_N, CUBLAS_OP_N, D_, n, kClasses, &one, W, D_,
                           dlogits_.get(), kClasses, &zero, last_step(dy_), ld));
    rnnx::Backward b;
    b.dy = rnnx::ConstBuffer(dy_.get(), std::size_t(n) * T_ * D_);
    b.dweights = rnnx::Buffer(dw_.get(), dw_.size());
    rnn_.backward(f, b, reserve, stream_);
    ++step_;
    trained_since_tally_ += n;
    adam(w_, dw_, mw_, vw_);
    adam(dense_, ddense_, mdense_, vdense_);
  }

  Tally take_training_tally() override {
    Tally t = read_tally(train_tally_, trained_since_tally_);
    trained_since_tally_ = 0;
    SEED_CHECK(cudaMemsetAsync(train_tally_.get(), 0, 2 * sizeof(double), stream_));
    return t;
  }

  Tally evaluate() override {
    SEED_CHECK(cudaMemsetAsync(eval_tally_.get(), 0, 2 * sizeof(double), stream_));
    for (int first = 0; first < test_count_; first += hyper_.batch) {
      const int n = std::min(hyper_.batch, test_count_ - first);
      gather(test_images_, test_labels_, test_order_.get() + first, n);
      rnn_.forward(forward_args(n), stream_);
      // dlogits and db are written and not used: the kernel is the training one.
      head(n, dense_.get(), dlogits_.get(), eval_db_.get(), eval_tally_.get());
    }
    return read_tally(eval_tally_, test_count_);
  }

 private:
  template <class T>
  void upload(DeviceArray<T>& to, const std::vector<T>& from) {
    to = DeviceArray<T>(from.size());
    to.upload(from.data(), from.size(), stream_);
  }
  DeviceArray<float> zeroed(std::size_t n) {
    DeviceArray<float> a(n);
    a.zero(stream_);
    return a;
  }
  DeviceArray<double> zeroed_tally() {
    DeviceArray<double> a(2);
    a.zero(stream_);
    return a;
  }

  float* last_step(const DeviceArray<float>& seq) const {
    return seq.get() + std::size_t(T_ - 1) * D_;
  }

  void gather(const DeviceArray<float>& images, const DeviceArray<int>& labels, const int* indices,
              int n) {
    const int per = T_ * I_;
    const dim3 grid((per + kThreads - 1) / kThreads, n);
    gather_batch<<<grid, kThreads, 0, stream_>>>(images.get(), labels.get(), indices, per, x_.get(),
                                                 labels_.get());
    SEED_CHECK_LAUNCH();
  }

  // logits = feat W^T (the bias is added in the softmax kernel), then softmax cross-entropy.
  void head(int n, const float* W, float* dlogits, float* db, double* tally) {
    const float one = 1, zero = 0;
    // Column-major: logits^T (10 x n) = W (stored D x 10)^T feat^T (D x n, ld T*D).
    SEED_CHECK(cublasSgemm(blas_, CUBLAS_OP_T, CUBLAS_OP_N, kClasses, n, D_, &one, W, D_,
                           last_step(y_), T_ * D_, &zero, logits_.get(), kClasses));
    softmax_cross_entropy_batch<<<1, kThreads, 0, stream_>>>(logits_.get(), W + kClasses * D_,
                                                             labels_.get(), n, dlogits, db, tally);
    SEED_CHECK_LAUNCH();
  }

  void adam(DeviceArray<float>& p, DeviceArray<float>& g, DeviceArray<float>& m,
            DeviceArray<float>& v) {
    const float c1 = float(1 - std::pow(0.9, double(step_)));
    const float c2 = float(1 - std::pow(0.999, double(step_)));
    const int blocks = int(std::min<std::size_t>((p.size() + kThreads - 1) / kThreads, 1024));
    adam_update<<<blocks, kThreads, 0, stream_>>>(p.get(), g.get(), m.get(), v.get(), p.size(),
                                                  float(hyper_.lr), c1, c2);
    SEED_CHECK_LAUNCH();
  }

  rnnx::Forward forward_args(int n) {
    rnnx::Forward f;
    f.steps = T_;
    f.batch = n;
    f.x = rnnx::ConstBuffer(x_.get(), std::size_t(n) * T_ * I_);
    f.weights = rnnx::ConstBuffer(w_.get(), w_.size());
    f.y = rnnx::Buffer(y_.get(), std::size_t(n) * T_ * D_);
    return f;
  }

  Tally read_tally(const DeviceArray<double>& tally, long count) {
    double host[2];
    SEED_CHECK(cudaMemcpyAsync(host, tally.get(), sizeof host, cudaMemcpyDeviceToHost, stream_));
    SEED_CHECK(cudaStreamSynchronize(stream_));
    Tally t;
    t.loss = host[0];
    t.correct = std::lround(host[1]);
    t.count = count;
    return t;
  }

  rnnx::Rnn rnn_;
  Hyper hyper_;
  int T_, I_, D_, train_count_, test_count_;
  long step_ = 0, trained_since_tally_ = 0;
  Stream stream_owner_;
  Blas blas_owner_;
  cudaStream_t stream_;
  cublasHandle_t blas_;
  DeviceArray<float> train_images_, test_images_;
  DeviceArray<int> train_labels_, test_labels_, train_order_, test_order_, labels_;
  DeviceArray<float> w_, dw_, mw_, vw_, dense_, ddense_, mdense_, vdense_;
  DeviceArray<float> x_, y_, dy_, logits_, dlogits_, eval_db_;
  DeviceArray<double> train_tally_, eval_tally_;
  DeviceArray<unsigned char> reserve_;
};

}  // namespace

std::unique_ptr<Trainer> make_gpu_trainer(const rnnx::Model& model, rnnx::Engine engine,
                                          const Dataset& data, const Hyper& hyper) {
  return std::make_unique<GpuTrainer>(model, engine, data, hyper);
}

}  // namespace seed
