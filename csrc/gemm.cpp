// gemm.cpp — first, correct slice: row-parallel blocked GEMM.
// (Issue "GEMM at the speed of OpenBLAS" replaces the inner kernel with a packed
// BLIS-style micro-kernel; the interface in gemm.h stays.)
#include "gemm.h"

#include <algorithm>
#include <vector>

#include "parallel.h"

namespace ember {

namespace {

template <typename T>
void gemm_rows(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
               int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  const double work = double(M) * N * K;
  parallel_for(M, work > 64.0 * 64 * 64 ? 2 : (int64_t(1) << 62), [&](int64_t i0, int64_t i1) {
    std::vector<T> acc(N), bcol(transB ? K : 0);
    for (int64_t i = i0; i < i1; ++i) {
      std::fill(acc.begin(), acc.end(), T(0));
      for (int64_t p = 0; p < K; ++p) {
        const T a = transA ? A[p * lda + i] : A[i * lda + p];
        if (!transB) {
          const T* b = B + p * ldb;
          for (int64_t j = 0; j < N; ++j) acc[j] += a * b[j];
        } else {
          for (int64_t j = 0; j < N; ++j) acc[j] += a * B[j * ldb + p];
        }
      }
      T* c = C + i * ldc;
      if (beta == T(0))
        for (int64_t j = 0; j < N; ++j) c[j] = alpha * acc[j];
      else
        for (int64_t j = 0; j < N; ++j) c[j] = alpha * acc[j] + beta * c[j];
    }
  });
}

}  // namespace

void sgemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_rows<float>(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void dgemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
           int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  gemm_rows<double>(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sgemm_batched(bool tA, bool tB, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, int64_t sA, const float* B, int64_t ldb,
                   int64_t sB, float beta, float* C, int64_t ldc, int64_t sC) {
  for (int64_t b = 0; b < batch; ++b)
    sgemm(tA, tB, M, N, K, alpha, A + b * sA, lda, B + b * sB, ldb, beta, C + b * sC, ldc);
}
void dgemm_batched(bool tA, bool tB, int64_t batch, int64_t M, int64_t N, int64_t K, double alpha,
                   const double* A, int64_t lda, int64_t sA, const double* B, int64_t ldb,
                   int64_t sB, double beta, double* C, int64_t ldc, int64_t sC) {
  for (int64_t b = 0; b < batch; ++b)
    dgemm(tA, tB, M, N, K, alpha, A + b * sA, lda, B + b * sB, ldb, beta, C + b * sC, ldc);
}

}  // namespace ember
