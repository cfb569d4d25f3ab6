/* What every kernel file shares: element loads and stores by DyElemType
 * number, and the requant arithmetic of lib/requant.c (../shared/REQUANT.md),
 * bit for bit. Included by generic.c and dot.c, each compiled to bitcode. */
#ifndef DYAD_KERNELS_COMMON_H
#define DYAD_KERNELS_COMMON_H

#include <stdint.h>

typedef int64_t i64;

enum { F32, I32, I16, I8, U8, I4, U4, I2, U2, I1, TERNARY };
/* constants of 4-bit weights stored two to a byte, low nibble first
 * (codegen/module.c, dy_cg_elem) */
enum { I4P = 32, U4P = 33 };

#define K __attribute__((visibility("hidden")))

static inline i64 ld(const void *p, int e, i64 i) {
  switch (e) {
  case I4P:
  case U4P: {
    uint8_t b = ((const uint8_t *)p)[i >> 1];
    uint8_t nib = (uint8_t)(i & 1 ? b >> 4 : b & 15);
    return e == U4P ? nib : (int8_t)(uint8_t)(nib << 4) >> 4;
  }
  case I32:
    return ((const int32_t *)p)[i];
  case I16:
    return ((const int16_t *)p)[i];
  case U8:
  case U4:
  case U2:
    return ((const uint8_t *)p)[i];
  default:
    return ((const int8_t *)p)[i];
  }
}

static inline void st(void *p, int e, i64 i, i64 v) {
  switch (e) {
  case I32:
    ((int32_t *)p)[i] = (int32_t)v;
    break;
  case I16:
    ((int16_t *)p)[i] = (int16_t)v;
    break;
  case U8:
  case U4:
  case U2:
    ((uint8_t *)p)[i] = (uint8_t)v;
    break;
  default:
    ((int8_t *)p)[i] = (int8_t)v;
    break;
  }
}

static inline i64 clampi(i64 v, i64 lo, i64 hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/* --- requant (lib/requant.c, ../shared/REQUANT.md) --- */

static inline i64 floor_shift(i64 x, int s) {
  return x >= 0 ? x >> s : ~(~x >> s);
}

static inline i64 srdhm(i64 a, i64 b) {
  if (a == INT32_MIN && b == INT32_MIN)
    return INT32_MAX;
  i64 p = a * b;
  i64 nudge = p >= 0 ? ((i64)1 << 30) : 1 - ((i64)1 << 30);
  return (p + nudge) / ((i64)1 << 31);
}

static inline i64 rdbpot(i64 x, int e) {
  i64 mask = ((i64)1 << e) - 1;
  i64 q = floor_shift(x, e);
  i64 rem = x - q * ((i64)1 << e);
  i64 thr = (mask >> 1) + (x < 0 ? 1 : 0);
  return q + (rem > thr ? 1 : 0);
}

/* rounding: 0 tflite-double, 1 tflite-single, 2 tosa-single, 3
 * tosa-double (DyRounding) */
static inline i64 requant1(int mode, i64 v, i64 M, i64 shift) {
  if (mode == 0) {
    int left = shift > 0 ? (int)shift : 0, right = shift > 0 ? 0 : (int)-shift;
    i64 a = (int32_t)(uint32_t)((uint64_t)v << left);
    return rdbpot(srdhm(a, M), right);
  }
  int s = (int)(31 - shift);
  i64 round = (i64)1 << (s - 1);
  if (mode == 3 && s > 31)
    round += v >= 0 ? ((i64)1 << 30) : -((i64)1 << 30);
  return floor_shift(v * M + round, s);
}

static inline double floor_d(double v) {
  /* |v| < 2^62 here: exact through int64 */
  i64 t = (i64)v;
  double f = (double)t;
  return f > v ? f - 1 : f;
}

static inline double round_half_even(double v) {
  double f = floor_d(v), diff = v - f;
  if (diff > 0.5)
    return f + 1;
  if (diff < 0.5)
    return f;
  return ((i64)f & 1) == 0 ? f : f + 1;
}

/* clamp(requant(v) + out_zp) to [lo, hi], v already less the input zero
 * point; with scale, the float form round_half_even(v * *scale) in double
 * instead of the integer multiplier. */
static inline i64 requant_value(i64 v, int mode, i64 M, i64 shift,
                                const double *scale, i64 out_zp, i64 lo,
                                i64 hi) {
  if (scale) {
    double f = round_half_even((double)v * *scale) + (double)out_zp;
    return f < (double)lo ? lo : f > (double)hi ? hi : (i64)f;
  }
  return clampi(requant1(mode, v, M, shift) + out_zp, lo, hi);
}

#endif
