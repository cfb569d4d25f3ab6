/* dyad-ktest: the random kernel tester (docs/codegen.md, "Tests").
 *
 *   dyad-ktest --seed=S --cases=N -o PREFIX [--target=T] [--mcpu=C]
 *              [--mattr=M] [-O0..3] [--kinds=a,b,...]
 *
 * Draws N random layers of every kernel the integer graph can hold (odd
 * sizes, vector tails, padding, strides, dilations, groups, extreme zero
 * points, every rounding mode, i4 weights, i16 activations, ...), each a
 * small graph of its own, runs each through the reference interpreter on
 * random inputs, and joins them into one graph that it lowers and compiles
 * for the target. It writes
 *   PREFIX.dy      the joined graph (a reproducer: dyad run, dyad compile)
 *   PREFIX.o/.h    the compiled graph
 *   PREFIX_main.c  a harness holding the inputs and the interpreter's
 *                  outputs: built with PREFIX.o and run (natively or under
 *                  qemu), it calls NAME_run once and compares every output
 *                  bit for bit, naming the case of each difference.
 * The same seed gives the same cases. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dyad/codegen.h"
#include "dyad/fileio.h"
#include "dyad/interp.h"
#include "dyad/pass.h"
#include "dyad/requant.h"
#include "dyad/text.h"

/* --- random numbers (splitmix64) --- */

static uint64_t rng_state;

static uint64_t rnd64(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* uniform in [lo, hi] */
static int64_t rnd(int64_t lo, int64_t hi) {
  return lo + (int64_t)(rnd64() % (uint64_t)(hi - lo + 1));
}

static double rndf(void) {
  return (double)(rnd64() >> 11) / 9007199254740992.0;
}

static int chance(double p) { return rndf() < p; }

/* --- text --- */

typedef struct Buf {
  char *s;
  size_t n, cap;
} Buf;

static void bput(Buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void bput(Buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (k < 0)
    return;
  if (b->n + (size_t)k + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + (size_t)k + 1)
      cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
      fputs("dyad-ktest: out of memory\n", stderr);
      exit(2);
    }
    b->s = s;
    b->cap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(b->s + b->n, (size_t)k + 1, fmt, ap);
  va_end(ap);
  b->n += (size_t)k;
}

static void bfree(Buf *b) {
  free(b->s);
  memset(b, 0, sizeof *b);
}

/* --- element types --- */

typedef struct Elem {
  const char *name;
  int64_t lo, hi;
} Elem;

static const Elem E_I8 = {"i8", -128, 127}, E_U8 = {"u8", 0, 255},
                  E_I16 = {"i16", -32768, 32767},
                  E_I32 = {"i32", INT32_MIN, INT32_MAX}, E_I4 = {"i4", -8, 7},
                  E_U4 = {"u4", 0, 15};

/* A zero point: often an extreme of the range, else anywhere in it. */
static int64_t rnd_zp(const Elem *e) {
  switch (rnd(0, 4)) {
  case 0:
    return e->lo;
  case 1:
    return e->hi;
  case 2:
    return e->lo < 0 ? 0 : e->lo;
  default:
    return rnd(e->lo, e->hi);
  }
}

static void dims_text(Buf *b, const int64_t *d, int rank) {
  for (int i = 0; i < rank; i++)
    bput(b, "%lldx", (long long)d[i]);
}

/* tensor<DIMSxE> or, with scale > 0, a per-tensor quantized type. */
static void type_text(Buf *b, const int64_t *d, int rank, const Elem *e,
                      double scale, int64_t zp) {
  bput(b, "tensor<");
  dims_text(b, d, rank);
  if (scale > 0)
    bput(b, "!quant.uniform<%s:f32, %g:%lld>>", e->name, scale, (long long)zp);
  else
    bput(b, "%s>", e->name);
}

/* A per-axis quantized type with the given zero points. */
static void axis_type_text(Buf *b, const int64_t *d, int rank, const Elem *e,
                           int axis, const int64_t *zps) {
  bput(b, "tensor<");
  dims_text(b, d, rank);
  bput(b, "!quant.uniform<%s:f32:%d, {", e->name, axis);
  for (int64_t i = 0; i < d[axis]; i++)
    bput(b, "%s%g:%lld", i ? ", " : "", 0.01 * (double)(i % 7 + 1),
         (long long)zps[i]);
  bput(b, "}>>");
}

static void ints_text(Buf *b, const int64_t *v, int64_t n) {
  bput(b, "[");
  for (int64_t i = 0; i < n; i++)
    bput(b, "%s%lld", i ? ", " : "", (long long)v[i]);
  bput(b, "]");
}

/* --- cases --- */

#define MAX_IN 4

typedef struct Input {
  char name[48];
  int64_t lo, hi; /* integer data range */
  int is_f32;
} Input;

typedef struct Case {
  const char *kind;
  char desc[320];
  int id;
  Buf sig, body, rtype;
  char ret[48];
  Input in[MAX_IN];
  int nin;
  /* filled by the interpreter */
  DyTensor inputs[MAX_IN], out;
} Case;

static char *vname(Case *c, const char *base) {
  static char buf[8][48];
  static int k;
  k = (k + 1) % 8;
  snprintf(buf[k], sizeof buf[k], "c%d_%s", c->id, base);
  return buf[k];
}

/* Declares an input of the case with its type text and data range. */
static void add_input(Case *c, const char *base, const char *type, int64_t lo,
                      int64_t hi, int is_f32) {
  Input *in = &c->in[c->nin++];
  snprintf(in->name, sizeof in->name, "c%d_%s", c->id, base);
  in->lo = lo;
  in->hi = hi;
  in->is_f32 = is_f32;
  bput(&c->sig, "%s%%%s: %s", c->sig.n ? ", " : "", in->name, type);
}

static void set_result(Case *c, const char *base, const char *type) {
  snprintf(c->ret, sizeof c->ret, "c%d_%s", c->id, base);
  bput(&c->rtype, "%s", type);
}

static const Elem *rnd_act(void) {
  int r = (int)rnd(0, 19);
  return r < 9 ? &E_I8 : r < 17 ? &E_U8 : &E_I16;
}

/* --no-float-to-int: no case converts float to integer (requant "float",
 * quantize): QEMU 7.2's RISC-V V emulation (Debian 12) aborts on
 * vfcvt.rtz.x.f.v (QEMU issue 1441, fixed in 8.0). */
static int no_f2i;

static const char *const roundings[] = {"tflite-double", "tflite-single",
                                        "tosa-single", "tosa-double", "float"};

/* A requant of %src (an i32 accumulator of shape d) into a random 8- or
 * 16-bit type, result `base`; `spread` estimates the accumulator's size.
 * Per channel on the last axis when per_channel. Returns 0 when no
 * multiplier fits (the case is drawn again). */
static int add_requant(Case *c, const char *src, const int64_t *d, int rank,
                       double spread, int per_channel, const char *base,
                       char *rdesc, size_t rn) {
  const Elem *oe = chance(0.15) ? &E_I16 : chance(0.5) ? &E_U8 : &E_I8;
  int64_t ozp = rnd_zp(oe), izp = chance(0.2) ? rnd(-1000, 1000) : 0;
  int mode = (int)rnd(0, no_f2i ? 3 : 4);
  int64_t n = per_channel ? d[rank - 1] : 1;
  int64_t *M = malloc((size_t)n * sizeof *M),
          *S = malloc((size_t)n * sizeof *S);
  double *real = malloc((size_t)n * sizeof *real);
  int64_t smin = -31, smax = 29;
  if (mode < 4)
    dy_rounding_shift_range((DyRounding)mode, &smin, &smax);
  int ok = M && S && real;
  for (int64_t i = 0; ok && i < n; i++) {
    real[i] = (double)(oe->hi - oe->lo) / (spread + 1) * exp(rndf() * 4 - 2);
    if (dy_quantize_multiplier(real[i], &M[i], &S[i]) || S[i] < smin ||
        S[i] > smax)
      ok = 0;
  }
  if (ok) {
    Buf t = {0};
    type_text(&t, d, rank, oe, 0.05, ozp);
    bput(&c->body, "  %%%s = requant %%%s {", vname(c, base), src);
    if (per_channel)
      bput(&c->body, "axis = %d, ", rank - 1);
    if (mode == 4) {
      bput(&c->body, "scale = [");
      for (int64_t i = 0; i < n; i++)
        bput(&c->body, "%s%.17g", i ? ", " : "", real[i]);
      bput(&c->body, "]");
    } else {
      bput(&c->body, "multiplier = ");
      ints_text(&c->body, M, n);
      bput(&c->body, ", shift = ");
      ints_text(&c->body, S, n);
    }
    bput(&c->body, ", rounding = \"%s\", input_zp = %lld, output_zp = %lld",
         roundings[mode], (long long)izp, (long long)ozp);
    int64_t clo = oe->lo, chi = oe->hi;
    if (chance(0.3)) {
      clo = rnd(oe->lo, (oe->lo + oe->hi) / 2);
      chi = rnd(clo, oe->hi);
      bput(&c->body, ", clamp = [%lld, %lld]", (long long)clo, (long long)chi);
    }
    bput(&c->body, "} : %s\n", t.s);
    set_result(c, base, t.s);
    snprintf(rdesc, rn, " requant->%s %s%s izp=%lld ozp=%lld clamp=[%lld,%lld]",
             oe->name, roundings[mode], per_channel ? " per-channel" : "",
             (long long)izp, (long long)ozp, (long long)clo, (long long)chi);
    bfree(&t);
  }
  free(M);
  free(S);
  free(real);
  return ok;
}

/* Weights: a random type, quantization and values; w[count] as text. */
typedef struct Weights {
  const Elem *e;
  int per_axis, axis;
  int64_t *zp; /* per_axis: one per index of axis, else zp[0] */
  Buf type;
} Weights;

static void weights_const(Case *c, Weights *w, const int64_t *d, int rank,
                          int axis) {
  int r = (int)rnd(0, 19);
  w->e = r < 9 ? &E_I8 : r < 12 ? &E_U8 : r < 16 ? &E_I4 : &E_U4;
  w->axis = axis;
  w->per_axis = chance(0.5);
  int64_t nz = w->per_axis ? d[axis] : 1;
  w->zp = calloc((size_t)nz, sizeof *w->zp);
  /* symmetric signed weights usually have zero point 0 */
  int sym = w->e->lo < 0 && chance(0.7);
  for (int64_t i = 0; i < nz; i++)
    w->zp[i] = sym ? 0 : rnd_zp(w->e);
  memset(&w->type, 0, sizeof w->type);
  if (w->per_axis)
    axis_type_text(&w->type, d, rank, w->e, axis, w->zp);
  else if (chance(0.2) && w->zp[0] == 0)
    type_text(&w->type, d, rank, w->e, 0, 0); /* plain */
  else
    type_text(&w->type, d, rank, w->e, 0.02, w->zp[0]);
  int64_t count = 1;
  for (int i = 0; i < rank; i++)
    count *= d[i];
  int narrow = w->e == &E_I8 && chance(0.5);
  /* raw storage, one byte per element for every weight type here */
  bput(&c->body, "  %%%s = const dense<\"0x", vname(c, "w"));
  for (int64_t i = 0; i < count; i++)
    bput(&c->body, "%02X",
         (unsigned)(uint8_t)rnd(narrow ? -127 : w->e->lo, w->e->hi));
  bput(&c->body, "\"> : %s\n", w->type.s);
}

static void weights_free(Weights *w) {
  free(w->zp);
  bfree(&w->type);
}

/* The activation operand of conv2d / matmul: type text, its zero point. */
static const Elem *act_input(Case *c, const int64_t *d, int rank, int64_t *zx) {
  const Elem *e = rnd_act();
  Buf t = {0};
  if (chance(0.1)) {
    *zx = 0;
    type_text(&t, d, rank, e, 0, 0);
  } else {
    *zx = e == &E_I16 ? rnd(-300, 300) : rnd_zp(e);
    type_text(&t, d, rank, e, 0.1, *zx);
  }
  add_input(c, "x", t.s, e->lo, e->hi, 0);
  bfree(&t);
  return e;
}

static void bias_const(Case *c, int64_t n) {
  bput(&c->body, "  %%%s = const dense<[", vname(c, "b"));
  for (int64_t i = 0; i < n; i++)
    bput(&c->body, "%s%lld", i ? ", " : "", (long long)rnd(-100000, 100000));
  bput(&c->body, "]> : tensor<%lldxi32>\n", (long long)n);
}

/* conv2d: general, 1x1, depthwise and grouped; strides, dilations and
 * padding; the i32 accumulator or a fused requant. */
static int gen_conv(Case *c) {
  int64_t N = rnd(1, 2), H = rnd(1, 9), W = rnd(1, 9), C, OC, groups = 1;
  int form = (int)rnd(0, 9);
  if (form < 6) { /* one group, sometimes wide */
    C = chance(0.2) ? rnd(20, 80) : rnd(1, 19);
    OC = chance(0.2) ? rnd(17, 70) : rnd(1, 17);
  } else if (form < 8) { /* depthwise */
    C = rnd(1, 24);
    groups = C;
    OC = C * rnd(1, 2);
  } else { /* grouped */
    groups = rnd(2, 3);
    C = groups * rnd(1, 5);
    OC = groups * rnd(1, 6);
  }
  int64_t KH = rnd(1, 4), KW = rnd(1, 4), s[2] = {rnd(1, 3), rnd(1, 3)},
          dl[2] = {rnd(1, 2), rnd(1, 2)}, p[4] = {0, 0, 0, 0};
  if (chance(0.2))
    KH = KW = 1, s[0] = s[1] = dl[0] = dl[1] = 1;
  int use_izp = chance(0.2);
  if (!use_izp)
    for (int i = 0; i < 4; i++)
      p[i] = chance(0.5) ? rnd(0, 2) : 0;
  if (H + p[0] + p[2] < dl[0] * (KH - 1) + 1)
    KH = 1;
  if (W + p[1] + p[3] < dl[1] * (KW - 1) + 1)
    KW = 1;
  int64_t OH = (H + p[0] + p[2] - dl[0] * (KH - 1) - 1) / s[0] + 1;
  int64_t OW = (W + p[1] + p[3] - dl[1] * (KW - 1) - 1) / s[1] + 1;
  int64_t xd[4] = {N, H, W, C}, wd[4] = {OC, KH, KW, C / groups},
          yd[4] = {N, OH, OW, OC};
  int64_t zx;
  const Elem *xe = act_input(c, xd, 4, &zx);
  Weights w;
  weights_const(c, &w, wd, 4, 0);
  int has_b = chance(0.8);
  if (has_b)
    bias_const(c, OC);
  bput(&c->body, "  %%%s = conv2d %%%s, %%%s", vname(c, "acc"), c->in[0].name,
       vname(c, "w"));
  if (has_b)
    bput(&c->body, ", %%%s", vname(c, "b"));
  bput(&c->body,
       " {strides = [%lld, %lld], dilations = [%lld, %lld], pads = [%lld, "
       "%lld, %lld, %lld], groups = %lld",
       (long long)s[0], (long long)s[1], (long long)dl[0], (long long)dl[1],
       (long long)p[0], (long long)p[1], (long long)p[2], (long long)p[3],
       (long long)groups);
  int64_t izp = 0;
  if (use_izp) {
    izp = rnd(xe->lo, xe->hi);
    bput(&c->body, ", input_zp = %lld", (long long)izp);
  }
  bput(&c->body, "} : tensor<");
  dims_text(&c->body, yd, 4);
  bput(&c->body, "i32>\n");
  char rdesc[160] = "";
  double xs = (double)(xe->hi - xe->lo), ws = (double)(w.e->hi - w.e->lo);
  double spread = sqrt((double)(KH * KW * C / groups)) * xs * ws / 6;
  int ok = 1;
  if (chance(0.7))
    ok = add_requant(c, vname(c, "acc"), yd, 4, spread, chance(0.5), "y", rdesc,
                     sizeof rdesc);
  else {
    Buf t = {0};
    type_text(&t, yd, 4, &E_I32, 0, 0);
    set_result(c, "acc", t.s);
    bfree(&t);
  }
  snprintf(c->desc, sizeof c->desc,
           "conv2d x=%lldx%lldx%lldx%lld %s zx=%lld%s w=%lldx%lldx%lldx%lld "
           "%s%s groups=%lld s=%lld,%lld d=%lld,%lld p=%lld,%lld,%lld,%lld%s%s",
           (long long)N, (long long)H, (long long)W, (long long)C, xe->name,
           (long long)zx, use_izp ? " input_zp" : "", (long long)OC,
           (long long)KH, (long long)KW, (long long)(C / groups), w.e->name,
           w.per_axis ? " per-channel" : "", (long long)groups, (long long)s[0],
           (long long)s[1], (long long)dl[0], (long long)dl[1], (long long)p[0],
           (long long)p[1], (long long)p[2], (long long)p[3],
           has_b ? " bias" : "", rdesc);
  weights_free(&w);
  return ok;
}

/* matmul: rank 2 or 3 x, one weight matrix or batched ones. */
static int gen_matmul(Case *c) {
  int rank = chance(0.3) ? 3 : 2, batched = rank == 3 && chance(0.4);
  int64_t B = rnd(1, 3), M = chance(0.3) ? 1 : rnd(1, 9),
          K = chance(0.3) ? rnd(40, 150) : rnd(1, 39),
          N = chance(0.3) ? rnd(17, 70) : rnd(1, 17);
  int64_t xd[3], wd[3], yd[3];
  if (rank == 3) {
    xd[0] = B, xd[1] = M, xd[2] = K, yd[0] = B, yd[1] = M, yd[2] = N;
  } else {
    xd[0] = M, xd[1] = K, yd[0] = M, yd[1] = N;
  }
  int wrank = batched ? 3 : 2;
  if (batched)
    wd[0] = B, wd[1] = K, wd[2] = N;
  else
    wd[0] = K, wd[1] = N;
  int64_t zx;
  const Elem *xe = act_input(c, xd, rank, &zx);
  Weights w;
  weights_const(c, &w, wd, wrank, wrank - 1);
  int has_b = chance(0.7);
  if (has_b)
    bias_const(c, N);
  int use_izp = chance(0.2);
  int64_t izp = use_izp ? rnd(xe->lo, xe->hi) : 0;
  bput(&c->body, "  %%%s = matmul %%%s, %%%s", vname(c, "acc"), c->in[0].name,
       vname(c, "w"));
  if (has_b)
    bput(&c->body, ", %%%s", vname(c, "b"));
  if (use_izp)
    bput(&c->body, " {input_zp = %lld}", (long long)izp);
  bput(&c->body, " : tensor<");
  dims_text(&c->body, yd, rank);
  bput(&c->body, "i32>\n");
  char rdesc[160] = "";
  double spread = sqrt((double)K) * (double)(xe->hi - xe->lo) *
                  (double)(w.e->hi - w.e->lo) / 6;
  int ok = 1;
  if (chance(0.7))
    ok = add_requant(c, vname(c, "acc"), yd, rank, spread, chance(0.5), "y",
                     rdesc, sizeof rdesc);
  else {
    Buf t = {0};
    type_text(&t, yd, rank, &E_I32, 0, 0);
    set_result(c, "acc", t.s);
    bfree(&t);
  }
  snprintf(c->desc, sizeof c->desc,
           "matmul x=%s%lldx%lldx%lld %s zx=%lld%s w=%s %s%s%s%s",
           rank == 3 ? "[batch] " : "", (long long)(rank == 3 ? B : 1),
           (long long)M, (long long)K, xe->name, (long long)zx,
           use_izp ? " input_zp" : "", batched ? "batched" : "KxN", w.e->name,
           w.per_axis ? " per-channel" : "", has_b ? " bias" : "", rdesc);
  weights_free(&w);
  return ok;
}

/* A random shape of rank 1..4 with dims 1..7. */
static int rnd_shape(int64_t *d) {
  int rank = (int)rnd(1, 4);
  for (int i = 0; i < rank; i++)
    d[i] = rnd(1, 7);
  return rank;
}

/* requant alone: any axis, any input type, every mode. */
static int gen_requant(Case *c) {
  int64_t d[4];
  int rank = rnd_shape(d);
  const Elem *xe = chance(0.5) ? &E_I32 : chance(0.5) ? &E_I16 : &E_I8;
  Buf t = {0};
  type_text(&t, d, rank, xe, 0, 0);
  int64_t lim = xe == &E_I32 ? (1 << 24) : xe->hi;
  add_input(c, "x", t.s, -lim, lim, 0);
  bfree(&t);
  /* per channel on a random axis: move it last by the case's shape */
  int per = chance(0.5);
  char rdesc[160] = "";
  int ok = add_requant(c, c->in[0].name, d, rank, (double)lim, per, "y", rdesc,
                       sizeof rdesc);
  snprintf(c->desc, sizeof c->desc, "requant x=%s rank %d%s", xe->name, rank,
           rdesc);
  return ok;
}

/* add and mul on plain integers, with broadcasting, in ranges that keep
 * the exact result in its type. */
static int gen_binary(Case *c) {
  int is_mul = chance(0.5);
  const Elem *e = chance(0.4) ? &E_I32 : chance(0.5) ? &E_I16 : &E_I8;
  int64_t lim = is_mul ? (e == &E_I32   ? 40000
                          : e == &E_I16 ? 181
                                        : 11)
                       : (e == &E_I32 ? (1 << 28) : e->hi / 2);
  int64_t d[4], a[4], b[4];
  int rank = rnd_shape(d), ra = rank, rb = rank - (int)rnd(0, rank - 1);
  for (int i = 0; i < ra; i++)
    a[i] = chance(0.3) ? 1 : d[i];
  for (int i = 0; i < rb; i++)
    b[i] = chance(0.3) ? 1 : d[rank - rb + i];
  for (int i = 0; i < rank; i++) { /* the result's dims: the larger */
    int64_t bi = i >= rank - rb ? b[i - (rank - rb)] : 1;
    d[i] = a[i] > bi ? a[i] : bi;
  }
  Buf ta = {0}, tb = {0}, ty = {0};
  type_text(&ta, a, ra, e, 0, 0);
  type_text(&tb, b, rb, e, 0, 0);
  type_text(&ty, d, rank, e, 0, 0);
  add_input(c, "a", ta.s, -lim, lim, 0);
  add_input(c, "b", tb.s, -lim, lim, 0);
  bput(&c->body, "  %%%s = %s %%%s, %%%s : %s\n", vname(c, "y"),
       is_mul ? "mul" : "add", c->in[0].name, c->in[1].name, ty.s);
  set_result(c, "y", ty.s);
  snprintf(c->desc, sizeof c->desc, "%s %s rank %d broadcast",
           is_mul ? "mul" : "add", e->name, rank);
  bfree(&ta);
  bfree(&tb);
  bfree(&ty);
  return 1;
}

/* maxpool (quantized or plain, any stored type), avgpool (plain), and
 * global_avgpool. */
static int gen_pool(Case *c) {
  int kind = (int)rnd(0, 2);
  int64_t N = rnd(1, 2), H = rnd(1, 9), W = rnd(1, 9), C = rnd(1, 20);
  int64_t xd[4] = {N, H, W, C};
  const Elem *e = kind == 0     ? rnd_act()
                  : chance(0.4) ? &E_I32
                  : chance(0.5) ? &E_I16
                                : &E_I8;
  Buf t = {0}, ty = {0};
  int quant = kind == 0 && chance(0.6);
  int64_t zp = quant ? rnd_zp(e) : 0;
  type_text(&t, xd, 4, e, quant ? 0.1 : 0, zp);
  add_input(c, "x", t.s, e == &E_I32 ? -(1 << 20) : e->lo,
            e == &E_I32 ? 1 << 20 : e->hi, 0);
  if (kind == 2) {
    int64_t yd[4] = {N, 1, 1, C};
    type_text(&ty, yd, 4, e, 0, 0);
    bput(&c->body, "  %%%s = global_avgpool %%%s : %s\n", vname(c, "y"),
         c->in[0].name, ty.s);
    snprintf(c->desc, sizeof c->desc, "global_avgpool %s %lldx%lldx%lldx%lld",
             e->name, (long long)N, (long long)H, (long long)W, (long long)C);
  } else {
    int64_t k[2] = {rnd(1, 3), rnd(1, 3)}, s[2] = {rnd(1, 3), rnd(1, 3)}, p[4],
            dl[2] = {1, 1};
    for (int i = 0; i < 4; i++)
      p[i] = rnd(0, k[i % 2] - 1);
    if (kind == 0 && chance(0.3))
      dl[0] = rnd(1, 2), dl[1] = rnd(1, 2);
    int ceil_mode = chance(0.3), cip = kind == 1 && chance(0.5);
    int64_t eh = dl[0] * (k[0] - 1) + 1, ew = dl[1] * (k[1] - 1) + 1;
    if (H + p[0] + p[2] < eh || W + p[1] + p[3] < ew) {
      bfree(&t);
      return 0;
    }
    int64_t OH = (H + p[0] + p[2] - eh + (ceil_mode ? s[0] - 1 : 0)) / s[0] + 1;
    int64_t OW = (W + p[1] + p[3] - ew + (ceil_mode ? s[1] - 1 : 0)) / s[1] + 1;
    /* ONNX: the last window must start inside the input or left padding */
    if (ceil_mode && (OH - 1) * s[0] >= H + p[0])
      OH--;
    if (ceil_mode && (OW - 1) * s[1] >= W + p[1])
      OW--;
    int64_t yd[4] = {N, OH, OW, C};
    type_text(&ty, yd, 4, e, quant ? 0.1 : 0, zp);
    bput(&c->body,
         "  %%%s = %s %%%s {kernel = [%lld, %lld], strides = [%lld, %lld], "
         "pads = [%lld, %lld, %lld, %lld], ceil_mode = %d",
         vname(c, "y"), kind == 0 ? "maxpool" : "avgpool", c->in[0].name,
         (long long)k[0], (long long)k[1], (long long)s[0], (long long)s[1],
         (long long)p[0], (long long)p[1], (long long)p[2], (long long)p[3],
         ceil_mode);
    if (kind == 0)
      bput(&c->body, ", dilations = [%lld, %lld]", (long long)dl[0],
           (long long)dl[1]);
    else
      bput(&c->body, ", count_include_pad = %d", cip);
    bput(&c->body, "} : %s\n", ty.s);
    snprintf(c->desc, sizeof c->desc,
             "%s %s %lldx%lldx%lldx%lld k=%lldx%lld s=%lld,%lld "
             "p=%lld,%lld,%lld,%lld d=%lld,%lld ceil=%d include_pad=%d",
             kind == 0 ? "maxpool" : "avgpool", e->name, (long long)N,
             (long long)H, (long long)W, (long long)C, (long long)k[0],
             (long long)k[1], (long long)s[0], (long long)s[1], (long long)p[0],
             (long long)p[1], (long long)p[2], (long long)p[3],
             (long long)dl[0], (long long)dl[1], ceil_mode, cip);
  }
  set_result(c, "y", ty.s);
  bfree(&t);
  bfree(&ty);
  return 1;
}

/* The layout ops on stored integers: pad (every mode), concat, reshape,
 * flatten, transpose, identity. */
static int gen_move(Case *c) {
  int kind = (int)rnd(0, 5);
  int64_t d[4];
  int rank = rnd_shape(d);
  const Elem *e = rnd_act();
  int quant = chance(0.6);
  int64_t zp = quant ? rnd_zp(e) : 0;
  Buf t = {0}, ty = {0};
  type_text(&t, d, rank, e, quant ? 0.1 : 0, zp);
  add_input(c, "x", t.s, e->lo, e->hi, 0);
  int64_t yd[4];
  memcpy(yd, d, sizeof yd);
  const char *x = c->in[0].name;
  switch (kind) {
  case 0: { /* pad */
    static const char *const modes[] = {"constant", "reflect", "edge"};
    int m = (int)rnd(0, 2);
    int64_t p[8];
    for (int i = 0; i < 2 * rank; i++) {
      int64_t lim = m == 1 ? d[i % rank] - 1 : 3;
      p[i] = chance(0.5) ? rnd(0, lim < 0 ? 0 : lim) : 0;
      yd[i % rank] += p[i];
    }
    type_text(&ty, yd, rank, e, quant ? 0.1 : 0, zp);
    bput(&c->body, "  %%%s = pad %%%s {pads = ", vname(c, "y"), x);
    ints_text(&c->body, p, 2 * rank);
    bput(&c->body, ", mode = \"%s\"} : %s\n", modes[m], ty.s);
    snprintf(c->desc, sizeof c->desc, "pad %s %s rank %d", modes[m], e->name,
             rank);
    break;
  }
  case 1: { /* concat of x and a second input */
    int axis = (int)rnd(0, rank - 1);
    int64_t bd[4];
    memcpy(bd, d, sizeof bd);
    bd[axis] = rnd(1, 5);
    Buf tb = {0};
    type_text(&tb, bd, rank, e, quant ? 0.1 : 0, zp);
    add_input(c, "b", tb.s, e->lo, e->hi, 0);
    yd[axis] = 2 * d[axis] + bd[axis]; /* x, b, x */
    type_text(&ty, yd, rank, e, quant ? 0.1 : 0, zp);
    bput(&c->body, "  %%%s = concat %%%s, %%%s, %%%s {axis = %d} : %s\n",
         vname(c, "y"), x, c->in[1].name, x, axis, ty.s);
    snprintf(c->desc, sizeof c->desc, "concat %s rank %d axis %d", e->name,
             rank, axis);
    bfree(&tb);
    break;
  }
  case 2: { /* reshape to all elements in one row, or split */
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
      n *= d[i];
    int64_t r2[2] = {n % 2 == 0 ? 2 : 1, n % 2 == 0 ? n / 2 : n};
    type_text(&ty, r2, 2, e, quant ? 0.1 : 0, zp);
    bput(&c->body, "  %%%s = reshape %%%s : %s\n", vname(c, "y"), x, ty.s);
    snprintf(c->desc, sizeof c->desc, "reshape %s", e->name);
    break;
  }
  case 3: { /* flatten */
    int axis = (int)rnd(0, rank);
    int64_t f[2] = {1, 1};
    for (int i = 0; i < rank; i++)
      f[i < axis ? 0 : 1] *= d[i];
    type_text(&ty, f, 2, e, quant ? 0.1 : 0, zp);
    bput(&c->body, "  %%%s = flatten %%%s {axis = %d} : %s\n", vname(c, "y"), x,
         axis, ty.s);
    snprintf(c->desc, sizeof c->desc, "flatten %s axis %d", e->name, axis);
    break;
  }
  case 4: { /* transpose */
    int64_t perm[4] = {0, 1, 2, 3};
    for (int i = rank - 1; i > 0; i--) {
      int j = (int)rnd(0, i);
      int64_t tmp = perm[i];
      perm[i] = perm[j];
      perm[j] = tmp;
    }
    for (int i = 0; i < rank; i++)
      yd[i] = d[perm[i]];
    type_text(&ty, yd, rank, e, quant ? 0.1 : 0, zp);
    bput(&c->body, "  %%%s = transpose %%%s {perm = ", vname(c, "y"), x);
    ints_text(&c->body, perm, rank);
    bput(&c->body, "} : %s\n", ty.s);
    snprintf(c->desc, sizeof c->desc, "transpose %s rank %d", e->name, rank);
    break;
  }
  default:
    type_text(&ty, d, rank, e, quant ? 0.1 : 0, zp);
    bput(&c->body, "  %%%s = identity %%%s : %s\n", vname(c, "y"), x, ty.s);
    snprintf(c->desc, sizeof c->desc, "identity %s", e->name);
    break;
  }
  set_result(c, "y", ty.s);
  bfree(&t);
  bfree(&ty);
  return 1;
}

/* lookup tables: i8/u8 (and sometimes i16) to any integer type. */
static int gen_lookup(Case *c) {
  const Elem *xe = chance(0.05) ? &E_I16 : chance(0.5) ? &E_I8 : &E_U8;
  const Elem *te = chance(0.25)   ? &E_I32
                   : chance(0.33) ? &E_I16
                   : chance(0.5)  ? &E_I8
                                  : &E_U8;
  int64_t d[4];
  int rank = rnd_shape(d);
  Buf t = {0}, ty = {0};
  type_text(&t, d, rank, xe, 0, 0);
  add_input(c, "x", t.s, xe->lo, xe->hi, 0);
  int64_t L = xe->hi - xe->lo + 1;
  bput(&c->body, "  %%%s = const dense<[", vname(c, "t"));
  int64_t tlo = te == &E_I32 ? -1000000 : te->lo,
          thi = te == &E_I32 ? 1000000 : te->hi;
  for (int64_t i = 0; i < L; i++)
    bput(&c->body, "%s%lld", i ? ", " : "", (long long)rnd(tlo, thi));
  bput(&c->body, "]> : tensor<%lldx%s>\n", (long long)L, te->name);
  type_text(&ty, d, rank, te, 0, 0);
  bput(&c->body, "  %%%s = lookup %%%s, %%%s : %s\n", vname(c, "y"),
       c->in[0].name, vname(c, "t"), ty.s);
  set_result(c, "y", ty.s);
  snprintf(c->desc, sizeof c->desc, "lookup %s -> %s", xe->name, te->name);
  bfree(&t);
  bfree(&ty);
  return 1;
}

/* The integer softmax with an exp table. */
static int gen_softmax(Case *c) {
  const Elem *xe = chance(0.05) ? &E_I16 : chance(0.5) ? &E_I8 : &E_U8;
  const Elem *ye = chance(0.2) ? &E_I16 : chance(0.5) ? &E_I8 : &E_U8;
  int64_t d[4];
  int rank = rnd_shape(d), axis = (int)rnd(-rank, rank - 1);
  Buf t = {0}, ty = {0};
  type_text(&t, d, rank, xe, 0.1, xe == &E_I16 ? 0 : rnd_zp(xe));
  add_input(c, "x", t.s, xe->lo, xe->hi, 0);
  int64_t L = xe->hi - xe->lo + 1;
  double sx = 0.005 + rndf() * 0.3;
  bput(&c->body, "  %%%s = const dense<[", vname(c, "t"));
  for (int64_t i = 0; i < L; i++)
    bput(&c->body, "%s%lld", i ? ", " : "",
         (long long)llround(1048576.0 * exp(-sx * (double)i)));
  bput(&c->body, "]> : tensor<%lldxi32>\n", (long long)L);
  int shift = ye == &E_I16 ? (int)rnd(14, 16) : (int)rnd(6, 9);
  int64_t ozp = ye->lo;
  type_text(&ty, d, rank, ye, ldexp(1, -shift), ozp);
  bput(&c->body,
       "  %%%s = softmax %%%s, %%%s {axis = %d, shift = %d, output_zp = "
       "%lld} : %s\n",
       vname(c, "y"), c->in[0].name, vname(c, "t"), axis, shift, (long long)ozp,
       ty.s);
  set_result(c, "y", ty.s);
  snprintf(c->desc, sizeof c->desc, "softmax %s -> %s rank %d axis %d shift %d",
           xe->name, ye->name, rank, axis, shift);
  bfree(&t);
  bfree(&ty);
  return 1;
}

/* dequantize, a float relu, quantize: per tensor and per axis, both
 * roundings. */
static int gen_qdq(Case *c) {
  int64_t d[4];
  int rank = rnd_shape(d);
  const Elem *xe = rnd_act(), *ye = rnd_act();
  Buf t = {0}, tf = {0}, ty = {0};
  if (chance(0.5)) {
    int axis = (int)rnd(0, rank - 1);
    int64_t zps[8];
    for (int64_t i = 0; i < d[axis]; i++)
      zps[i] = rnd_zp(xe);
    axis_type_text(&t, d, rank, xe, axis, zps);
  } else {
    type_text(&t, d, rank, xe, 0.0123, rnd_zp(xe));
  }
  add_input(c, "x", t.s, xe->lo, xe->hi, 0);
  type_text(&tf, d, rank, &(Elem){"f32", 0, 0}, 0, 0);
  type_text(&ty, d, rank, ye, 0.0071 + rndf() * 0.05, rnd_zp(ye));
  int away = chance(0.5);
  bput(&c->body, "  %%%s = dequantize %%%s : %s\n", vname(c, "f"),
       c->in[0].name, tf.s);
  bput(&c->body, "  %%%s = relu %%%s : %s\n", vname(c, "r"), vname(c, "f"),
       tf.s);
  bput(&c->body, "  %%%s = quantize %%%s {rounding = \"%s\"} : %s\n",
       vname(c, "y"), vname(c, "r"), away ? "half_away" : "half_even", ty.s);
  set_result(c, "y", ty.s);
  snprintf(c->desc, sizeof c->desc, "dequantize %s, relu, quantize %s %s",
           xe->name, ye->name, away ? "half_away" : "half_even");
  bfree(&t);
  bfree(&tf);
  bfree(&ty);
  return 1;
}

/* A blocked (per-group) quantized type of a rank-2 shape: blocks of
 * (b0, b1), one random scale and zero point per block. */
static void blocked_type_text(Buf *b, const int64_t *d, const Elem *e,
                              int64_t b0, int64_t b1) {
  int64_t g0 = (d[0] + b0 - 1) / b0, g1 = (d[1] + b1 - 1) / b1;
  bput(b, "tensor<%lldx%lldx!quant.uniform<%s:f32:{0:%lld, 1:%lld}, {",
       (long long)d[0], (long long)d[1], e->name, (long long)b0, (long long)b1);
  for (int64_t i = 0; i < g0; i++) {
    bput(b, "%s{", i ? ", " : "");
    for (int64_t j = 0; j < g1; j++)
      bput(b, "%s%g:%lld", j ? ", " : "", 0.003 + rndf() * 0.05,
           (long long)rnd_zp(e));
    bput(b, "}");
  }
  bput(b, "}>>");
}

/* Blocked (per-group, sub-channel) quantization: dequantize, a float relu,
 * quantize. */
static int gen_blocked(Case *c) {
  int64_t d[2] = {rnd(1, 9), rnd(1, 40)};
  const Elem *xe = chance(0.3) ? &E_I4 : rnd_act(), *ye = rnd_act();
  Buf t = {0}, tf = {0}, ty = {0};
  int64_t b1 = chance(0.5) ? rnd(1, d[1]) : (chance(0.5) ? 4 : 32);
  blocked_type_text(&t, d, xe, chance(0.7) ? 1 : rnd(1, d[0]), b1);
  add_input(c, "x", t.s, xe->lo, xe->hi, 0);
  type_text(&tf, d, 2, &(Elem){"f32", 0, 0}, 0, 0);
  blocked_type_text(&ty, d, ye, rnd(1, d[0]), rnd(1, d[1]));
  int away = chance(0.5);
  bput(&c->body, "  %%%s = dequantize %%%s : %s\n", vname(c, "f"),
       c->in[0].name, tf.s);
  bput(&c->body, "  %%%s = relu %%%s : %s\n", vname(c, "r"), vname(c, "f"),
       tf.s);
  bput(&c->body, "  %%%s = quantize %%%s {rounding = \"%s\"} : %s\n",
       vname(c, "y"), vname(c, "r"), away ? "half_away" : "half_even", ty.s);
  set_result(c, "y", ty.s);
  snprintf(c->desc, sizeof c->desc,
           "blocked dequantize %s %lldx%lld groups of %lld, relu, quantize "
           "%s %s",
           xe->name, (long long)d[0], (long long)d[1], (long long)b1, ye->name,
           away ? "half_away" : "half_even");
  bfree(&t);
  bfree(&tf);
  bfree(&ty);
  return 1;
}

/* Dynamic quantization: dynamic_quantize of f32 data, then a dequantize
 * with its run-time scale and zero point. */
static int gen_dynamic(Case *c) {
  int64_t d[4];
  int rank = rnd_shape(d);
  Buf t = {0}, tq = {0};
  type_text(&t, d, rank, &(Elem){"f32", 0, 0}, 0, 0);
  type_text(&tq, d, rank, &E_U8, 0, 0);
  add_input(c, "x", t.s, 0, 0, 1);
  bput(&c->body,
       "  %%%s, %%%s, %%%s = dynamic_quantize %%%s : %s, tensor<f32>, "
       "tensor<u8>\n",
       vname(c, "q"), vname(c, "s"), vname(c, "z"), c->in[0].name, tq.s);
  bput(&c->body, "  %%%s = dequantize %%%s, %%%s, %%%s : %s\n", vname(c, "y"),
       vname(c, "q"), vname(c, "s"), vname(c, "z"), t.s);
  set_result(c, "y", t.s);
  snprintf(c->desc, sizeof c->desc,
           "dynamic_quantize rank %d, run-time dequantize", rank);
  bfree(&t);
  bfree(&tq);
  return 1;
}

typedef struct Kind {
  const char *name;
  int (*gen)(Case *c);
  int weight;
} Kind;

static const Kind kinds[] = {
    {"conv2d", gen_conv, 30},    {"matmul", gen_matmul, 20},
    {"requant", gen_requant, 8}, {"binary", gen_binary, 8},
    {"pool", gen_pool, 10},      {"move", gen_move, 10},
    {"lookup", gen_lookup, 4},   {"softmax", gen_softmax, 4},
    {"qdq", gen_qdq, 4},         {"blocked", gen_blocked, 3},
    {"dynamic", gen_dynamic, 3},
};
#define NKINDS ((int)(sizeof kinds / sizeof kinds[0]))

/* --- checking a case with the interpreter --- */

typedef struct Quiet {
  char msg[512];
} Quiet;

static void quiet_fn(void *ctx, DySeverity sev, DyLoc loc, const char *msg) {
  (void)loc;
  if (sev == DY_ERROR)
    snprintf(((Quiet *)ctx)->msg, sizeof((Quiet *)ctx)->msg, "%s", msg);
}

static void case_text(const Case *c, Buf *b) {
  bput(b, "graph @k%d(%s) -> (%s) {\n%s  return %%%s\n}\n", c->id, c->sig.s,
       c->rtype.s, c->body.s, c->ret);
}

static void fill_input(const Input *in, DyTensor *t) {
  int64_t n = dy_type_numel(&t->type);
  for (int64_t i = 0; i < n; i++) {
    if (in->is_f32) {
      ((float *)t->data)[i] = (float)(rndf() * 20 - 10);
      continue;
    }
    /* extremes often: they find saturation and rounding edges */
    int64_t v =
        chance(0.1) ? (chance(0.5) ? in->lo : in->hi) : rnd(in->lo, in->hi);
    dy_store_int(t->data, t->type.elem, i, v);
  }
}

static void case_free(Case *c) {
  bfree(&c->sig);
  bfree(&c->body);
  bfree(&c->rtype);
  for (int i = 0; i < c->nin; i++)
    dy_tensor_free(&c->inputs[i]);
  dy_tensor_free(&c->out);
}

/* Draws case id of kind k until one verifies and runs; 0 on success. */
static int draw_case(Case *c, int id, const Kind *k, Quiet *q) {
  for (int attempt = 0; attempt < 200; attempt++) {
    case_free(c);
    memset(c, 0, sizeof *c);
    c->id = id;
    c->kind = k->name;
    if (!k->gen(c))
      continue;
    Buf text = {0};
    case_text(c, &text);
    DyDiag d;
    dy_diag_init(&d);
    d.fn = quiet_fn;
    d.ctx = q;
    DyGraph *g = dy_parse_graph("case", text.s, text.n, NULL, &d);
    int ok = g && !dy_graph_verify(g, &d);
    for (int i = 0; ok && i < c->nin; i++) {
      ok = !dy_tensor_alloc(&c->inputs[i], &g->inputs[i]->type, &d);
      if (ok)
        fill_input(&c->in[i], &c->inputs[i]);
    }
    DyTensor out[1];
    memset(out, 0, sizeof out);
    if (ok)
      ok = !dy_interp_run(g, c->inputs, out, &d);
    if (ok) {
      /* the tensor's quantization belongs to g: keep only the bytes */
      c->out = out[0];
      c->out.type.quant = NULL;
      for (int i = 0; i < c->nin; i++)
        c->inputs[i].type.quant = NULL;
    }
    if (g)
      dy_graph_destroy(g);
    dy_diag_fini(&d);
    bfree(&text);
    if (ok)
      return 0;
  }
  return 1;
}

/* --- the harness --- */

static void c_bytes(Buf *b, const char *name, const void *data, size_t n) {
  const unsigned char *p = data;
  bput(b, "static const unsigned char %s[%zu] __attribute__((aligned(64))) = {",
       name, n ? n : 1);
  for (size_t i = 0; i < n; i++)
    bput(b, "%s%u", !i ? "\n" : i % 24 ? "," : ",\n", p[i]);
  if (!n)
    bput(b, "0");
  bput(b, "};\n");
}

static void harness(Buf *b, const char *hname, const char *sym, const char *SYM,
                    Case *cases, int n) {
  bput(b,
       "/* Generated by dyad-ktest: the random kernel cases' inputs and "
       "the\n * interpreter's outputs; compares NAME_run bit for bit. */\n"
       "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\n"
       "#include \"%s\"\n\n",
       hname);
  for (int i = 0; i < n; i++) {
    char nm[32];
    for (int k = 0; k < cases[i].nin; k++) {
      snprintf(nm, sizeof nm, "in%d_%d", i, k);
      c_bytes(b, nm, cases[i].inputs[k].data, cases[i].inputs[k].nbytes);
    }
    snprintf(nm, sizeof nm, "want%d", i);
    c_bytes(b, nm, cases[i].out.data, cases[i].out.nbytes);
  }
  bput(b, "\nstatic const char *const desc[%d] = {\n", n);
  for (int i = 0; i < n; i++)
    bput(b, "  \"case %d: %s\",\n", cases[i].id, cases[i].desc);
  bput(b, "};\nstatic const unsigned char *const want[%d] = {", n);
  for (int i = 0; i < n; i++)
    bput(b, "%swant%d", i ? ", " : "", i);
  bput(b, "};\nstatic const size_t nbytes[%d] = {", n);
  for (int i = 0; i < n; i++)
    bput(b, "%s%zu", i ? ", " : "", cases[i].out.nbytes);
  bput(b, "};\nstatic const int esize[%d] = {", n);
  for (int i = 0; i < n; i++)
    bput(b, "%s%zu", i ? ", " : "", dy_elem_size(cases[i].out.type.elem));
  bput(b, "};\n\nint main(void) {\n  static const void *const in[] = {");
  for (int i = 0; i < n; i++)
    for (int k = 0; k < cases[i].nin; k++)
      bput(b, "in%d_%d, ", i, k);
  bput(
      b,
      "0};\n  static void *out[%d];\n"
      "  for (int i = 0; i < %d; i++) {\n"
      "    out[i] = aligned_alloc(64, (nbytes[i] + 63) / 64 * 64 + 64);\n"
      "    memset(out[i], 0xA5, (nbytes[i] + 63) / 64 * 64 + 64);\n"
      "  }\n"
      "  size_t ws_n = (%s_WORKSPACE_SIZE + 63) / 64 * 64 + 64;\n"
      "  void *ws = aligned_alloc(64, ws_n);\n"
      "  memset(ws, 0x5A, ws_n);\n"
      "  if (%s_run(in, out, ws) != 0) {\n"
      "    puts(\"NAME_run failed\");\n"
      "    return 1;\n  }\n"
      "  int bad = 0;\n"
      "  for (int i = 0; i < %d; i++) {\n"
      "    if (memcmp(out[i], want[i], nbytes[i]) == 0)\n"
      "      continue;\n"
      "    size_t j = 0;\n"
      "    while (((unsigned char *)out[i])[j] == want[i][j])\n"
      "      j++;\n"
      "    size_t e = j / (size_t)esize[i];\n"
      "    printf(\"MISMATCH %%s: element %%zu, bytes got\", desc[i], e);\n"
      "    for (int k = 0; k < esize[i]; k++)\n"
      "      printf(\" %%02x\", ((unsigned char *)out[i])[e * esize[i] + k]);\n"
      "    printf(\" want\");\n"
      "    for (int k = 0; k < esize[i]; k++)\n"
      "      printf(\" %%02x\", want[i][e * esize[i] + k]);\n"
      "    printf(\"\\n\");\n"
      "    bad++;\n"
      "  }\n"
      "  printf(\"%%d cases: %%d bit-exact, %%d differ\\n\", %d, %d - bad, "
      "bad);\n"
      "  return bad != 0;\n}\n",
      n, n, SYM, sym, n, n, n);
}

/* --- main --- */

static int picked(const Kind *k, const char *only) {
  if (no_f2i &&
      (strcmp(k->name, "qdq") == 0 || strcmp(k->name, "blocked") == 0 ||
       strcmp(k->name, "dynamic") == 0))
    return 0;
  return !only || strstr(only, k->name) != NULL;
}

static const char *opt_value(const char *arg, const char *name) {
  size_t n = strlen(name);
  if (strncmp(arg, name, n) == 0 && arg[n] == '=')
    return arg + n + 1;
  return NULL;
}

static int usage(void) {
  fputs("usage: dyad-ktest --seed=S --cases=N -o PREFIX [--target=TRIPLE]\n"
        "                  [--mcpu=CPU] [--mattr=+f,-g] [-O0..3] "
        "[--kinds=K,...]\n"
        "                  [--no-float-to-int]\n"
        "writes PREFIX.dy, PREFIX.o, PREFIX.h and PREFIX_main.c; kinds: "
        "conv2d,\n"
        "matmul, requant, binary, pool, move, lookup, softmax, qdq,\n"
        "blocked, dynamic\n",
        stderr);
  return 2;
}

int main(int argc, char **argv) {
  const char *prefix = NULL, *triple = NULL, *cpu = NULL, *mattr = NULL,
             *only = NULL, *v;
  long long seed = 1, ncases = 100;
  int opt = 3;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-o") == 0 && i + 1 < argc)
      prefix = argv[++i];
    else if ((v = opt_value(a, "--seed")))
      seed = atoll(v);
    else if ((v = opt_value(a, "--cases")))
      ncases = atoll(v);
    else if ((v = opt_value(a, "--target")))
      triple = v;
    else if ((v = opt_value(a, "--mcpu")))
      cpu = v;
    else if ((v = opt_value(a, "--mattr")))
      mattr = v;
    else if ((v = opt_value(a, "--kinds")))
      only = v;
    else if (strcmp(a, "--no-float-to-int") == 0)
      no_f2i = 1;
    else if (a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3' && !a[3])
      opt = a[2] - '0';
    else
      return usage();
  }
  if (!prefix || ncases < 1 || ncases > 100000)
    return usage();
  DyDiag d;
  dy_diag_init(&d);
  d.prog = "dyad-ktest";
  DyTarget t;
  if (dy_cg_target_from_flags(&t, triple, cpu, mattr, &d)) {
    dy_diag_fini(&d);
    return 1;
  }
  rng_state = (uint64_t)seed * 0x2545F4914F6CDD1Dull + 1;
  int total = 0;
  for (int k = 0; k < NKINDS; k++)
    if (picked(&kinds[k], only))
      total += kinds[k].weight;
  if (!total) {
    fprintf(stderr, "dyad-ktest: no kind in '%s'\n", only);
    dy_diag_fini(&d);
    return 2;
  }
  Case *cases = calloc((size_t)ncases, sizeof *cases);
  if (!cases) {
    dy_diag_fini(&d);
    return 1;
  }
  int count[NKINDS] = {0};
  for (int i = 0; i < ncases; i++) {
    int64_t r = rnd(0, total - 1);
    int k = 0;
    for (;; k++) {
      if (!picked(&kinds[k], only))
        continue;
      if (r < kinds[k].weight)
        break;
      r -= kinds[k].weight;
    }
    Quiet q = {""};
    if (draw_case(&cases[i], i, &kinds[k], &q)) {
      fprintf(stderr,
              "dyad-ktest: could not draw a valid %s case (a generator "
              "bug); last error: %s\n",
              kinds[k].name, q.msg);
      for (int j = 0; j <= i; j++)
        case_free(&cases[j]);
      free(cases);
      dy_diag_fini(&d);
      return 1;
    }
    count[k]++;
  }
  /* the joined graph */
  Buf g = {0};
  const char *base = strrchr(prefix, '/');
  base = base ? base + 1 : prefix;
  char sym[128], SYM[128];
  snprintf(sym, sizeof sym, "ktest");
  snprintf(SYM, sizeof SYM, "KTEST");
  bput(&g, "graph @ktest(");
  for (int i = 0; i < ncases; i++)
    bput(&g, "%s%s", i ? ", " : "", cases[i].sig.s);
  bput(&g, ") -> (");
  for (int i = 0; i < ncases; i++)
    bput(&g, "%s%s", i ? ", " : "", cases[i].rtype.s);
  bput(&g, ") {\n");
  for (int i = 0; i < ncases; i++)
    bput(&g, "  // case %d: %s\n%s", i, cases[i].desc, cases[i].body.s);
  bput(&g, "  return ");
  for (int i = 0; i < ncases; i++)
    bput(&g, "%s%%%s", i ? ", " : "", cases[i].ret);
  bput(&g, "\n}\n");
  size_t pn = strlen(prefix) + 16;
  char *path = malloc(pn), *hpath = malloc(pn), *opath = malloc(pn),
       *kpath = malloc(pn), *hname = malloc(pn);
  int rc = 1;
  DyGraph *graph = NULL;
  snprintf(path, pn, "%s.dy", prefix);
  snprintf(hpath, pn, "%s.h", prefix);
  snprintf(opath, pn, "%s.o", prefix);
  snprintf(kpath, pn, "%s_main.c", prefix);
  snprintf(hname, pn, "%s.h", base);
  if (dy_write_file(path, g.s, g.n, &d))
    goto done;
  graph = dy_parse_graph(path, g.s, g.n, NULL, &d);
  if (!graph || dy_graph_verify(graph, &d) ||
      dy_pass_run(dy_pass_lookup("lower-target", 12), graph, NULL, &t, &d) ||
      dy_graph_verify(graph, &d))
    goto done;
  /* which kernels the cases got */
  printf("dyad-ktest: seed %lld, %lld cases for %s (cpu %s):", seed, ncases,
         t.triple, t.cpu);
  for (int k = 0; k < NKINDS; k++)
    if (count[k])
      printf(" %s %d", kinds[k].name, count[k]);
  printf("\nkernels:");
  const char *seen[64];
  int nseen[64], ns = 0;
  for (const DyOp *op = graph->first; op; op = op->next) {
    const DyAttr *a = dy_op_attr(op, "impl");
    if (!a)
      continue;
    int j = 0;
    while (j < ns && strcmp(seen[j], a->s) != 0)
      j++;
    if (j == ns && ns < 64) {
      seen[ns] = a->s;
      nseen[ns++] = 0;
    }
    if (j < 64)
      nseen[j]++;
  }
  for (int j = 0; j < ns; j++)
    printf(" %s %d", seen[j], nseen[j]);
  printf("\n");
  DyCodegenOptions o = {sym, DY_EMIT_OBJ, opt};
  if (dy_codegen(graph, &t, &o, opath, hpath, &d))
    goto done;
  Buf h = {0};
  harness(&h, hname, sym, SYM, cases, (int)ncases);
  rc = dy_write_file(kpath, h.s, h.n, &d);
  bfree(&h);
done:
  if (graph)
    dy_graph_destroy(graph);
  for (int i = 0; i < ncases; i++)
    case_free(&cases[i]);
  free(cases);
  dy_diag_fini(&d);
  bfree(&g);
  free(path);
  free(hpath);
  free(opath);
  free(kpath);
  free(hname);
  return rc;
}
