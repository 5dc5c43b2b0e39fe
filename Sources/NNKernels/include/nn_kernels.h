/* nn_kernels.h -- nngen's precompiled helpers for code compiled by libtcc.
 *
 * Generated C calls a few helpers (register tiles of matrix products, panel packing, lane sums,
 * elementwise epilogue steps). gcc and clang compile them from the generated file; libtcc cannot
 * vectorise, so when nngen compiles a model with libtcc it defines NN_PRECOMPILED, which turns the
 * helpers into declarations, and binds every name to the functions below (tcc_add_symbol).
 */
#ifndef NN_KERNELS_H
#define NN_KERNELS_H

/* One helper: the name generated code declares (nn_tile_f32...) and the function to bind it to. */
typedef struct {
    const char *name;
    void (*address)(void);
} nn_kernel_symbol;

/* The helpers for the CPU this runs on: the AVX2 + FMA build when the CPU has both, else the
 * baseline build. Sets *count to the number of entries and *variant to "avx2+fma" or "baseline". */
const nn_kernel_symbol *nn_kernel_symbols(int *count, const char **variant);

#endif
