#include "gpu/cublas_gemm.h"

#include <string>

#include "rnnx/error.h"

namespace rnnx::gpu {

void check_cublas(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw Error(Status::backend_error, std::string(call) +
                                           " failed: " + cublasGetStatusName(status) + " (" +
                                           cublasGetStatusString(status) + ")");
  }
}

// A row-major matrix is its transpose in column-major order, so C = op(A) op(B) row-major is
// C^T = op(B)^T op(A)^T column-major: swap the operands and their dimensions.
void gemm(cublasHandle_t handle, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
          const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  check_cublas(
      cublasSgemm(handle, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                  N, M, K, &alpha, B, ldb, A, lda, &beta, C, ldc),
      "cublasSgemm");
}

void gemm(cublasHandle_t handle, bool trans_a, bool trans_b, int M, int N, int K, double alpha,
          const double* A, int lda, const double* B, int ldb, double beta, double* C, int ldc) {
  check_cublas(
      cublasDgemm(handle, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                  N, M, K, &alpha, B, ldb, A, lda, &beta, C, ldc),
      "cublasDgemm");
}

void gemm_16bit_inputs(cublasHandle_t handle, bool trans_a, bool trans_b, int M, int N, int K,
                       DType inputs, const void* A, int lda, const void* B, int ldb, float* C,
                       int ldc) {
  const cudaDataType_t type = inputs == DType::bf16 ? CUDA_R_16BF : CUDA_R_16F;
  const float alpha = 1.0f, beta = 0.0f;
  check_cublas(
      cublasGemmEx(handle, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                   N, M, K, &alpha, B, type, ldb, A, type, lda, &beta, C, CUDA_R_32F, ldc,
                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      "cublasGemmEx");
}

}  // namespace rnnx::gpu
