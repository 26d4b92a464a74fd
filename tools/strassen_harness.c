// Strassen vs classical packed GEMM (kb_gemm.c) in one process, one thread: max error of each
// against a double-precision reference, then the best of REPS timings of the classical packed
// product, Strassen's (kb_gemm_strassen on the two row halves) and the plain path from the
// Strassen packs (kb_gemm_strassen_plain). The README's session-13 harness numbers come from it:
//   clang -O3 -mavx2 -mfma -fno-math-errno -ffp-contract=fast -o /tmp/strassen_harness \
//     tools/strassen_harness.c Sources/CKBKernels/kb_gemm.c -ISources/CKBKernels/include -lm
//   /tmp/strassen_harness M N K [REPS [T]]  (e.g. 4096 3072 768 7; T = 1 packs W from its transpose)
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <time.h>
#include <string.h>
#include "kb_kernels.h"
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static float* rnd(size_t n){float* p=aligned_alloc(64,((n*4+63)/64)*64);for(size_t i=0;i<n;i++)p[i]=(float)rand()/(float)RAND_MAX-0.5f;return p;}
int main(int argc,char**argv){
  int m=atoi(argv[1]),n=atoi(argv[2]),k=atoi(argv[3]),reps=argc>4?atoi(argv[4]):3, tr=argc>5?atoi(argv[5]):0;
  float*x=rnd((size_t)m*k),*w=rnd((size_t)n*k),*c0=rnd((size_t)m*n),*c1=rnd((size_t)m*n),*c2=rnd((size_t)m*n);
  float* wt=malloc(sizeof(float)*n*k); for(int i=0;i<n;i++)for(int j=0;j<k;j++)wt[(size_t)j*n+i]=w[(size_t)i*k+j];
  float*pk=malloc(4*kb_packed_floats(n,k)); kb_pack_weight(w,k,n,k,pk);
  float*sp=malloc(4*kb_strassen_packed_floats(n,k)); if(tr) kb_pack_weight_strassen(wt,n,n,k,1,sp); else kb_pack_weight_strassen(w,k,n,k,0,sp);
  int h=m/2, W=kb_packed_panel_width(); int np=(n+W-1)/W, nph=(n/2+W-1)/W;
  float*s=malloc(4*kb_strassen_scratch_floats(h,k)+64), *u=malloc(4*(size_t)m*(k/2)+64);
  // reference in double
  double maxref=0,e1=0,e2=0,e3=0;
  kb_gemm_packed(m,n,k,x,k,pk,0,np,c0,n,0);
  kb_gemm_strassen(h,n,k,x,x+(size_t)h*k,k,s,sp,0,nph,c1,c1+(size_t)h*n,n,0);
  kb_strassen_rowsum(m,k,x,k,u); kb_gemm_strassen_plain(m,n,k,x,k,u,sp,0,nph,c2,n,0);
  for(int i=0;i<m;i+= (m>64? 7:1)) for(int j=0;j<n;j++){ double r=0; for(int q=0;q<k;q++) r+=(double)x[(size_t)i*k+q]*w[(size_t)j*k+q];
    if(fabs(r)>maxref)maxref=fabs(r); e1=fmax(e1,fabs(c0[(size_t)i*n+j]-r)); e2=fmax(e2,fabs(c1[(size_t)i*n+j]-r)); e3=fmax(e3,fabs(c2[(size_t)i*n+j]-r)); }
  printf("m=%d n=%d k=%d  err classic %.2e strassen %.2e plain %.2e (max |ref| %.1f)\n",m,n,k,e1,e2,e3,maxref);
  double fl=2.0*m*n*k, bc=1e9,bs=1e9,bp=1e9;
  for(int r=0;r<reps;r++){
    double t=now(); kb_gemm_packed(m,n,k,x,k,pk,0,np,c0,n,0); t=now()-t; if(t<bc)bc=t;
    t=now(); kb_gemm_strassen(h,n,k,x,x+(size_t)h*k,k,s,sp,0,nph,c1,c1+(size_t)h*n,n,0); t=now()-t; if(t<bs)bs=t;
    t=now(); kb_strassen_rowsum(m,k,x,k,u); kb_gemm_strassen_plain(m,n,k,x,k,u,sp,0,nph,c2,n,0); t=now()-t; if(t<bp)bp=t;
  }
  printf("  classic %.2f ms (%.1f GF/s)  strassen %.2f ms (%.1f eff GF/s, %.3fx)  plain %.2f ms (%.3fx)\n",bc*1e3,fl/bc/1e9,bs*1e3,fl/bs/1e9,bc/bs,bp*1e3,bc/bp);
}
