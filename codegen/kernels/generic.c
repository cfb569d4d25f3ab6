/* dyad's kernel library: the portable kernels, in C, compiled at build time
 * to LLVM bitcode for each architecture (codegen/CMakeLists part of the
 * top-level build) and linked into every generated module, where the
 * model's code calls them with constant shapes, types and parameters; the
 * inliner and O3 then specialize and vectorize each call for the target
 * (the "microkernel" design of IREE's ukernels and XNNPACK).
 *
 * Each kernel computes exactly what the reference interpreter computes
 * (lib/interp/int.c, quant.c, real.c; lib/requant.c), so that compiled
 * code is bit-exact with it. Freestanding: no libc, no libm (LLVM may
 * still emit memcpy and memset, which the generated object may call).
 * Element types are DyElemType's numbers (include/dyad/ir.h). */
#include "common.h"

/* --- integer conv2d and matmul (lib/interp/int.c) --- */

/* y[n,oh,ow,oc] = sum (x - zx) * (w - zw[oc]) + b[oc], NHWC x, OHWI w.
 * zw: per output channel, or NULL for zw0. The sum is taken modulo 2^32:
 * the integer form's result fits its type (the interpreter checks it), so
 * the wrapped sum is the exact one, in 32-bit lanes. */
K void dyk_conv2d_i(const void *x, int ex, i64 zx, const void *w, int ew,
                    const int32_t *zw, i64 zw0, const int32_t *b, void *y,
                    int ey, i64 N, i64 H, i64 W, i64 C, i64 OC, i64 KH, i64 KW,
                    i64 CG, i64 OH, i64 OW, i64 s0, i64 s1, i64 p0, i64 p1,
                    i64 d0, i64 d1, i64 groups) {
  i64 ocpg = OC / groups;
  for (i64 n = 0; n < N; n++)
    for (i64 oh = 0; oh < OH; oh++)
      for (i64 ow = 0; ow < OW; ow++)
        for (i64 oc = 0; oc < OC; oc++) {
          i64 grp = oc / ocpg, z = zw ? zw[oc] : zw0;
          uint32_t acc = 0;
          for (i64 kh = 0; kh < KH; kh++) {
            i64 ih = oh * s0 - p0 + kh * d0;
            if (ih < 0 || ih >= H)
              continue;
            for (i64 kw = 0; kw < KW; kw++) {
              i64 iw = ow * s1 - p1 + kw * d1;
              if (iw < 0 || iw >= W)
                continue;
              i64 xb = ((n * H + ih) * W + iw) * C + grp * CG;
              i64 wb = ((oc * KH + kh) * KW + kw) * CG;
              for (i64 ic = 0; ic < CG; ic++)
                acc += (uint32_t)(ld(x, ex, xb + ic) - zx) *
                       (uint32_t)(ld(w, ew, wb + ic) - z);
            }
          }
          if (b)
            acc += (uint32_t)b[oc];
          st(y, ey, ((n * OH + oh) * OW + ow) * OC + oc, (int32_t)acc);
        }
}

/* y[m, j] = sum_k (x[m,k] - zx) * (w[k,j] - zw[j]) + b[j]; batched: one
 * KxN matrix per `rows` rows of x. */
K void dyk_matmul_i(const void *x, int ex, i64 zx, const void *w, int ew,
                    const int32_t *zw, i64 zw0, const int32_t *b, void *y,
                    int ey, i64 M, i64 Kd, i64 N, i64 batched, i64 rows) {
  for (i64 m = 0; m < M; m++) {
    i64 wo = batched ? (m / rows) * Kd * N : 0;
    for (i64 j = 0; j < N; j++) {
      i64 z = zw ? zw[j] : zw0;
      uint32_t acc = 0;
      for (i64 k = 0; k < Kd; k++)
        acc += (uint32_t)(ld(x, ex, m * Kd + k) - zx) *
               (uint32_t)(ld(w, ew, wo + k * N + j) - z);
      if (b)
        acc += (uint32_t)b[j];
      st(y, ey, m * N + j, (int32_t)acc);
    }
  }
}

/* --- elementwise --- */

/* Flat index into an operand of the broadcast result index i: dims of the
 * result (dy), strides of the operand (0 on broadcast axes). */
static inline i64 bidx(i64 i, int rank, const i64 *dy, const i64 *sa) {
  i64 r = 0;
  for (int k = rank - 1; k >= 0; k--) {
    i64 c = i % dy[k];
    i /= dy[k];
    r += c * sa[k];
  }
  return r;
}

/* op 0: add, 1: mul. Same-shape operands pass rank 0. */
K void dyk_binary_i(const void *a, int ea, const void *b, int eb, void *y,
                    int ey, i64 n, int op, int rank, const i64 *dy,
                    const i64 *sa, const i64 *sb) {
  for (i64 i = 0; i < n; i++) {
    i64 ia = rank ? bidx(i, rank, dy, sa) : i;
    i64 ib = rank ? bidx(i, rank, dy, sb) : i;
    i64 va = ld(a, ea, ia), vb = ld(b, eb, ib);
    st(y, ey, i, op ? va * vb : va + vb);
  }
}

K void dyk_clamp_i(const void *x, int ex, void *y, int ey, i64 n, i64 lo,
                   i64 hi) {
  for (i64 i = 0; i < n; i++)
    st(y, ey, i, clampi(ld(x, ex, i), lo, hi));
}

/* sum / n rounded half away from zero (TFLite's integer mean) */
static inline i64 mean(i64 sum, i64 n) {
  return sum >= 0 ? (sum + n / 2) / n : -((-sum + n / 2) / n);
}

/* Max or average pooling, NHWC. The windows come from lib/shape.c at
 * compile time: wh[4*oh..] = {start, lo, hi, padded} per output row, ww
 * per output column. */
K void dyk_pool_i(const void *x, int ex, void *y, int ey, i64 N, i64 H, i64 W,
                  i64 C, i64 OH, i64 OW, i64 d0, i64 d1, const i64 *wh,
                  const i64 *ww, int is_max, int include_pad) {
  for (i64 n = 0; n < N; n++)
    for (i64 oh = 0; oh < OH; oh++)
      for (i64 ow = 0; ow < OW; ow++) {
        const i64 *h = wh + 4 * oh, *w = ww + 4 * ow;
        i64 cells = (h[2] - h[1]) * (w[2] - w[1]);
        i64 div = include_pad ? h[3] * w[3] : cells;
        for (i64 c = 0; c < C; c++) {
          i64 mx = INT64_MIN, sum = 0;
          for (i64 kh = h[1]; kh < h[2]; kh++)
            for (i64 kw = w[1]; kw < w[2]; kw++) {
              i64 v =
                  ld(x, ex,
                     ((n * H + h[0] + kh * d0) * W + w[0] + kw * d1) * C + c);
              mx = v > mx ? v : mx;
              sum += v;
            }
          st(y, ey, ((n * OH + oh) * OW + ow) * C + c,
             is_max ? mx : mean(sum, div));
        }
      }
}

K void dyk_global_avgpool_i(const void *x, int ex, void *y, int ey, i64 N,
                            i64 HW, i64 C) {
  for (i64 n = 0; n < N; n++)
    for (i64 c = 0; c < C; c++) {
      i64 sum = 0;
      for (i64 i = 0; i < HW; i++)
        sum += ld(x, ex, (n * HW + i) * C + c);
      st(y, ey, n * C + c, mean(sum, HW));
    }
}

/* Integer softmax (docs/ir.md): e = table[max - x] along the axis,
 * S = sum e, y = clamp(zp + floor((e * 2^(shift+1) + S) / (2 S))). */
K void dyk_softmax_i(const void *x, int ex, const int32_t *table, void *y,
                     int ey, i64 outer, i64 len, i64 inner, int shift, i64 zp,
                     i64 qlo, i64 qhi) {
  for (i64 o = 0; o < outer; o++)
    for (i64 i = 0; i < inner; i++) {
      i64 base = o * len * inner + i, mx = INT64_MIN, sum = 0;
      for (i64 j = 0; j < len; j++) {
        i64 v = ld(x, ex, base + j * inner);
        mx = v > mx ? v : mx;
      }
      for (i64 j = 0; j < len; j++)
        sum += table[mx - ld(x, ex, base + j * inner)];
      for (i64 j = 0; j < len; j++) {
        i64 e = table[mx - ld(x, ex, base + j * inner)];
        i64 v = zp + (e * ((i64)2 << shift) + sum) / (2 * sum);
        st(y, ey, base + j * inner, clampi(v, qlo, qhi));
      }
    }
}

/* y[i] = table[x[i] - base], esize bytes an entry */
K void dyk_lookup(const void *x, int ex, const void *table, void *y, int ey,
                  i64 n, i64 base) {
  for (i64 i = 0; i < n; i++)
    st(y, ey, i, ld(table, ey, ld(x, ex, i) - base));
}

/* --- requant (lib/requant.c, ../shared/REQUANT.md) --- */

/* y = clamp(requant(x - in_zp) + out_zp); per channel when channels > 1
 * (channel (i / inner) % channels). is_float: round_half_even((x - in_zp) *
 * scale[c]) in double instead of the integer multiplier. */
K void dyk_requant(const void *x, int ex, void *y, int ey, i64 n, i64 channels,
                   i64 inner, i64 in_zp, i64 out_zp, const int64_t *mult,
                   const int64_t *shift, int mode, i64 lo, i64 hi,
                   const double *scale) {
  for (i64 i = 0; i < n; i++) {
    i64 c = channels > 1 ? (i / inner) % channels : 0;
    st(y, ey, i,
       requant_value(ld(x, ex, i) - in_zp, mode, mult ? mult[c] : 0,
                     mult ? shift[c] : 0, scale ? scale + c : 0, out_zp, lo,
                     hi));
  }
}

/* --- quantize, dequantize (lib/interp/quant.c) --- */

/* The quantization parameter of flat element i: per tensor, per axis
 * (channels > 1: (i / inner) % channels) or blocked (blk: the rank r, then
 * the tensor's r dims, the parameter grid's r dims and the r block sizes,
 * as lib/interp/quant.c's qmap_index). */
static inline i64 qparam(i64 i, i64 channels, i64 inner, const i64 *blk) {
  if (blk) {
    int r = (int)blk[0];
    const i64 *dims = blk + 1, *bd = blk + 1 + r, *bs = blk + 1 + 2 * r;
    i64 c[8], p = 0;
    for (int k = r - 1; k >= 0; k--) {
      c[k] = i % dims[k];
      i /= dims[k];
    }
    for (int k = 0; k < r; k++)
      p = p * bd[k] + c[k] / bs[k];
    return p;
  }
  return channels > 1 ? (i / inner) % channels : 0;
}

/* round(v) to the nearest integer, ties to even or away from zero; |v|
 * beyond 2^53 is left as it is (far outside every storage range) */
static inline double round_q(double v, int half_away) {
  if (v > 9.0e15 || v < -9.0e15)
    return v;
  if (half_away)
    return v >= 0 ? floor_d(v + 0.5) : -floor_d(-v + 0.5);
  return round_half_even(v);
}

/* y = clamp(round(x / s) + zp, qmin, qmax), the division in f32; per axis
 * or blocked as qparam. A NaN quantizes to qmin (the interpreter rejects
 * it; compiled code has no error path). */
K void dyk_quantize(const float *x, void *y, int ey, i64 n, i64 channels,
                    i64 inner, const i64 *blk, const float *scale,
                    const int32_t *zp, i64 qmin, i64 qmax, int half_away) {
  for (i64 i = 0; i < n; i++) {
    i64 c = qparam(i, channels, inner, blk);
    double dv = (double)(x[i] / scale[c]);
    if (!(dv == dv)) {
      st(y, ey, i, qmin);
      continue;
    }
    double q = round_q(dv, half_away) + (double)zp[c];
    q = q < (double)qmin ? (double)qmin : q > (double)qmax ? (double)qmax : q;
    st(y, ey, i, (i64)q);
  }
}

/* y = (q - zp) * s in f32 */
K void dyk_dequantize(const void *x, int ex, float *y, i64 n, i64 channels,
                      i64 inner, const i64 *blk, const float *scale,
                      const int32_t *zp) {
  for (i64 i = 0; i < n; i++) {
    i64 c = qparam(i, channels, inner, blk);
    y[i] = (float)(ld(x, ex, i) - zp[c]) * scale[c];
  }
}

/* dequantize with run-time parameters: a scalar f32 scale and a zero point
 * of x's type (NULL: 0) */
K void dyk_dequantize_rt(const void *x, int ex, float *y, i64 n,
                         const float *scale, const void *zp) {
  float s = *scale;
  i64 z = zp ? ld(zp, ex, 0) : 0;
  for (i64 i = 0; i < n; i++)
    y[i] = (float)(ld(x, ex, i) - z) * s;
}

/* ONNX DynamicQuantizeLinear in f32 (lib/interp/quant.c): x's range with
 * 0 onto u8. A NaN is skipped by the range and quantizes to 0. */
K void dyk_dynamic_quantize(const float *x, i64 n, uint8_t *y, float *scale_out,
                            uint8_t *zp_out) {
  float lo = 0, hi = 0;
  for (i64 i = 0; i < n; i++) {
    float v = x[i];
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  float scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
  float z = 0.0f - lo / scale;
  z = z < 0 ? 0 : z > 255 ? 255 : z;
  double zp = round_half_even((double)z);
  for (i64 i = 0; i < n; i++) {
    double q = (double)(x[i] / scale);
    double r = q == q ? round_half_even(q) + zp : 0;
    r = r < 0 ? 0 : r > 255 ? 255 : r;
    y[i] = (uint8_t)r;
  }
  *scale_out = scale;
  *zp_out = (uint8_t)zp;
}

/* --- data movement --- */

/* Copies runs: {dst, src operand (-1: fill), src, count} in elements of
 * esize bytes. */
K void dyk_move_runs(void *y, const void *const *src, const i64 *runs,
                     i64 nruns, i64 esize, const void *fill) {
  uint8_t *py = y;
  for (i64 r = 0; r < nruns; r++) {
    const i64 *q = runs + 4 * r;
    uint8_t *d = py + q[0] * esize;
    if (q[1] < 0) { /* fill with value q[2] of the fill table */
      const uint8_t *f = (const uint8_t *)fill + q[2] * esize;
      for (i64 i = 0; i < q[3]; i++)
        for (i64 b = 0; b < esize; b++)
          d[i * esize + b] = f[b];
    } else {
      const uint8_t *s = (const uint8_t *)src[q[1]] + q[2] * esize;
      for (i64 i = 0; i < q[3] * esize; i++)
        d[i] = s[i];
    }
  }
}

/* y[i] = x[idx[i]], a gather (transpose) */
K void dyk_gather(void *y, const void *x, const int32_t *idx, i64 n,
                  i64 esize) {
  uint8_t *py = y;
  const uint8_t *px = x;
  for (i64 i = 0; i < n; i++)
    for (i64 b = 0; b < esize; b++)
      py[i * esize + b] = px[(i64)idx[i] * esize + b];
}

/* --- f32 kernels (lib/interp/real.c): computed in f32 with the same
 * formulas; results agree with the interpreter's double arithmetic to
 * about 1e-6 relative (test/CodeGen checks 1e-5) --- */

K void dyk_conv2d_f(const float *x, const float *w, const float *b, float *y,
                    i64 N, i64 H, i64 W, i64 C, i64 OC, i64 KH, i64 KW, i64 CG,
                    i64 OH, i64 OW, i64 s0, i64 s1, i64 p0, i64 p1, i64 d0,
                    i64 d1, i64 groups) {
  i64 ocpg = OC / groups;
  for (i64 n = 0; n < N; n++)
    for (i64 oh = 0; oh < OH; oh++)
      for (i64 ow = 0; ow < OW; ow++)
        for (i64 oc = 0; oc < OC; oc++) {
          i64 grp = oc / ocpg;
          float acc = 0;
          for (i64 kh = 0; kh < KH; kh++) {
            i64 ih = oh * s0 - p0 + kh * d0;
            if (ih < 0 || ih >= H)
              continue;
            for (i64 kw = 0; kw < KW; kw++) {
              i64 iw = ow * s1 - p1 + kw * d1;
              if (iw < 0 || iw >= W)
                continue;
              const float *xp = x + ((n * H + ih) * W + iw) * C + grp * CG;
              const float *wp = w + ((oc * KH + kh) * KW + kw) * CG;
              for (i64 ic = 0; ic < CG; ic++)
                acc += xp[ic] * wp[ic];
            }
          }
          y[((n * OH + oh) * OW + ow) * OC + oc] = acc + (b ? b[oc] : 0.0f);
        }
}

K void dyk_matmul_f(const float *x, const float *w, const float *b, float *y,
                    i64 M, i64 Kd, i64 N, i64 batched, i64 rows) {
  for (i64 m = 0; m < M; m++) {
    const float *wm = w + (batched ? (m / rows) * Kd * N : 0);
    for (i64 j = 0; j < N; j++)
      y[m * N + j] = b ? b[j] : 0.0f;
    for (i64 k = 0; k < Kd; k++) {
      float xv = x[m * Kd + k];
      for (i64 j = 0; j < N; j++)
        y[m * N + j] += xv * wm[k * N + j];
    }
  }
}

K void dyk_binary_f(const float *a, const float *b, float *y, i64 n, int op,
                    int rank, const i64 *dy, const i64 *sa, const i64 *sb) {
  for (i64 i = 0; i < n; i++) {
    float va = a[rank ? bidx(i, rank, dy, sa) : i];
    float vb = b[rank ? bidx(i, rank, dy, sb) : i];
    y[i] = op ? va * vb : va + vb;
  }
}

/* e^x in double: x = k ln2 + r, |r| <= ln2/2, a degree-13 Taylor
 * polynomial (error below 1e-16 relative), times 2^k built in the
 * exponent bits. */
static inline double exp_d(double x) {
  if (!(x == x))
    return x;
  if (x > 709.0)
    return 1.0 / 0.0;
  if (x < -745.0)
    return 0.0;
  double kf = x * 1.4426950408889634;
  i64 k = (i64)(kf >= 0 ? kf + 0.5 : kf - 0.5);
  double r =
      (x - (double)k * 0.6931471805599453) - (double)k * 2.3190468138462996e-17;
  double p = 1.0 / 6227020800.0;
  static const double inv[] = {1.0 / 479001600.0,
                               1.0 / 39916800.0,
                               1.0 / 3628800.0,
                               1.0 / 362880.0,
                               1.0 / 40320.0,
                               1.0 / 5040.0,
                               1.0 / 720.0,
                               1.0 / 120.0,
                               1.0 / 24.0,
                               1.0 / 6.0,
                               0.5,
                               1.0,
                               1.0};
  for (int i = 0; i < 13; i++)
    p = p * r + inv[i];
  /* 2^k in two steps so that k down to -1074 stays representable */
  i64 k1 = k / 2, k2 = k - k1;
  union {
    double d;
    uint64_t u;
  } s1, s2;
  s1.u = (uint64_t)(k1 + 1023) << 52;
  s2.u = (uint64_t)(k2 + 1023) << 52;
  return p * s1.d * s2.d;
}

/* op: 0 relu, 1 clip, 2 hardswish, 3 sigmoid, 4 tanh */
K void dyk_unary_f(const float *x, float *y, i64 n, int op, float lo,
                   float hi) {
  for (i64 i = 0; i < n; i++) {
    double v = x[i], r;
    switch (op) {
    case 0:
      r = v < 0 ? 0 : v;
      break;
    case 1:
      r = v < lo ? lo : v;
      r = r > hi ? hi : r;
      break;
    case 2: {
      double t = v + 3;
      t = t < 0 ? 0 : t;
      t = t > 6 ? 6 : t;
      r = v * t / 6;
      break;
    }
    case 3:
      r = 1 / (1 + exp_d(-v));
      break;
    default: {
      /* tanh x = 1 - 2 / (e^{2x} + 1), odd */
      double a = v < 0 ? -v : v;
      double t = a > 20 ? 1.0 : 1 - 2 / (exp_d(2 * a) + 1);
      if (a < 1e-5)
        t = a; /* tanh x = x - x^3/3: below 1e-15 relative here */
      r = v < 0 ? -t : t;
      if (!(v == v))
        r = v;
      break;
    }
    }
    y[i] = (float)r;
  }
}

K void dyk_softmax_f(const float *x, float *y, i64 outer, i64 len, i64 inner) {
  for (i64 o = 0; o < outer; o++)
    for (i64 i = 0; i < inner; i++) {
      const float *xp = x + o * len * inner + i;
      float *yp = y + o * len * inner + i;
      double mx = -1.0 / 0.0, sum = 0;
      for (i64 j = 0; j < len; j++)
        if (xp[j * inner] > mx || !(xp[j * inner] == xp[j * inner]))
          mx = xp[j * inner];
      for (i64 j = 0; j < len; j++)
        sum += exp_d(xp[j * inner] - mx);
      for (i64 j = 0; j < len; j++)
        yp[j * inner] = (float)(exp_d(xp[j * inner] - mx) / sum);
    }
}

K void dyk_pool_f(const float *x, float *y, i64 N, i64 H, i64 W, i64 C, i64 OH,
                  i64 OW, i64 d0, i64 d1, const i64 *wh, const i64 *ww,
                  int is_max, int include_pad) {
  for (i64 n = 0; n < N; n++)
    for (i64 oh = 0; oh < OH; oh++)
      for (i64 ow = 0; ow < OW; ow++) {
        const i64 *h = wh + 4 * oh, *w = ww + 4 * ow;
        i64 cells = (h[2] - h[1]) * (w[2] - w[1]);
        i64 div = include_pad ? h[3] * w[3] : cells;
        for (i64 c = 0; c < C; c++) {
          double mx = -1.0 / 0.0, sum = 0;
          for (i64 kh = h[1]; kh < h[2]; kh++)
            for (i64 kw = w[1]; kw < w[2]; kw++) {
              double v =
                  x[((n * H + h[0] + kh * d0) * W + w[0] + kw * d1) * C + c];
              if (mx == mx && (v > mx || !(v == v)))
                mx = v;
              sum += v;
            }
          y[((n * OH + oh) * OW + ow) * C + c] =
              (float)(is_max ? mx : sum / (double)div);
        }
      }
}

/* batchnorm in double, rounded once to f32 (lib/interp/real.c):
 * (x - mean) / sqrt(var + eps) * scale + bias along the last axis (C) */
K void dyk_batchnorm_f(const float *x, const float *scale, const float *bias,
                       const float *mean, const float *var, float *y, i64 n,
                       i64 C, double eps) {
  for (i64 i = 0; i < n; i++) {
    i64 c = i % C;
    double den = __builtin_sqrt((double)var[c] + eps);
    y[i] = (float)(((double)x[i] - (double)mean[c]) / den * (double)scale[c] +
                   (double)bias[c]);
  }
}

K void dyk_global_avgpool_f(const float *x, float *y, i64 N, i64 HW, i64 C) {
  for (i64 n = 0; n < N; n++)
    for (i64 c = 0; c < C; c++) {
      double sum = 0;
      for (i64 i = 0; i < HW; i++)
        sum += x[(n * HW + i) * C + c];
      y[n * C + c] = (float)(sum / (double)HW);
    }
}
