/* Targets as data: the processor a model is compiled for, chosen as llc
 * does (`--target=TRIPLE --mcpu=CPU --mattr=+f1,-f2`), and what lowering,
 * code generation and the mixed-precision cost model read from it: vector
 * width, the integer dot-product instructions, cache sizes and a cost
 * table. No LLVM here: the host default comes from codegen/ (dy_cg_host),
 * which asks LLVM for the host's triple, CPU and features. */
#ifndef DYAD_TARGET_H
#define DYAD_TARGET_H

#include <stddef.h>

#include "dyad/diag.h"

typedef enum DyArch { DY_ARCH_X86_64, DY_ARCH_AARCH64, DY_ARCH_RISCV64 } DyArch;

/* Features dyad's kernels choose by (each target also passes LLVM the
 * feature string it was given, so LLVM may use more). */
enum {
  DY_FEAT_SSE2 = 1u << 0,
  DY_FEAT_SSSE3 = 1u << 1,
  DY_FEAT_SSE41 = 1u << 2,
  DY_FEAT_AVX = 1u << 3,
  DY_FEAT_AVX2 = 1u << 4,
  DY_FEAT_FMA = 1u << 5,
  DY_FEAT_AVX512F = 1u << 6,
  DY_FEAT_AVX512BW = 1u << 7,
  DY_FEAT_AVX512VL = 1u << 8,
  DY_FEAT_AVX512VNNI = 1u << 9,
  DY_FEAT_AVXVNNI = 1u << 10,
  DY_FEAT_NEON = 1u << 11,
  DY_FEAT_DOTPROD = 1u << 12,
  DY_FEAT_I8MM = 1u << 13,
  DY_FEAT_RV_M = 1u << 14,
  DY_FEAT_RV_V = 1u << 15,
  DY_FEAT_ZVL256B = 1u << 16
};

/* The integer dot-product instructions a kernel may use. */
enum {
  DY_DOT_PMADDUBSW = 1u << 0, /* x86 AVX2 vpmaddubsw + vpmaddwd (u8 x s8) */
  DY_DOT_VPDPBUSD = 1u << 1,  /* x86 AVX-512 VNNI or AVX-VNNI (u8 x s8) */
  DY_DOT_SMULL = 1u << 2,     /* AArch64 NEON widening multiply-add */
  DY_DOT_SDOT = 1u << 3,      /* AArch64 +dotprod sdot/udot */
  DY_DOT_USDOT = 1u << 4,     /* AArch64 +i8mm usdot (u8 x s8) */
  DY_DOT_SMMLA = 1u << 5,     /* AArch64 +i8mm smmla (2x8 by 8x2 tiles) */
  DY_DOT_VWMACC = 1u << 6,    /* RISC-V V vwmul/vwmacc (vector length
                                 agnostic) */
  DY_DOT_PMADDWD = 1u << 7    /* x86 SSE2 pmaddwd on i16 (the baseline) */
};

/* What a kernel costs, relative numbers per cycle for one core: the
 * mixed-precision pass compares layers by them. */
typedef struct DyTargetCost {
  double int8_macs;   /* i8 x i8 -> i32 multiply-accumulates per cycle */
  double int16_macs;  /* i16 x i16 -> i32 */
  double int4_macs;   /* i4 weights (unpacked to i8 first) */
  double f32_flops;   /* f32 fused multiply-adds per cycle */
  double bytes_cycle; /* sustained bytes per cycle from L2 */
} DyTargetCost;

typedef struct DyTarget {
  char triple[64]; /* as given, or LLVM's host triple */
  DyArch arch;
  char cpu[48];        /* as LLVM names it ("x86-64", "cortex-a53") */
  char features[4096]; /* the LLVM feature string ("+avx2,+fma,-avx512f") */
  unsigned feat;       /* DY_FEAT_* the kernels choose by */
  unsigned dot;        /* DY_DOT_* available */
  int vector_bits;     /* the widest integer vector: 128, 256, 512; RISC-V V
                          the minimum VLEN it is correct for (128); 64 for
                          scalar code (general registers) */
  int l1d_kb, l2_kb;   /* data cache sizes the tiling assumes */
  DyTargetCost cost;
} DyTarget;

/* Fills t from a triple ("x86_64-unknown-linux-gnu", "aarch64-linux-gnu",
 * "riscv64-linux-gnu"), a CPU name (NULL or "": the triple's baseline) and
 * a feature list ("+avx512vnni,-avx512f"; NULL or "": none). An unknown
 * triple, CPU or feature is an error at loc that lists the valid names.
 * Returns 0 or 1. */
int dy_target_init(DyTarget *t, const char *triple, const char *cpu,
                   const char *mattr, DyDiag *d, DyLoc loc);

/* Like dy_target_init for the host: CPU names and features that dyad does
 * not know are passed to LLVM as they are (LLVM knows them) instead of
 * being errors. */
int dy_target_init_host(DyTarget *t, const char *triple, const char *cpu,
                        const char *host_features, DyDiag *d, DyLoc loc);

/* The architecture's name ("x86_64", "aarch64", "riscv64"). */
/* A dot-product kernel of codegen/kernels/dot.c: the integer conv2d (one
 * group) and matmul with constant weights on one family of instructions.
 * lower-target packs the weights for it (docs/codegen.md). */
typedef struct DyDotKernel {
  const char *impl;   /* the op's `impl`: "vpdpbusd.512", "sdot", ... */
  const char *symbol; /* the kernel function: "dyk_dot_vpdpbusd_512" */
  DyArch arch;
  unsigned needs; /* DY_FEAT_* the target must have */
  unsigned dot;   /* the DY_DOT_* instruction family it uses */
  int nr, kr;     /* weight blocks: nr output channels by kr steps */
  int rows;       /* output pixels per tile (2 for smmla) */
  int wide;       /* rows of i16 (vpmaddwd) rather than bytes */
  char act;       /* activations the instruction multiplies: 'u' u8, 's'
                     s8 (the other kind is flipped by xor 0x80), 0 either */
  int wmin, wmax; /* weights (less their zero point) it is exact for */
} DyDotKernel;

/* The dot-product kernels, all architectures. */
const DyDotKernel *dy_dot_kernels(int *n);
/* The one whose impl is `impl`, or NULL. */
const DyDotKernel *dy_dot_kernel(const char *impl);
/* What the kernel adds to each activation to reach the signedness its
 * instruction multiplies (it xors the row with 0x80): +128 for s8 into u8,
 * -128 for u8 into s8, else 0. */
int dy_dot_offset(const DyDotKernel *k, int x_unsigned);

const char *dy_arch_name(DyArch a);
/* Writes a one-line description ("x86_64 cpu=znver5 vector=512
 * dot=vpdpbusd,pmaddubsw") into buf. */
void dy_target_describe(const DyTarget *t, char *buf, size_t n);
/* The names of the CPUs dyad knows for an architecture, NULL-terminated. */
const char *const *dy_target_cpus(DyArch a, int *n);

#endif
