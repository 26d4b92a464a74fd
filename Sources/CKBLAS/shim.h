// C shim: CBLAS and LAPACKE from Debian's OpenBLAS. No stable Swift API: only KBTensor imports it.
#include <cblas.h>
#include <lapacke.h>
