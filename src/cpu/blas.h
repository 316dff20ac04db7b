// The GEMMs and thread control of the cpu engine. float32 runs on oneDNN's sgemm (OpenBLAS's
// below 64^3 multiply-adds, see blas.cpp), float64 on OpenBLAS's dgemm, since oneDNN has none.
#pragma once

namespace rnnx::cpu {

// C[M, N] = alpha * op(A) * op(B) + beta * C, row-major; op(X) = X or X^T.
void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc);
void gemm(bool trans_a, bool trans_b, int M, int N, int K, double alpha, const double* A, int lda,
          const double* B, int ldb, double beta, double* C, int ldc);

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
