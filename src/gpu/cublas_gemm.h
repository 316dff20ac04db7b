// Row-major GEMM on cuBLAS (which is column-major), status checked.
#pragma once

#include <cublas_v2.h>

#include "rnnx/model.h"

namespace rnnx::gpu {

// C[M, N] = alpha * op(A) * op(B) + beta * C, all row-major. Throws Error(backend_error).
void gemm(cublasHandle_t handle, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
          const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc);
void gemm(cublasHandle_t handle, bool trans_a, bool trans_b, int M, int N, int K, double alpha,
          const double* A, int lda, const double* B, int ldb, double beta, double* C, int ldc);

// The same with A and B in bfloat16 or float16 (`inputs`), C in float32, float32 accumulation
// (cublasGemmEx, CUBLAS_COMPUTE_32F): tensor cores where cuBLAS picks them.
void gemm_16bit_inputs(cublasHandle_t handle, bool trans_a, bool trans_b, int M, int N, int K,
                       DType inputs, const void* A, int lda, const void* B, int ldb, float* C,
                       int ldc);

// Throws Error(backend_error) naming the call unless status is CUBLAS_STATUS_SUCCESS.
void check_cublas(cublasStatus_t status, const char* call);

}  // namespace rnnx::gpu
