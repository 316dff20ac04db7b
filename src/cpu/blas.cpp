#include "cpu/blas.h"

#include <cblas.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "cpu/gates16.h"
#include "rnnx/error.h"

namespace rnnx::cpu {

namespace {

// Below about 64^3 multiply-adds OpenBLAS's sgemm is as fast as oneDNN's or faster (measured on
// the 2-core build machine, 2 threads, 2026-12-06: M,N,K = 112,64,16: 2.1 us against 2.7;
// 32,128,32: 2.3 against 2.7; 64,256,64: 31.5 against 19.4), and it costs nothing the first time,
// where oneDNN's first sgemm in a process takes about 45 ms (its JIT and dispatch set-up). So a
// small model never starts oneDNN at all.
constexpr double kSmallSgemm = 64.0 * 64 * 64;

}  // namespace

void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc) {
  if (double(M) * N * K <= kSmallSgemm) {
    // As below: shapes are checked before they get here; cblas reports through xerbla only.
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const dnnl_status_t status = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha,
                                          A, lda, B, ldb, beta, C, ldc);
  if (status != dnnl_success) {
    throw Error(Status::backend_error, "dnnl_sgemm(M=" + std::to_string(M) +
                                           ", N=" + std::to_string(N) + ", K=" + std::to_string(K) +
                                           ") failed with dnnl status " + std::to_string(status));
  }
}

void gemm(bool trans_a, bool trans_b, int M, int N, int K, double alpha, const double* A, int lda,
          const double* B, int ldb, double beta, double* C, int ldc) {
  // cblas_dgemm reports bad arguments through xerbla, not a status; rnnx's shapes are checked
  // before they get here.
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// oneDNN 2.6's sgemm on an AVX2 CPU (AMD EPYC, Zen 3, 2 threads, 2026-12-07), A^T B against
// B^T A transposed into C, medians of 15: M,N,K = 512,128,3584 (the seed LSTM's dWh) 4.82-5.84 ms
// against 3.99-5.15; 512,28,3584 (its dWx) 1.22-1.50 against 0.88-1.05; 384,28,3584 0.73-0.96
// against 0.65-0.82; but 384,128,3584 2.89-3.81 against 2.88-3.78 and 2048,512,6400 93 against
// 96. Not measured on AVX-512 CPUs, which keep A^T B.
bool transposed_product_is_faster(int M, int N, int K) {
  return vector_isa() == VectorIsa::avx2 && M >= 4 * N && std::int64_t(M) * N <= 65536 && K >= 1024;
}

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  if (const char* env = std::getenv("RNNX_NUM_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end == env || *end != '\0' || n < 1 || n > 4096) {
      throw Error(Status::invalid_argument,
                  std::string("RNNX_NUM_THREADS = '") + env + "': must be an integer in [1, 4096]");
    }
    return static_cast<int>(n);
  }
  return omp_get_num_procs();
}

ThreadScope::ThreadScope(int threads) : previous_(omp_get_max_threads()) {
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
}

ThreadScope::~ThreadScope() {
  omp_set_num_threads(previous_);
}

}  // namespace rnnx::cpu
