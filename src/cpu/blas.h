// The GEMMs and thread control of the cpu engine. float32 runs on oneDNN's sgemm (OpenBLAS's
// below 64^3 multiply-adds, see blas.cpp), float64 on OpenBLAS's dgemm, since oneDNN has none.
#pragma once

#include <cstddef>

namespace rnnx::cpu {

// C[M, N] = alpha * op(A) * op(B) + beta * C, row-major; op(X) = X or X^T.
void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc);
void gemm(bool trans_a, bool trans_b, int M, int N, int K, double alpha, const double* A, int lda,
          const double* B, int ldb, double beta, double* C, int ldc);

// Whether C = A^T B (M x N over K rows, as the weight gradients are) is faster made as its
// transpose C^T = B^T A and transposed back, on this CPU and shape (blas.cpp says where this was
// measured).
bool transposed_product_is_faster(int M, int N, int K);

// C = alpha A^T B + beta C made that way, C^T in `transposed` [N][M] first.
template <class T>
void gemm_through_transpose(int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb,
                            T beta, T* C, int ldc, T* transposed) {
  gemm(true, false, N, M, K, alpha, B, ldb, A, lda, T(0), transposed, M);
  for (int i = 0; i < M; ++i) {
    T* row = C + std::size_t(i) * ldc;
    for (int j = 0; j < N; ++j) {
      const T product = transposed[std::size_t(j) * M + i];
      row[j] = beta == T(0) ? product : beta * row[j] + product;
    }
  }
}

// The thread count a plan asked for: Options.cpu.threads, else RNNX_NUM_THREADS, else all cores.
int resolve_threads(int requested);

// For the duration of one call, makes oneDNN (OpenMP) and OpenBLAS use `threads` threads, and
// gives the calling thread's OpenMP setting back afterwards.
class ThreadScope {
 public:
  explicit ThreadScope(int threads);
  ~ThreadScope();
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int previous_;
};

}  // namespace rnnx::cpu
