/* dyad's dot-product kernels: the integer conv2d (one group) and matmul
 * with constant weights, on each target's 8-bit dot-product instructions.
 * Compiled to bitcode for every architecture with the others
 * (codegen/kernels/generic.c); each kernel carries the target features its
 * instructions need, and lower-target (passes/lower_target.c) calls one
 * only when the target has them.
 *
 * What lower-target prepares (docs/codegen.md, "Dot-product kernels"):
 * `packed`, a constant blob of
 *   - OCp i32 biases, 64-byte padded: b[oc] - (zx + ox) * sum_k wc[oc][k]
 *     (mod 2^32), the layer's bias with the zero-point compensation folded
 *     in, and
 *   - the weights wc = w - zw[oc] as s8, in blocks of NR output channels
 *     by KR reduction steps: byte ((nb * Kp/KR + g) * NR + j) * KR + r holds
 *     wc[nb*NR + j][g*KR + r], zero past OC and K (OCp, Kp: OC, K rounded
 *     up to NR, KR).
 * The kernel gathers each output pixel's receptive field (kh, kw, ic
 * order: the weights' OHWI order) into a row of Kp bytes, padding with the
 * input zero point zx, and xors it with 0x80 when the instruction wants the
 * other signedness (ox = +128 turns s8 into u8, -128 u8 into s8). Then
 *   sum_k (x - zx) * wc = sum_k (x + ox) * wc - (zx + ox) * sum_k wc
 * and the blob's bias carries the second term: the instruction's sum plus
 * the bias is the exact accumulator, modulo 2^32 as in generic.c. A fused
 * requant (and its clamp) is applied before the store.
 *
 * With packed_bits = 4 the weights are stored two to a byte (low nibble
 * first, each a signed 4-bit value) and widened into the scratch per call.
 *
 * The work space: `scratch`, ROWS * OCp i32 accumulators then ROWS rows of
 * Kp elements (bytes, or i16 for the vpmaddwd kernel), then (4-bit
 * weights, 64-byte aligned) the OCp * Kp widened weights. */
#include "common.h"

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#elif defined(__riscv)
#include <riscv_vector.h>
#endif

typedef void (*Micro)(const void *rows, const int8_t *pw, int32_t *acc, i64 Kp,
                      i64 OCp);

static inline i64 bias_bytes(i64 OCp) { return (OCp * 4 + 63) / 64 * 64; }

static inline int32_t load32(const void *p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

/* The receptive field of output pixel m as one row. wide: i16 elements
 * (the stored values widened), else bytes xored with flip. */
static inline __attribute__((always_inline)) void
gather(void *row, int wide, unsigned flip, const void *x, int ex, i64 m, i64 H,
       i64 W, i64 C, i64 KH, i64 KW, i64 OH, i64 OW, i64 s0, i64 s1, i64 p0,
       i64 p1, i64 d0, i64 d1, i64 zx, i64 Kp) {
  uint8_t *r8 = (uint8_t *)row;
  int16_t *r16 = (int16_t *)row;
  i64 n = m / (OH * OW), oh = m / OW % OH, ow = m % OW, k = 0;
  for (i64 kh = 0; kh < KH; kh++) {
    i64 ih = oh * s0 - p0 + kh * d0;
    for (i64 kw = 0; kw < KW; kw++) {
      i64 iw = ow * s1 - p1 + kw * d1;
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) {
        for (i64 ic = 0; ic < C; ic++, k++)
          if (wide)
            r16[k] = (int16_t)zx;
          else
            r8[k] = (uint8_t)((uint8_t)zx ^ flip);
        continue;
      }
      i64 base = ((n * H + ih) * W + iw) * C;
      if (wide) {
        for (i64 ic = 0; ic < C; ic++, k++)
          r16[k] = (int16_t)ld(x, ex, base + ic);
      } else {
        const uint8_t *src = (const uint8_t *)x + base;
        for (i64 ic = 0; ic < C; ic++, k++)
          r8[k] = (uint8_t)(src[ic] ^ flip);
      }
    }
  }
  for (; k < Kp; k++)
    if (wide)
      r16[k] = 0;
    else
      r8[k] = 0;
}

/* Bias, then the requant if one is fused (mult or scale given), else the
 * i32 accumulator itself. */
static inline __attribute__((always_inline)) void
epilogue(const int32_t *acc, const int32_t *bias, void *y, int ey, i64 base,
         i64 OC, i64 nch, i64 in_zp, i64 out_zp, const i64 *mult,
         const i64 *shift, int mode, i64 lo, i64 hi, const double *scale) {
  for (i64 oc = 0; oc < OC; oc++) {
    int32_t v = (int32_t)((uint32_t)acc[oc] + (uint32_t)bias[oc]);
    if (!mult && !scale) {
      st(y, ey, base + oc, v);
      continue;
    }
    i64 c = nch > 1 ? oc : 0;
    st(y, ey, base + oc,
       requant_value((i64)v - in_zp, mode, mult ? mult[c] : 0,
                     mult ? shift[c] : 0, scale ? scale + c : 0, out_zp, lo,
                     hi));
  }
}

/* One conv2d (or matmul: H = 1, W = rows, C = K, 1x1 window) through the
 * microkernel mk, which computes `rows` rows of OCp accumulators. */
static inline __attribute__((always_inline)) void
drive(Micro mk, int rows, int wide, i64 NR, i64 KR, const void *x, int ex,
      unsigned flip, const uint8_t *packed, void *y, int ey, uint8_t *scratch,
      i64 N, i64 H, i64 W, i64 C, i64 OC, i64 KH, i64 KW, i64 OH, i64 OW,
      i64 s0, i64 s1, i64 p0, i64 p1, i64 d0, i64 d1, i64 zx, i64 nch,
      i64 in_zp, i64 out_zp, const i64 *mult, const i64 *shift, int mode,
      i64 lo, i64 hi, const double *scale, int w4) {
  i64 OCp = (OC + NR - 1) / NR * NR;
  i64 Kp = (KH * KW * C + KR - 1) / KR * KR;
  const int32_t *bias = (const int32_t *)packed;
  const int8_t *pw = (const int8_t *)(packed + bias_bytes(OCp));
  int32_t *acc = (int32_t *)scratch;
  uint8_t *row = scratch + rows * OCp * 4;
  i64 esz = wide ? 2 : 1, M = N * OH * OW;
  if (w4) {
    /* 4-bit weights, two to a byte (low nibble first): widened to s8 in
     * the scratch after the rows, once per call */
    int8_t *wb =
        (int8_t *)(scratch + (rows * (OCp * 4 + Kp * esz) + 63) / 64 * 64);
    const uint8_t *src = (const uint8_t *)pw;
    for (i64 i = 0; i < OCp * Kp / 2; i++) {
      wb[2 * i] = (int8_t)(uint8_t)(src[i] << 4) >> 4;
      wb[2 * i + 1] = (int8_t)src[i] >> 4;
    }
    pw = wb;
  }
  for (i64 m0 = 0; m0 < M; m0 += rows) {
    for (int r = 0; r < rows; r++) {
      i64 m = m0 + r < M ? m0 + r : M - 1; /* a short tile repeats a row */
      gather(row + r * Kp * esz, wide, flip, x, ex, m, H, W, C, KH, KW, OH, OW,
             s0, s1, p0, p1, d0, d1, zx, Kp);
    }
    mk(row, pw, acc, Kp, OCp);
    for (int r = 0; r < rows && m0 + r < M; r++)
      epilogue(acc + r * OCp, bias, y, ey, (m0 + r) * OC, OC, nch, in_zp,
               out_zp, mult, shift, mode, lo, hi, scale);
  }
}

#define DOT_PARAMS                                                             \
  const void *x, int ex, unsigned flip, const uint8_t *packed, void *y,        \
      int ey, uint8_t *scratch, i64 N, i64 H, i64 W, i64 C, i64 OC, i64 KH,    \
      i64 KW, i64 OH, i64 OW, i64 s0, i64 s1, i64 p0, i64 p1, i64 d0, i64 d1,  \
      i64 zx, i64 nch, i64 in_zp, i64 out_zp, const i64 *mult,                 \
      const i64 *shift, int mode, i64 lo, i64 hi, const double *scale, int w4
#define DOT_ARGS                                                               \
  x, ex, flip, packed, y, ey, scratch, N, H, W, C, OC, KH, KW, OH, OW, s0, s1, \
      p0, p1, d0, d1, zx, nch, in_zp, out_zp, mult, shift, mode, lo, hi,       \
      scale, w4

/* A kernel: name, target features, microkernel, rows, wide, NR, KR. */
#define DOT_KERNEL(name, feats, mk, rows, wide, NR, KR)                        \
  K feats void dyk_dot_##name(DOT_PARAMS) {                                    \
    drive(mk, rows, wide, NR, KR, DOT_ARGS);                                   \
  }

#if defined(__x86_64__)

#define T_VNNI512 __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define T_AVXVNNI __attribute__((target("avx2,avxvnni")))
#define T_AVX2 __attribute__((target("avx2")))

/* vpdpbusd on zmm: 16 channels by 4 u8 x s8 products per instruction. */
T_VNNI512 static void mk_vnni512(const void *rows, const int8_t *pw,
                                 int32_t *acc, i64 Kp, i64 OCp) {
  const uint8_t *a = rows;
  i64 G = Kp / 4;
  for (i64 nb = 0; nb < OCp / 16; nb++) {
    const int8_t *w = pw + nb * G * 64;
    __m512i s = _mm512_setzero_si512();
    for (i64 g = 0; g < G; g++)
      s = _mm512_dpbusd_epi32(s, _mm512_set1_epi32(load32(a + 4 * g)),
                              _mm512_loadu_si512(w + 64 * g));
    _mm512_storeu_si512(acc + 16 * nb, s);
  }
}

/* AVX-VNNI vpdpbusd on ymm: 8 channels. */
T_AVXVNNI static void mk_avxvnni(const void *rows, const int8_t *pw,
                                 int32_t *acc, i64 Kp, i64 OCp) {
  const uint8_t *a = rows;
  i64 G = Kp / 4;
  for (i64 nb = 0; nb < OCp / 8; nb++) {
    const int8_t *w = pw + nb * G * 32;
    __m256i s = _mm256_setzero_si256();
    for (i64 g = 0; g < G; g++)
      s = _mm256_dpbusd_avx_epi32(
          s, _mm256_set1_epi32(load32(a + 4 * g)),
          _mm256_loadu_si256((const __m256i *)(w + 32 * g)));
    _mm256_storeu_si256((__m256i *)(acc + 8 * nb), s);
  }
}

/* AVX2 vpmaddubsw (u8 x s8 pairs to i16) then vpmaddwd by ones (pairs to
 * i32): the same sums as vpdpbusd while no i16 pair sum saturates, which
 * lower-target guarantees by choosing it only for weights in [-64, 64]. */
T_AVX2 static void mk_maddubs(const void *rows, const int8_t *pw, int32_t *acc,
                              i64 Kp, i64 OCp) {
  const uint8_t *a = rows;
  i64 G = Kp / 4;
  __m256i ones = _mm256_set1_epi16(1);
  for (i64 nb = 0; nb < OCp / 8; nb++) {
    const int8_t *w = pw + nb * G * 32;
    __m256i s = _mm256_setzero_si256();
    for (i64 g = 0; g < G; g++) {
      __m256i p = _mm256_maddubs_epi16(
          _mm256_set1_epi32(load32(a + 4 * g)),
          _mm256_loadu_si256((const __m256i *)(w + 32 * g)));
      s = _mm256_add_epi32(s, _mm256_madd_epi16(p, ones));
    }
    _mm256_storeu_si256((__m256i *)(acc + 8 * nb), s);
  }
}

/* AVX2 vpmaddwd on i16: the activations widened in the row, the weights
 * sign-extended as loaded (vpmovsxbw); exact for any 8-bit operands. */
T_AVX2 static void mk_maddwd(const void *rows, const int8_t *pw, int32_t *acc,
                             i64 Kp, i64 OCp) {
  const int16_t *a = rows;
  i64 G = Kp / 2;
  for (i64 nb = 0; nb < OCp / 8; nb++) {
    const int8_t *w = pw + nb * G * 16;
    __m256i s = _mm256_setzero_si256();
    for (i64 g = 0; g < G; g++) {
      __m256i wv =
          _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + 16 * g)));
      s = _mm256_add_epi32(
          s, _mm256_madd_epi16(_mm256_set1_epi32(load32(a + 2 * g)), wv));
    }
    _mm256_storeu_si256((__m256i *)(acc + 8 * nb), s);
  }
}

/* SSE2 pmaddwd (the x86-64 baseline): the weights sign-extended by
 * unpacking with themselves and an arithmetic shift (SSE2 has no
 * pmovsxbw); 4 channels by 2 steps per instruction. */
static void mk_pmaddwd(const void *rows, const int8_t *pw, int32_t *acc, i64 Kp,
                       i64 OCp) {
  const int16_t *a = rows;
  i64 G = Kp / 2;
  for (i64 nb = 0; nb < OCp / 4; nb++) {
    const int8_t *w = pw + nb * G * 8;
    __m128i s = _mm_setzero_si128();
    for (i64 g = 0; g < G; g++) {
      __m128i b = _mm_loadl_epi64((const __m128i *)(w + 8 * g));
      __m128i wv = _mm_srai_epi16(_mm_unpacklo_epi8(b, b), 8);
      s = _mm_add_epi32(s,
                        _mm_madd_epi16(_mm_set1_epi32(load32(a + 2 * g)), wv));
    }
    _mm_storeu_si128((__m128i *)(acc + 4 * nb), s);
  }
}

DOT_KERNEL(vpdpbusd_512, T_VNNI512, mk_vnni512, 1, 0, 16, 4)
DOT_KERNEL(vpdpbusd_256, T_AVXVNNI, mk_avxvnni, 1, 0, 8, 4)
DOT_KERNEL(vpmaddubsw, T_AVX2, mk_maddubs, 1, 0, 8, 4)
DOT_KERNEL(vpmaddwd, T_AVX2, mk_maddwd, 1, 1, 8, 2)
DOT_KERNEL(pmaddwd, , mk_pmaddwd, 1, 1, 4, 2)

#elif defined(__aarch64__)

#define T_DOTPROD __attribute__((target("dotprod")))
#define T_I8MM __attribute__((target("dotprod,i8mm")))
#define T_NEON

/* sdot: 4 channels by 4 s8 x s8 products per instruction, 16 channels per
 * block (four registers). */
T_DOTPROD static void mk_sdot(const void *rows, const int8_t *pw, int32_t *acc,
                              i64 Kp, i64 OCp) {
  const uint8_t *a = rows;
  i64 G = Kp / 4;
  for (i64 nb = 0; nb < OCp / 16; nb++) {
    const int8_t *w = pw + nb * G * 64;
    int32x4_t s0 = vdupq_n_s32(0), s1 = s0, s2 = s0, s3 = s0;
    for (i64 g = 0; g < G; g++) {
      int8x16_t av = vreinterpretq_s8_s32(vdupq_n_s32(load32(a + 4 * g)));
      const int8_t *wg = w + 64 * g;
      s0 = vdotq_s32(s0, vld1q_s8(wg), av);
      s1 = vdotq_s32(s1, vld1q_s8(wg + 16), av);
      s2 = vdotq_s32(s2, vld1q_s8(wg + 32), av);
      s3 = vdotq_s32(s3, vld1q_s8(wg + 48), av);
    }
    vst1q_s32(acc + 16 * nb, s0);
    vst1q_s32(acc + 16 * nb + 4, s1);
    vst1q_s32(acc + 16 * nb + 8, s2);
    vst1q_s32(acc + 16 * nb + 12, s3);
  }
}

/* usdot: as sdot with u8 activations (no flip for u8 inputs). */
T_I8MM static void mk_usdot(const void *rows, const int8_t *pw, int32_t *acc,
                            i64 Kp, i64 OCp) {
  const uint8_t *a = rows;
  i64 G = Kp / 4;
  for (i64 nb = 0; nb < OCp / 16; nb++) {
    const int8_t *w = pw + nb * G * 64;
    int32x4_t s0 = vdupq_n_s32(0), s1 = s0, s2 = s0, s3 = s0;
    for (i64 g = 0; g < G; g++) {
      uint8x16_t av = vreinterpretq_u8_s32(vdupq_n_s32(load32(a + 4 * g)));
      const int8_t *wg = w + 64 * g;
      s0 = vusdotq_s32(s0, av, vld1q_s8(wg));
      s1 = vusdotq_s32(s1, av, vld1q_s8(wg + 16));
      s2 = vusdotq_s32(s2, av, vld1q_s8(wg + 32));
      s3 = vusdotq_s32(s3, av, vld1q_s8(wg + 48));
    }
    vst1q_s32(acc + 16 * nb, s0);
    vst1q_s32(acc + 16 * nb + 4, s1);
    vst1q_s32(acc + 16 * nb + 8, s2);
    vst1q_s32(acc + 16 * nb + 12, s3);
  }
}

/* smmla: a 2x8 tile of two rows times an 8x2 tile of two channels into a
 * 2x2 i32 tile; 8 channels per block. */
T_I8MM static void mk_smmla(const void *rows, const int8_t *pw, int32_t *acc,
                            i64 Kp, i64 OCp) {
  const int8_t *r0 = rows, *r1 = r0 + Kp;
  i64 G = Kp / 8;
  for (i64 nb = 0; nb < OCp / 8; nb++) {
    const int8_t *w = pw + nb * G * 64;
    int32x4_t s0 = vdupq_n_s32(0), s1 = s0, s2 = s0, s3 = s0;
    for (i64 g = 0; g < G; g++) {
      int8x16_t av = vcombine_s8(vld1_s8(r0 + 8 * g), vld1_s8(r1 + 8 * g));
      const int8_t *wg = w + 64 * g;
      s0 = vmmlaq_s32(s0, av, vld1q_s8(wg));
      s1 = vmmlaq_s32(s1, av, vld1q_s8(wg + 16));
      s2 = vmmlaq_s32(s2, av, vld1q_s8(wg + 32));
      s3 = vmmlaq_s32(s3, av, vld1q_s8(wg + 48));
    }
    int32_t *o0 = acc + 8 * nb, *o1 = acc + OCp + 8 * nb;
    vst1_s32(o0, vget_low_s32(s0));
    vst1_s32(o1, vget_high_s32(s0));
    vst1_s32(o0 + 2, vget_low_s32(s1));
    vst1_s32(o1 + 2, vget_high_s32(s1));
    vst1_s32(o0 + 4, vget_low_s32(s2));
    vst1_s32(o1 + 4, vget_high_s32(s2));
    vst1_s32(o0 + 6, vget_low_s32(s3));
    vst1_s32(o1 + 6, vget_high_s32(s3));
  }
}

/* NEON without dotprod: smull/smull2 (s8 x s8 to i16, exact) and sadalp
 * (pairs into i32), one channel's row of 16-byte steps at a time. */
static void mk_smull(const void *rows, const int8_t *pw, int32_t *acc, i64 Kp,
                     i64 OCp) {
  const int8_t *a = rows;
  for (i64 oc = 0; oc < OCp; oc++) {
    const int8_t *w = pw + oc * Kp;
    int32x4_t s = vdupq_n_s32(0);
    for (i64 k = 0; k < Kp; k += 16) {
      int8x16_t av = vld1q_s8(a + k), wv = vld1q_s8(w + k);
      s = vpadalq_s16(s, vmull_s8(vget_low_s8(av), vget_low_s8(wv)));
      s = vpadalq_s16(s, vmull_high_s8(av, wv));
    }
    acc[oc] = vaddvq_s32(s);
  }
}

DOT_KERNEL(sdot, T_DOTPROD, mk_sdot, 1, 0, 16, 4)
DOT_KERNEL(usdot, T_I8MM, mk_usdot, 1, 0, 16, 4)
DOT_KERNEL(smmla, T_I8MM, mk_smmla, 2, 0, 8, 8)
DOT_KERNEL(smull, T_NEON, mk_smull, 1, 0, 1, 16)

#elif defined(__riscv)

#define T_RVV __attribute__((target("arch=+v")))

/* RISC-V V, vector length agnostic: s8 loads widened to i16 (vsext), then
 * vwmacc into i32 lanes (tail undisturbed), reduced per channel. */
T_RVV static void mk_vwmacc(const void *rows, const int8_t *pw, int32_t *acc,
                            i64 Kp, i64 OCp) {
  const int8_t *a = rows;
  size_t vlmax = __riscv_vsetvlmax_e32m2();
  for (i64 oc = 0; oc < OCp; oc++) {
    const int8_t *w = pw + oc * Kp;
    vint32m2_t s = __riscv_vmv_v_x_i32m2(0, vlmax);
    for (i64 k = 0; k < Kp;) {
      size_t vl = __riscv_vsetvl_e8mf2((size_t)(Kp - k));
      vint16m1_t av =
          __riscv_vsext_vf2_i16m1(__riscv_vle8_v_i8mf2(a + k, vl), vl);
      vint16m1_t wv =
          __riscv_vsext_vf2_i16m1(__riscv_vle8_v_i8mf2(w + k, vl), vl);
      s = __riscv_vwmacc_vv_i32m2_tu(s, av, wv, vl);
      k += (i64)vl;
    }
    vint32m1_t z = __riscv_vmv_v_x_i32m1(0, 1);
    acc[oc] =
        __riscv_vmv_x_s_i32m1_i32(__riscv_vredsum_vs_i32m2_i32m1(s, z, vlmax));
  }
}

DOT_KERNEL(vwmacc, T_RVV, mk_vwmacc, 1, 0, 1, 8)

#endif
