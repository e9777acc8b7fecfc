// Test driver for lib/engine/kernels/tk-sgemm.c: reads "M N K nth" lines on stdin, multiplies random matrices
// with row strides larger than K (as ggml's views have), every thread index run in turn as ggml would run them,
// and prints the worst relative error against a double-precision reference, plus whether any C element
// outside the result was touched.
#include "../../../lib/engine/kernels/tk-sgemm.c"
#include <math.h>
#include <stdio.h>

int main(void) {
  long M, N, K, nth;
  unsigned seed = 1;
  while (scanf("%ld %ld %ld %ld", &M, &N, &K, &nth) == 4) {
    long lda = K + 3, ldb = K + 5, ldc = M + 7;
    float *W = malloc(sizeof(float) * M * lda), *X = malloc(sizeof(float) * N * ldb);
    float *C = malloc(sizeof(float) * (N * ldc + 1));
    for (long i = 0; i < M * lda; i++) W[i] = (float)((seed = seed * 1103515245u + 12345u) >> 8) / 8388608.0f - 1.0f;
    for (long i = 0; i < N * ldb; i++) X[i] = (float)((seed = seed * 1103515245u + 12345u) >> 8) / 8388608.0f - 1.0f;
    for (long i = 0; i < N * ldc + 1; i++) C[i] = 12345.0f;
    for (int ith = 0; ith < nth; ith++) tk_sgemm_f32(M, N, K, W, lda, X, ldb, C, ldc, ith, (int)nth);
    double worst = 0;
    int outside = 0;
    for (long n = 0; n < N; n++)
      for (long m = 0; m < ldc; m++) {
        if (m >= M) {
          outside |= C[n * ldc + m] != 12345.0f;
          continue;
        }
        double ref = 0, mag = 0;
        for (long k = 0; k < K; k++) {
          ref += (double)W[m * lda + k] * X[n * ldb + k];
          mag += fabs((double)W[m * lda + k] * X[n * ldb + k]);
        }
        double err = fabs(ref - C[n * ldc + m]) / (mag + 1e-30);
        if (err > worst) worst = err;
      }
    outside |= C[N * ldc] != 12345.0f;
    printf("%ld %ld %ld %ld %.3e %d\n", M, N, K, nth, worst, outside);
    free(W), free(X), free(C);
  }
  return 0;
}
