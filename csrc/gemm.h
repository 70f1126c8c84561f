// gemm.h — general matrix multiply, row-major.
//
//   C[M, N] = alpha * op(A)[M, K] @ op(B)[K, N] + beta * C[M, N]
//
// Row-major storage with leading dimensions (row strides, in elements):
//   transA == false: A is M x K, element (i, p) at A[i * lda + p]
//   transA == true : A is K x M, element (i, p) of op(A) at A[p * lda + i]
//   (the same for B with K x N / N x K), C[i * ldc + j].
// beta == 0 overwrites C without reading it (NaN in C does not propagate).
// Each C element is summed over p in one fixed order whatever the thread count.
#pragma once
#include <cstdint>

namespace ember {

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc);
void dgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, double alpha,
           const double* A, int64_t lda, const double* B, int64_t ldb, double beta, double* C,
           int64_t ldc);

// Strided batch: for b in [0, batch): C + b*strideC = alpha * op(A + b*strideA) @ op(B + b*strideB) + beta * C.
// strideA or strideB may be 0 (broadcast one matrix over the batch).
void sgemm_batched(bool transA, bool transB, int64_t batch, int64_t M, int64_t N, int64_t K,
                   float alpha, const float* A, int64_t lda, int64_t strideA, const float* B,
                   int64_t ldb, int64_t strideB, float beta, float* C, int64_t ldc,
                   int64_t strideC);
void dgemm_batched(bool transA, bool transB, int64_t batch, int64_t M, int64_t N, int64_t K,
                   double alpha, const double* A, int64_t lda, int64_t strideA, const double* B,
                   int64_t ldb, int64_t strideB, double beta, double* C, int64_t ldc,
                   int64_t strideC);

// The micro-tile and cache blocking the current kernel path uses for a product with N
// columns (the AVX-512 and AVX2 tiles differ by N); for benchmarks and tests.
struct GemmPlan {
  int64_t mr, nr, mc, kc, nc;
};
GemmPlan gemm_plan(bool is_double, int64_t N);

// The plain triple loop: the test oracle and the reference for the optimised kernels.
template <typename T>
void gemm_naive(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      T acc = 0;
      for (int64_t p = 0; p < K; ++p)
        acc += (transA ? A[p * lda + i] : A[i * lda + p]) * (transB ? B[j * ldb + p] : B[p * ldb + j]);
      C[i * ldc + j] = beta == T(0) ? alpha * acc : alpha * acc + beta * C[i * ldc + j];
    }
}

}  // namespace ember
