/* Integer requantization (include/dyad/requant.h), transcribed from the
 * arithmetic of gemmlowp, TFLite and TOSA in ../shared/REQUANT.md with
 * every shift and product defined in C (no signed overflow, no shift of a
 * negative number). */
#include "dyad/requant.h"

/* floor(x / 2^s) for 0 <= s <= 62, without relying on how >> treats
 * negative numbers (~x = -x - 1 is non-negative when x is negative). */
static int64_t floor_shift(int64_t x, int s) {
  return x >= 0 ? x >> s : ~(~x >> s);
}

/* The int32 with the bits of u (two's complement). */
static int64_t wrap_i32(uint32_t u) {
  return u >= 0x80000000u ? (int64_t)u - ((int64_t)1 << 32) : (int64_t)u;
}

/* gemmlowp's SaturatingRoundingDoublingHighMul: a * b / 2^31 rounded to
 * nearest, computed as (a*b + nudge) / 2^31 with C's truncating division,
 * where nudge = 2^30 for a non-negative product and 1 - 2^30 otherwise.
 * Ties go up: a = 3, b = 2^30 gives (3*2^30 + 2^30) / 2^31 = 2 (1.5 -> 2);
 * a = -3 gives (-3*2^30 + 1 - 2^30) / 2^31 = -1.99.. -> -1 (-1.5 -> -1).
 * The only overflow, INT32_MIN * INT32_MIN, saturates to INT32_MAX. */
static int64_t srdhm(int64_t a, int64_t b) {
  if (a == INT32_MIN && b == INT32_MIN)
    return INT32_MAX;
  int64_t p = a * b;
  int64_t nudge = p >= 0 ? ((int64_t)1 << 30) : 1 - ((int64_t)1 << 30);
  return (p + nudge) / ((int64_t)1 << 31); /* C division truncates */
}

/* gemmlowp's RoundingDivideByPOT: x / 2^e rounded half away from zero, for
 * int32 x and 0 <= e <= 31. q = floor(x / 2^e) and rem = x mod 2^e (what
 * x & mask gives in two's complement); q is incremented when rem is above
 * the threshold, half - 1 for x >= 0 (ties go up) and half for x < 0 (ties
 * stay at the floor, away from zero). Example, e = 1: 5 -> q 2, rem 1 >
 * thr 0 -> 3; -5 -> q -3, rem 1, thr 1 -> -3. */
static int64_t rdbpot(int64_t x, int e) {
  int64_t mask = ((int64_t)1 << e) - 1;
  int64_t q = floor_shift(x, e);
  int64_t rem = x - q * ((int64_t)1 << e);
  int64_t thr = (mask >> 1) + (x < 0 ? 1 : 0);
  return q + (rem > thr ? 1 : 0);
}

/* y = v * M * 2^(shift - 31), rounded per mode (../shared/REQUANT.md); v is
 * an int32 and (M, shift) passed requant_check. */
int64_t dy_requant_apply(DyRounding mode, int64_t v, int64_t M, int64_t shift) {
  switch (mode) {
  case DY_ROUND_TFLITE_DOUBLE: {
    int left = shift > 0 ? (int)shift : 0, right = shift > 0 ? 0 : (int)-shift;
    /* v * 2^left wraps modulo 2^32, as int32 arithmetic does */
    int64_t a = wrap_i32((uint32_t)((uint64_t)v << left));
    return rdbpot(srdhm(a, M), right);
  }
  case DY_ROUND_TFLITE_SINGLE:
  case DY_ROUND_TOSA_SINGLE: {
    int s = (int)(31 - shift);
    return floor_shift(v * M + ((int64_t)1 << (s - 1)), s);
  }
  case DY_ROUND_TOSA_DOUBLE: {
    int s = (int)(31 - shift);
    int64_t round = (int64_t)1 << (s - 1);
    if (s > 31)
      round += v >= 0 ? ((int64_t)1 << 30) : -((int64_t)1 << 30);
    return floor_shift(v * M + round, s);
  }
  }
  return 0;
}

void dy_rounding_shift_range(DyRounding r, int64_t *lo, int64_t *hi) {
  *lo = -31;
  *hi = r == DY_ROUND_TFLITE_DOUBLE   ? 31
        : r == DY_ROUND_TFLITE_SINGLE ? 30
                                      : 29;
}
