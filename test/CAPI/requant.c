/* dy_requant_apply against a plain transcription of the formulas in
 * ../shared/REQUANT.md, on a million random (x, M, shift) cases per rounding
 * mode plus edge cases (INT32_MIN/MAX, shift limits, exact ties). Prints the
 * counts for test/CAPI/requant.test; any mismatch is printed and counted.
 * The reference below is written from the document, not from lib/. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "dyad/quant.h"
#include "dyad/requant.h"

/* --- the reference, as REQUANT.md writes it --- */

/* SRDHM(a, b) */
static int32_t ref_srdhm(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN)
    return INT32_MAX;
  int64_t p = (int64_t)a * b;
  int64_t nudge = p >= 0 ? (1ll << 30) : 1 - (1ll << 30);
  return (int32_t)((p + nudge) / (1ll << 31)); /* C division truncates */
}

/* RDBPOT(x, e); x >> e on a negative int32 is arithmetic on every target
 * dyad supports (gcc and clang define it so) */
static int32_t ref_rdbpot(int32_t x, int e) {
  int32_t mask = (int32_t)((1ll << e) - 1);
  int32_t rem = x & mask;
  int32_t thr = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (rem > thr ? 1 : 0);
}

static int64_t ref_tflite_double(int32_t x, int32_t M, int shift) {
  int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
  /* x * 2^left in int32 arithmetic (wraps) */
  int32_t a = (int32_t)(uint32_t)((uint64_t)(uint32_t)x << left);
  return ref_rdbpot(ref_srdhm(a, M), right);
}

static int64_t ref_tflite_single(int32_t x, int32_t M, int shift) {
  int s = 31 - shift;
  return ((int64_t)x * M + (1ll << (s - 1))) >> s;
}

static int64_t ref_tosa(int32_t v, int32_t M, int shift, int double_round) {
  int s = 31 - shift; /* TOSA's right shift */
  int64_t round = 1ll << (s - 1);
  if (double_round && s > 31)
    round += v >= 0 ? (1ll << 30) : -(1ll << 30);
  return ((int64_t)v * M + round) >> s;
}

/* QuantizeMultiplier as REQUANT.md writes it; *ok = 0 where the shift
 * passes 30 (not representable: dyad reports an error there). */
static void ref_quantize_multiplier(double real, int64_t *M, int64_t *shift,
                                    int *ok) {
  *ok = 1;
  if (real == 0) {
    *M = 0;
    *shift = 0;
    return;
  }
  int e;
  double q = frexp(real, &e);
  int64_t m = (int64_t)round(q * 2147483648.0); /* half away from zero */
  if (m == 2147483648ll) {
    m /= 2;
    e += 1;
  }
  if (e < -31) {
    m = 0;
    e = 0;
  }
  *M = m;
  *shift = e;
  *ok = e <= 30;
}

/* --- cases --- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next(void) { /* xorshift64* */
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 2685821657736338717ull;
}

static int32_t rand_x(void) {
  static const int32_t edge[] = {
      INT32_MIN, INT32_MIN + 1, -65536,        -3,       -2, -1, 0, 1, 2,
      3,         65536,         INT32_MAX - 1, INT32_MAX};
  switch (next() % 4) {
  case 0:
    return edge[next() % (sizeof edge / sizeof edge[0])];
  case 1:
    return (int32_t)(next() % 2001) - 1000; /* small accumulators */
  default:
    return (int32_t)(uint32_t)next();
  }
}

static int32_t rand_m(void) {
  switch (next() % 8) {
  case 0:
    return (int32_t)(1u << 30); /* 0.5: exact ties for odd products */
  case 1:
    return INT32_MAX;
  default:
    return (int32_t)((1u << 30) + (uint32_t)(next() % (1u << 30)));
  }
}

static int rand_shift(int lo, int hi) {
  if (next() % 8 == 0)
    return next() % 2 ? lo : hi; /* the limits */
  return lo + (int)(next() % (uint64_t)(hi - lo + 1));
}

int main(void) {
  const long n = 1000000;
  static const char *const names[] = {"tflite-double", "tflite-single",
                                      "tosa-single", "tosa-double"};
  static const int shift_hi[] = {31, 30, 29, 29};
  long total_bad = 0;
  for (int mode = 0; mode < 4; mode++) {
    long bad = 0;
    for (long i = 0; i < n; i++) {
      int32_t x = rand_x(), M = rand_m();
      int shift = rand_shift(-31, shift_hi[mode]);
      int64_t want = mode == 0   ? ref_tflite_double(x, M, shift)
                     : mode == 1 ? ref_tflite_single(x, M, shift)
                                 : ref_tosa(x, M, shift, mode == 3);
      int64_t got = dy_requant_apply((DyRounding)mode, x, M, shift);
      if (got != want && bad++ < 5)
        printf("%s mismatch: x=%d M=%d shift=%d: got %lld, want %lld\n",
               names[mode], x, M, shift, (long long)got, (long long)want);
    }
    printf("%s: %ld cases, %ld mismatches\n", names[mode], n, bad);
    total_bad += bad;
  }
  /* REQUANT.md's equivalences, on shifts valid for every mode and where
   * tflite-double's x * 2^shift does not wrap (TOSA computes it in 64
   * bits; REQUANT.md's overflow section: the compiler proves no wrap) */
  long dd = 0, ss = 0, ds = 0;
  for (long i = 0; i < n; i++) {
    int32_t x = rand_x(), M = rand_m();
    int shift = rand_shift(-31, 29);
    int64_t wide = (int64_t)x * (shift > 0 ? (1ll << shift) : 1);
    if (wide < INT32_MIN || wide > INT32_MAX) {
      i--; /* draw again */
      continue;
    }
    int64_t td = dy_requant_apply(DY_ROUND_TFLITE_DOUBLE, x, M, shift);
    int64_t ts = dy_requant_apply(DY_ROUND_TFLITE_SINGLE, x, M, shift);
    dd += td != dy_requant_apply(DY_ROUND_TOSA_DOUBLE, x, M, shift);
    ss += ts != dy_requant_apply(DY_ROUND_TOSA_SINGLE, x, M, shift);
    ds += td != ts;
  }
  printf("tosa-double vs tflite-double: %ld differ of %ld\n", dd, n);
  printf("tosa-single vs tflite-single: %ld differ of %ld\n", ss, n);
  printf("double vs single rounding: differ on %.1f%%\n",
         100.0 * (double)ds / (double)n);
  /* the tie REQUANT.md names, -2.5 -> -3 (double) and -2 (single):
   * -10 * 0.5 * 2^-1, the tie decided in RDBPOT (half away from zero) */
  int64_t a = dy_requant_apply(DY_ROUND_TFLITE_DOUBLE, -10, 1 << 30, -1);
  int64_t b = dy_requant_apply(DY_ROUND_TFLITE_SINGLE, -10, 1 << 30, -1);
  printf("-2.5: double %lld, single %lld\n", (long long)a, (long long)b);

  /* QuantizeMultiplier: random reals over 2^-40 .. 2^34 (mantissas and
   * exponents drawn separately), plus the edges: 0, exact powers of two,
   * mantissas that round up to 2^31, the shift limits */
  static const double qedge[] = {0.0,
                                 1.0,
                                 0.5,
                                 0.25,
                                 0x1.fffffffp-1,
                                 0x1.ffffffffp-1,
                                 0x1.fffffffcp-2,
                                 0x1p-31,
                                 0x1p-32,
                                 0x1.8p-32,
                                 0x1.fffffffffp-33,
                                 0x1p29,
                                 0x1p30,
                                 0x1.ffffffffp29,
                                 0x1p31,
                                 1e-300,
                                 3.0e9};
  long qn = 0, qbad = 0, qerr = 0;
  for (long i = 0; i < 1000000 + (long)(sizeof qedge / sizeof qedge[0]); i++) {
    double real;
    if (i < (long)(sizeof qedge / sizeof qedge[0]))
      real = qedge[i];
    else
      real = ldexp(0.5 + (double)(next() >> 11) * 0x1p-54,
                   (int)(next() % 75) - 40);
    int64_t rm, rs, m, sh;
    int ok;
    ref_quantize_multiplier(real, &rm, &rs, &ok);
    int err = dy_quantize_multiplier(real, &m, &sh);
    qn++;
    qerr += !ok;
    if (ok ? (err || m != rm || sh != rs) : !err) {
      if (qbad < 10)
        printf("QuantizeMultiplier mismatch: %a: got %lld, %lld (error %d), "
               "want %lld, %lld\n",
               real, (long long)m, (long long)sh, err, (long long)rm,
               (long long)rs);
      qbad++;
    }
  }
  printf("QuantizeMultiplier: %ld cases, %ld mismatches, %ld beyond shift 30\n",
         qn, qbad, qerr);
  return total_bad != 0 || qbad != 0;
}
