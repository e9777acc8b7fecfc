// f32 FMA peak of this CPU (see bench/RESULTS.md). Build: gcc -O2 -march=native -fopenmp bench/fma_peak.c -o /tmp/fma_peak
// Run: /tmp/fma_peak THREADS [ITERATIONS] [1 = AVX-512, 0 = AVX2]
// f32 FMA peak: independent chains of vfmadd on registers (no memory), per thread; GFLOP/s = 2*16*FMAs/s.
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
#define N 16
int main(int argc,char**argv){
  int threads=argc>1?atoi(argv[1]):1; long iters=argc>2?atol(argv[2]):200000000L;
  int w512=argc>3?atoi(argv[3]):1;
  double best=0;
  for(int rep=0;rep<3;rep++){
    double t0=now(); float sink=0;
    #pragma omp parallel num_threads(threads) reduction(+:sink)
    {
      if(w512){
        __m512 a[N]; __m512 b=_mm512_set1_ps(0.999999f), c=_mm512_set1_ps(1e-7f);
        for(int i=0;i<N;i++) a[i]=_mm512_set1_ps((float)i);
        for(long it=0;it<iters;it++){
          #pragma GCC unroll 16
          for(int i=0;i<N;i++) a[i]=_mm512_fmadd_ps(a[i],b,c);
        }
        __m512 s=a[0]; for(int i=1;i<N;i++) s=_mm512_add_ps(s,a[i]); sink+=_mm512_reduce_add_ps(s);
      } else {
        __m256 a[N]; __m256 b=_mm256_set1_ps(0.999999f), c=_mm256_set1_ps(1e-7f);
        for(int i=0;i<N;i++) a[i]=_mm256_set1_ps((float)i);
        for(long it=0;it<iters;it++){
          #pragma GCC unroll 16
          for(int i=0;i<N;i++) a[i]=_mm256_fmadd_ps(a[i],b,c);
        }
        float f[8]; __m256 s=a[0]; for(int i=1;i<N;i++) s=_mm256_add_ps(s,a[i]); _mm256_storeu_ps(f,s); for(int i=0;i<8;i++) sink+=f[i];
      }
    }
    double t=now()-t0; double gf=2.0*(w512?16:8)*N*(double)iters*threads/t/1e9;
    if(gf>best)best=gf; if(sink==12345.f)printf("x");
  }
  printf("{\"threads\":%d,\"width\":%d,\"gflops\":%.1f}\n",threads,w512?512:256,best);
  return 0;
}
