/* The reference interpreter: every op of docs/ir.md as plain loops.
 *
 * This is the oracle the rest of dyad is tested against, so it is written
 * for obviousness, not speed. Ops fall into four groups:
 *
 *  - numeric ops (conv2d, matmul, add, relu, softmax, pools, ...) run in
 *    one of two domains chosen from the element types:
 *      integer: the integer forms of docs/ir.md, in lib/interp_int.c on
 *               stored integers in checked int64 arithmetic (results that
 *               do not fit their type are errors: an integer graph whose
 *               values do not fit is a compiler bug the oracle must
 *               report);
 *      real:    f32 and quantized tensors, here: operands loaded into
 *               double buffers (quantized ones dequantized first, (q - zp)
 *               * scale in f32), computed there, and a quantized result
 *               quantized from the f32 value (half to even): fake-quant
 *               semantics for a graph whose tensors carry quant types.
 *    Mixing the two domains in one op is an error.
 *  - data movement (identity, reshape, flatten, transpose, concat, pad)
 *    copies stored elements; when operand and result types differ the
 *    elements are converted through their real (or integer) values.
 *  - quantize, dequantize, requant and lookup: the exact arithmetic of
 *    docs/ir.md and ../shared/REQUANT.md on stored integers.
 *  - const copies its data.
 *
 * Float results are computed in double and rounded once to f32, which is
 * f32 arithmetic exactly for single operations (add, mul, ...) and at least
 * as accurate for reductions. Every error is reported at the op's location
 * and nothing reads or writes out of bounds, whatever the graph says.
 */
#include "dyad/interp.h"
#include "dyad/requant.h"
#include "dyad/shape.h"
#include "interp_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXACT_LIMIT 9007199254740992.0 /* 2^53: doubles hold integers below */
#define MAX_NUMERIC_OPERANDS 5         /* batchnorm's */

/* --- diagnostics --- */

static int op_fail(const DyOp *op, DyDiag *d, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports "opname: message" at the op and returns 1. */
static int op_fail(const DyOp *op, DyDiag *d, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  dy_error(d, op->loc, "%s: %s", dy_op_name(op->kind), msg);
  return 1;
}

int dy_interp_fail(const DyOp *op, DyDiag *d, const char *msg) {
  return op_fail(op, d, "%s", msg);
}

/* Appends to buf[0..n) at *k, truncating safely. */
static void sappend(char *buf, size_t n, size_t *k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void sappend(char *buf, size_t n, size_t *k, const char *fmt, ...) {
  if (*k >= n)
    return;
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(buf + *k, n - *k, fmt, ap);
  va_end(ap);
  if (w > 0)
    *k += (size_t)w < n - *k ? (size_t)w : n - *k - 1;
}

/* Writes a type as in the text form, e.g. tensor<1x4xf32>; quantization
 * parameters other than per-tensor ones are abbreviated. */
static const char *type_str(const DyType *t, char *buf, size_t n) {
  size_t k = 0;
  buf[0] = 0;
  sappend(buf, n, &k, "tensor<");
  for (int i = 0; i < t->rank; i++)
    sappend(buf, n, &k, "%lldx", (long long)t->dims[i]);
  if (t->quant && t->quant->kind == DY_QUANT_PER_TENSOR &&
      t->quant->nparams == 1)
    sappend(buf, n, &k, "!quant.uniform<%s:f32, %.9g:%lld>",
            dy_elem_name(t->elem), t->quant->scales[0],
            (long long)t->quant->zero_points[0]);
  else if (t->quant)
    sappend(buf, n, &k, "!quant.uniform<%s:f32, ...>", dy_elem_name(t->elem));
  else
    sappend(buf, n, &k, "%s", dy_elem_name(t->elem));
  sappend(buf, n, &k, ">");
  return buf;
}

/* --- tensors --- */

int dy_tensor_alloc(DyTensor *t, const DyType *type, DyDiag *d) {
  memset(t, 0, sizeof *t);
  int overflow;
  size_t nbytes = dy_type_nbytes(type, &overflow);
  if (overflow || (size_t)type->elem >= DY_ELEM_COUNT) {
    char buf[256];
    dy_error(d, (DyLoc){0}, "tensor type %s is too large",
             type_str(type, buf, sizeof buf));
    return 1;
  }
  void *data = calloc(nbytes ? nbytes : 1, 1);
  if (!data) {
    dy_error(d, (DyLoc){0}, "out of memory allocating %zu bytes", nbytes);
    return 1;
  }
  t->type = *type;
  t->data = data;
  t->nbytes = nbytes;
  return 0;
}

void dy_tensor_free(DyTensor *t) {
  free(t->data);
  memset(t, 0, sizeof *t);
}

/* --- element access --- */

static float load_f32(const void *data, int64_t i) {
  float v;
  memcpy(&v, (const unsigned char *)data + 4 * (size_t)i, 4);
  return v;
}

static void store_f32(void *data, int64_t i, float v) {
  memcpy((unsigned char *)data + 4 * (size_t)i, &v, 4);
}

static int is_real(const DyType *t) { return t->quant || t->elem == DY_F32; }

/* Stores integer v as element i of y (type t) if it is a valid value. */
static int store_int_checked(const DyOp *op, DyDiag *d, const DyType *t,
                             void *y, int64_t i, int64_t v) {
  int64_t lo, hi;
  dy_type_int_range(t, &lo, &hi);
  if (v < lo || v > hi || (t->elem == DY_I1 && v == 0))
    return op_fail(op, d, "result %lld at index %lld does not fit %s",
                   (long long)v, (long long)i, dy_elem_name(t->elem));
  dy_store_int(y, t->elem, i, v);
  return 0;
}

/* --- shapes --- */

static int64_t numel(const DyType *t) {
  int64_t n = dy_type_numel(t);
  return n < 0 ? 0 : n;
}

/* Row-major coordinates of flat index i in dims. */
static void unravel(int64_t i, int rank, const int64_t *dims, int64_t *c) {
  for (int k = rank - 1; k >= 0; k--) {
    c[k] = dims[k] ? i % dims[k] : 0;
    i = dims[k] ? i / dims[k] : 0;
  }
}

static int64_t ravel(const int64_t *c, int rank, const int64_t *dims) {
  int64_t i = 0;
  for (int k = 0; k < rank; k++)
    i = i * dims[k] + c[k];
  return i;
}

/* Product of dims[from..to). */
static int64_t dims_prod(const int64_t *dims, int from, int to) {
  int64_t p = 1;
  for (int k = from; k < to; k++)
    p *= dims[k];
  return p;
}

static int same_dims(const DyType *a, const DyType *b) {
  if (a->rank != b->rank)
    return 0;
  for (int k = 0; k < a->rank; k++)
    if (a->dims[k] != b->dims[k])
      return 0;
  return 1;
}

/* Normalizes a possibly negative axis into [0, rank); returns 1 if out of
 * range. */

static int expect_rank(const DyOp *op, DyDiag *d, const char *what,
                       const DyType *t, int rank) {
  if (t->rank != rank)
    return op_fail(op, d, "%s must have rank %d, not %d", what, rank, t->rank);
  return 0;
}

static int expect_result_dims(const DyOp *op, DyDiag *d, int rank,
                              const int64_t *dims) {
  const DyType *ty = &op->results[0]->type;
  int ok = ty->rank == rank;
  for (int k = 0; ok && k < rank; k++)
    ok = ty->dims[k] == dims[k];
  if (ok)
    return 0;
  char want[256], buf[256];
  size_t n = 0;
  sappend(want, sizeof want, &n, "[");
  for (int k = 0; k < rank; k++)
    sappend(want, sizeof want, &n, "%s%lld", k ? ", " : "", (long long)dims[k]);
  sappend(want, sizeof want, &n, "]");
  return op_fail(op, d, "result type %s does not have the shape %s",
                 type_str(ty, buf, sizeof buf), want);
}

/* --- quantization parameters --- */

/* Maps a flat element index of a quantized tensor to its (scale, zero
 * point) pair. */
typedef struct QMap {
  const DyQuant *q; /* NULL: the tensor is not quantized */
  int rank;
  int64_t dims[DY_MAX_RANK];
  int axis;                   /* per axis: the axis, normalized */
  int64_t inner;              /* per axis: elements per step along axis */
  int64_t bsize[DY_MAX_RANK]; /* blocked: block size along each axis */
  int64_t bdims[DY_MAX_RANK]; /* blocked: shape of the scale tensor */
} QMap;

/* Checks t's quantization against its shape and prepares the map. */
static int qmap_init(QMap *m, const DyType *t, const DyOp *op, DyDiag *d) {
  memset(m, 0, sizeof *m);
  const DyQuant *q = t->quant;
  m->q = q;
  if (!q)
    return 0;
  m->rank = t->rank;
  memcpy(m->dims, t->dims, sizeof m->dims);
  if (q->nparams < 1 || !q->scales || !q->zero_points)
    return op_fail(op, d, "quantized type without parameters");
  int64_t lo, hi;
  dy_elem_range(t->elem, &lo, &hi);
  for (int64_t i = 0; i < q->nparams; i++) {
    if (!(q->scales[i] > 0) || isinf(q->scales[i]) ||
        !((float)q->scales[i] > 0) || isinf((float)q->scales[i]))
      return op_fail(op, d, "scale %g is not a positive finite f32",
                     q->scales[i]);
    if (q->zero_points[i] < lo || q->zero_points[i] > hi)
      return op_fail(op, d, "zero point %lld does not fit %s",
                     (long long)q->zero_points[i], dy_elem_name(t->elem));
  }
  switch (q->kind) {
  case DY_QUANT_PER_TENSOR:
    if (q->nparams != 1)
      return op_fail(op, d, "per-tensor quantization with %lld parameters",
                     (long long)q->nparams);
    return 0;
  case DY_QUANT_PER_AXIS:
    if (dy_axis_normalize(q->axis, t->rank, &m->axis))
      return op_fail(op, d, "quantization axis %d is out of range for rank %d",
                     q->axis, t->rank);
    if (q->nparams != t->dims[m->axis])
      return op_fail(op, d,
                     "per-axis quantization has %lld parameters for an axis "
                     "of size %lld",
                     (long long)q->nparams, (long long)t->dims[m->axis]);
    m->inner = dims_prod(t->dims, m->axis + 1, t->rank);
    return 0;
  case DY_QUANT_BLOCKED: {
    /* the scale tensor's shape as the IR defines it; each of its entries
     * covers a block of bsize elements along each axis */
    dy_quant_block_shape(q, t, m->bdims);
    int64_t count = 1;
    for (int k = 0; k < t->rank; k++) {
      int64_t s = m->bdims[k], n = t->dims[k];
      int64_t b = q->block[k] > 0 ? q->block[k] : (s > 0 ? n / s : 1);
      /* s blocks of b must cover the axis, none of them empty */
      if (s < 1 || b < 1 || (n > 0 && s != n / b + (n % b != 0)))
        return op_fail(op, d,
                       "block size %lld does not tile axis %d of size %lld",
                       (long long)q->block[k], k, (long long)n);
      m->bsize[k] = b;
      count *= s;
    }
    if (count != q->nparams)
      return op_fail(op, d,
                     "blocked quantization has %lld parameters, its block "
                     "shape needs %lld",
                     (long long)q->nparams, (long long)count);
    return 0;
  }
  }
  return op_fail(op, d, "unknown quantization kind %d", (int)q->kind);
}

static int64_t qmap_index(const QMap *m, int64_t flat) {
  switch (m->q->kind) {
  case DY_QUANT_PER_AXIS:
    return (flat / m->inner) % m->dims[m->axis];
  case DY_QUANT_BLOCKED: {
    int64_t c[DY_MAX_RANK], p = 0;
    unravel(flat, m->rank, m->dims, c);
    for (int k = 0; k < m->rank; k++)
      p = p * m->bdims[k] + c[k] / m->bsize[k];
    return p;
  }
  default:
    return 0;
  }
}

/* Dequantizes stored q at flat index i: (q - zp) * scale in f32. */
static float dequant_one(const QMap *m, int64_t q, int64_t i) {
  int64_t p = qmap_index(m, i);
  return (float)(q - m->q->zero_points[p]) * (float)m->q->scales[p];
}

/* Rounds to the nearest integer, ties to even, whatever the FPU mode. */
static double round_half_even(double v) {
  double f = floor(v);
  double diff = v - f;
  if (diff > 0.5)
    return f + 1;
  if (diff < 0.5)
    return f;
  return fmod(f, 2.0) == 0 ? f : f + 1;
}

/* Quantizes x at flat index i: clamp(round(x / s) + zp, qmin, qmax), the
 * division in f32. A NaN cannot be quantized and is an error. */
static int quant_one(const DyOp *op, DyDiag *d, const QMap *m, float x,
                     int64_t i, int half_away, int64_t *out) {
  int64_t p = qmap_index(m, i);
  float v = x / (float)m->q->scales[p];
  if (isnan(v))
    return op_fail(op, d, "cannot quantize NaN at index %lld", (long long)i);
  double r = half_away ? round((double)v) : round_half_even((double)v);
  /* r is an integer (or infinite); clamping in double is exact enough:
   * anything beyond 2^53 is far outside every storage range */
  double y = r + (double)m->q->zero_points[p];
  if (y < (double)m->q->qmin)
    y = (double)m->q->qmin;
  if (y > (double)m->q->qmax)
    y = (double)m->q->qmax;
  *out = (int64_t)y;
  return 0;
}

/* Element i of a real or integer tensor as a double: f32 as is, quantized
 * dequantized in f32, plain integers exactly. */
static double load_value(const DyType *t, const QMap *m, const void *data,
                         int64_t i) {
  if (t->quant)
    return dequant_one(m, dy_load_int(data, t->elem, i), i);
  if (t->elem == DY_F32)
    return load_f32(data, i);
  return (double)dy_load_int(data, t->elem, i);
}

/* Stores v as element i of y: rounded to f32, quantized (half to even), or
 * for plain integer types, if it is an integer that fits. */
static int store_value(const DyOp *op, DyDiag *d, const DyType *t,
                       const QMap *m, void *y, int64_t i, double v) {
  if (t->quant) {
    int64_t q;
    if (quant_one(op, d, m, (float)v, i, 0, &q))
      return 1;
    dy_store_int(y, t->elem, i, q);
    return 0;
  }
  if (t->elem == DY_F32) {
    store_f32(y, i, (float)v);
    return 0;
  }
  if (!(v == floor(v)) || !(fabs(v) < EXACT_LIMIT))
    return op_fail(op, d, "result %.17g at index %lld is not an integer of %s",
                   v, (long long)i, dy_elem_name(t->elem));
  return store_int_checked(op, d, t, y, i, (int64_t)v);
}

/* --- numeric ops: kernels on double buffers --- */

/* A real-domain kernel: in[i] holds operand i (shape
 * op->operands[i]->type), out the result (shape op->results[0]->type).
 * Kernels check every shape they index with. */
typedef int (*Kernel)(const DyOp *op, double *const *in, double *out,
                      DyDiag *d);

static int k_conv2d(const DyOp *op, double *const *in, double *out, DyDiag *d) {
  DyConvGeom gm;
  if (dy_conv_geom(op, &gm, d))
    return 1;
  int64_t N = gm.N, H = gm.H, W = gm.W, C = gm.C, OC = gm.OC, KH = gm.KH,
          KW = gm.KW, CG = gm.CG, OH = gm.OH, OW = gm.OW, groups = gm.groups;
  const int64_t *strides = gm.strides, *dil = gm.dil, *pads = gm.pads;
  const DyType *tb = op->noperands > 2 ? &op->operands[2]->type : NULL;
  int64_t ocpg = OC / groups; /* output channels per group */
  const double *x = in[0], *w = in[1], *b = tb ? in[2] : NULL;
  for (int64_t n = 0; n < N; n++)
    for (int64_t oh = 0; oh < OH; oh++)
      for (int64_t ow = 0; ow < OW; ow++)
        for (int64_t oc = 0; oc < OC; oc++) {
          int64_t g = oc / ocpg;
          double acc = 0;
          for (int64_t kh = 0; kh < KH; kh++) {
            int64_t ih = oh * strides[0] - pads[0] + kh * dil[0];
            if (ih < 0 || ih >= H)
              continue;
            for (int64_t kw = 0; kw < KW; kw++) {
              int64_t iw = ow * strides[1] - pads[1] + kw * dil[1];
              if (iw < 0 || iw >= W)
                continue;
              for (int64_t ic = 0; ic < CG; ic++) {
                double xv = x[((n * H + ih) * W + iw) * C + g * CG + ic];
                double wv = w[((oc * KH + kh) * KW + kw) * CG + ic];
                acc += xv * wv;
              }
            }
          }
          if (b)
            acc += b[oc];
          out[((n * OH + oh) * OW + ow) * OC + oc] = acc;
        }
  return 0;
}

static int k_matmul(const DyOp *op, double *const *in, double *out, DyDiag *d) {
  DyMatmulGeom gm;
  if (dy_matmul_geom(op, &gm, d))
    return 1;
  const DyType *tb = op->noperands > 2 ? &op->operands[2]->type : NULL;
  int64_t M = gm.M, K = gm.K, N = gm.N, rows = gm.rows;
  int batched = gm.batched;
  const double *x = in[0], *w = in[1], *b = tb ? in[2] : NULL;
  for (int64_t m = 0; m < M; m++) {
    const double *wm = batched ? w + (m / rows) * K * N : w;
    for (int64_t j = 0; j < N; j++) {
      double acc = 0;
      for (int64_t k = 0; k < K; k++)
        acc += x[m * K + k] * wm[k * N + j];
      if (b)
        acc += b[j];
      out[m * N + j] = acc;
    }
  }
  return 0;
}

/* add and mul with numpy broadcasting: shapes align at the last axis and
 * each pair of sizes is equal or contains a 1. */
static int k_binary(const DyOp *op, double *const *in, double *out, DyDiag *d) {
  DyBcastGeom gm;
  if (dy_bcast_geom(op, &gm, d))
    return 1;
  int r = gm.rank;
  const int64_t *dy = gm.dy;
  int64_t n = dims_prod(dy, 0, r);
  for (int64_t i = 0; i < n; i++) {
    int64_t ia, ib;
    dy_bcast_index(&gm, i, &ia, &ib);
    double a = in[0][ia], b = in[1][ib];
    double v = op->kind == DY_OP_ADD ? a + b : a * b;
    out[i] = v;
  }
  return 0;
}

/* Elementwise ops whose result has the operand's shape. */
static int k_unary(const DyOp *op, double *const *in, double *out, DyDiag *d) {
  const DyType *tx = &op->operands[0]->type;
  if (expect_result_dims(op, d, tx->rank, tx->dims))
    return 1;
  double lo = -INFINITY, hi = INFINITY;
  if (op->kind == DY_OP_CLIP &&
      (dy_attr_read_float(op, "min", -INFINITY, &lo, d) ||
       dy_attr_read_float(op, "max", INFINITY, &hi, d)))
    return 1;
  int64_t n = numel(tx);
  for (int64_t i = 0; i < n; i++) {
    double x = in[0][i], y;
    switch (op->kind) {
    case DY_OP_RELU:
      y = x < 0 ? 0 : x; /* NaN stays NaN */
      break;
    case DY_OP_CLIP:
      y = x < lo ? lo : x; /* min(max(x, lo), hi) */
      y = y > hi ? hi : y;
      break;
    case DY_OP_HARDSWISH: {
      double t = x + 3;
      t = t < 0 ? 0 : t;
      t = t > 6 ? 6 : t;
      y = x * t / 6;
      break;
    }
    case DY_OP_SIGMOID:
      y = 1 / (1 + exp(-x));
      break;
    case DY_OP_TANH:
      y = tanh(x);
      break;
    default:
      return op_fail(op, d, "not an elementwise op");
    }
    out[i] = y;
  }
  return 0;
}

static int k_softmax(const DyOp *op, double *const *in, double *out,
                     DyDiag *d) {
  const DyType *tx = &op->operands[0]->type;
  int64_t axis_attr;
  int axis;
  if (dy_attr_read_int(op, "axis", -1, INT64_MIN, INT64_MAX, &axis_attr, d))
    return 1;
  if (dy_axis_normalize(axis_attr, tx->rank, &axis))
    return op_fail(op, d, "axis %lld is out of range for rank %d",
                   (long long)axis_attr, tx->rank);
  if (expect_result_dims(op, d, tx->rank, tx->dims))
    return 1;
  int64_t outer = dims_prod(tx->dims, 0, axis), len = tx->dims[axis];
  int64_t inner = dims_prod(tx->dims, axis + 1, tx->rank);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      const double *x = in[0] + o * len * inner + i;
      double *y = out + o * len * inner + i;
      double max = -INFINITY, sum = 0;
      for (int64_t j = 0; j < len; j++)
        if (x[j * inner] > max || isnan(x[j * inner]))
          max = x[j * inner];
      for (int64_t j = 0; j < len; j++)
        sum += exp(x[j * inner] - max);
      for (int64_t j = 0; j < len; j++)
        y[j * inner] = exp(x[j * inner] - max) / sum;
    }
  return 0;
}

/* maxpool: the largest input cell of each window; padding never wins, a NaN
 * does (as in PyTorch). avgpool: the window's sum over its input cells
 * divided by the number of those cells, or with count_include_pad by the
 * number of cells inside the explicitly padded input; cells beyond the pads
 * (reached under ceil_mode) are never counted. */
static int k_pool(const DyOp *op, double *const *in, double *out, DyDiag *d) {
  DyPoolGeom p;
  if (dy_pool_geom(op, &p, d))
    return 1;
  int64_t include_pad = p.count_include_pad;
  const double *x = in[0];
  for (int64_t n = 0; n < p.N; n++)
    for (int64_t oh = 0; oh < p.OH; oh++)
      for (int64_t ow = 0; ow < p.OW; ow++)
        for (int64_t c = 0; c < p.C; c++) {
          double max = -INFINITY, sum = 0;
          int64_t cells = 0, padded = 0;
          for (int64_t kh = 0; kh < p.kernel[0]; kh++)
            for (int64_t kw = 0; kw < p.kernel[1]; kw++) {
              int64_t ih = oh * p.strides[0] - p.pads[0] + kh * p.dil[0];
              int64_t iw = ow * p.strides[1] - p.pads[1] + kw * p.dil[1];
              if (ih >= -p.pads[0] && ih < p.H + p.pads[2] &&
                  iw >= -p.pads[1] && iw < p.W + p.pads[3])
                padded++;
              if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W)
                continue;
              double v = x[((n * p.H + ih) * p.W + iw) * p.C + c];
              if (!isnan(max) && (v > max || isnan(v)))
                max = v;
              cells++;
              sum += v;
            }
          if (cells == 0)
            return op_fail(op, d,
                           "the window at output (%lld, %lld) covers no "
                           "input cell",
                           (long long)oh, (long long)ow);
          double y;
          if (op->kind == DY_OP_MAXPOOL) {
            y = max;
          } else {
            int64_t div = include_pad ? padded : cells;
            y = sum / (double)div;
          }
          out[((n * p.OH + oh) * p.OW + ow) * p.C + c] = y;
        }
  return 0;
}

static int k_global_avgpool(const DyOp *op, double *const *in, double *out,
                            DyDiag *d) {
  const DyType *tx = &op->operands[0]->type;
  if (expect_rank(op, d, "input", tx, 4))
    return 1;
  int64_t N = tx->dims[0], H = tx->dims[1], W = tx->dims[2], C = tx->dims[3];
  int64_t ydims[4] = {N, 1, 1, C};
  if (expect_result_dims(op, d, 4, ydims))
    return 1;
  if (H * W == 0)
    return op_fail(op, d, "mean over an empty input");
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++) {
      double sum = 0;
      for (int64_t h = 0; h < H; h++)
        for (int64_t w = 0; w < W; w++)
          sum += in[0][((n * H + h) * W + w) * C + c];
      out[n * C + c] = sum / (double)(H * W);
    }
  return 0;
}

static int k_batchnorm(const DyOp *op, double *const *in, double *out,
                       DyDiag *d) {
  const DyType *tx = &op->operands[0]->type;
  if (tx->rank < 1)
    return op_fail(op, d, "input must have rank 1 or more");
  int64_t C = tx->dims[tx->rank - 1];
  static const char *const names[] = {"", "scale", "bias", "mean", "var"};
  for (int i = 1; i < 5; i++) {
    const DyType *t = &op->operands[i]->type;
    if (t->rank != 1 || t->dims[0] != C)
      return op_fail(op, d, "%s must have shape [%lld]", names[i],
                     (long long)C);
  }
  double eps;
  if (dy_attr_read_float(op, "epsilon", 1e-5, &eps, d) ||
      expect_result_dims(op, d, tx->rank, tx->dims))
    return 1;
  int64_t n = numel(tx);
  for (int64_t i = 0; i < n; i++) {
    int64_t c = i % C;
    out[i] = (in[0][i] - in[3][c]) / sqrt(in[4][c] + eps) * in[1][c] + in[2][c];
  }
  return 0;
}

/* Runs a numeric kernel: checks the domain, loads the operands as doubles,
 * runs it and stores the result. */
/* The kernels index by the geometry of lib/shape.c; the declared result
 * must have the shape that geometry gives (the verifier's inference). */
static int check_result_shape(const DyOp *op, DyDiag *d) {
  DyType t;
  if (dy_op_infer_type(op, &t, d))
    return 1;
  return expect_result_dims(op, d, t.rank, t.dims);
}

static int eval_numeric(const DyOp *op, const DyTensor *operands, DyTensor *out,
                        DyDiag *d, Kernel kernel, int int_ok) {
  const DyType *ty = &op->results[0]->type;
  if (check_result_shape(op, d))
    return 1;
  /* the integer forms run on the integer path (lib/interp_int.c); a clip
   * on plain integers keeps the integers within its bounds */
  int64_t clo = INT64_MIN, chi = INT64_MAX;
  if (op->kind == DY_OP_CLIP) {
    double lo, hi;
    if (dy_attr_read_float(op, "min", -INFINITY, &lo, d) ||
        dy_attr_read_float(op, "max", INFINITY, &hi, d))
      return 1;
    if (isnan(lo))
      lo = -INFINITY; /* comparisons with NaN never clip */
    if (isnan(hi))
      hi = INFINITY;
    clo = lo <= -9.2e18 ? INT64_MIN : (int64_t)ceil(lo);
    chi = hi >= 9.2e18 ? INT64_MAX : (int64_t)floor(hi);
  }
  int ir = dy_interp_int_eval(op, operands, out, clo, chi, d);
  if (ir >= 0)
    return ir;
  /* not an integer form: the real domain, with no integer operand */
  if (!is_real(ty) && !int_ok)
    return op_fail(op, d, "integer element type %s is not supported",
                   dy_elem_name(ty->elem));
  for (int i = 0; i < op->noperands; i++)
    if (is_real(&op->operands[i]->type) != is_real(ty))
      return op_fail(op, d, "mixed integer and real element types (%s, %s)",
                     dy_elem_name(op->operands[i]->type.elem),
                     dy_elem_name(ty->elem));
  if (!is_real(ty))
    return op_fail(op, d, "integer element types do not form an integer %s",
                   dy_op_name(op->kind));
  double *bufs[MAX_NUMERIC_OPERANDS] = {0};
  double *y = NULL;
  int rc = 1;
  if (op->noperands > MAX_NUMERIC_OPERANDS) {
    op_fail(op, d, "too many operands");
    goto done;
  }
  for (int i = 0; i < op->noperands; i++) {
    const DyType *t = &op->operands[i]->type;
    QMap m;
    if (qmap_init(&m, t, op, d))
      goto done;
    int64_t n = numel(t);
    bufs[i] = malloc((size_t)(n ? n : 1) * sizeof(double));
    if (!bufs[i]) {
      op_fail(op, d, "out of memory");
      goto done;
    }
    for (int64_t j = 0; j < n; j++)
      bufs[i][j] = load_value(t, &m, operands[i].data, j);
  }
  int64_t ny = numel(ty);
  y = calloc((size_t)(ny ? ny : 1), sizeof(double));
  if (!y) {
    op_fail(op, d, "out of memory");
    goto done;
  }
  if (kernel(op, bufs, y, d))
    goto done;
  QMap my;
  if (qmap_init(&my, ty, op, d) || dy_tensor_alloc(&out[0], ty, d))
    goto done;
  for (int64_t j = 0; j < ny; j++)
    if (store_value(op, d, ty, &my, out[0].data, j, y[j])) {
      dy_tensor_free(&out[0]);
      goto done;
    }
  rc = 0;
done:
  for (int i = 0; i < MAX_NUMERIC_OPERANDS; i++)
    free(bufs[i]);
  free(y);
  return rc;
}

/* --- data movement --- */

/* A movement op's map: for each result element, the operand it comes from
 * (-1: the fill value) and the flat index in it. */
typedef int (*MoveMap)(const DyOp *op, int *src_op, int64_t *src_idx,
                       DyDiag *d);

static int map_identity(const DyOp *op, int *src_op, int64_t *src_idx,
                        DyDiag *d) {
  const DyType *tx = &op->operands[0]->type, *ty = &op->results[0]->type;
  if (op->kind == DY_OP_IDENTITY &&
      expect_result_dims(op, d, tx->rank, tx->dims))
    return 1;
  if (numel(tx) != numel(ty))
    return op_fail(op, d, "result has %lld elements, the input %lld",
                   (long long)numel(ty), (long long)numel(tx));
  for (int64_t i = 0; i < numel(ty); i++) {
    src_op[i] = 0;
    src_idx[i] = i;
  }
  return 0;
}

static int map_flatten(const DyOp *op, int *src_op, int64_t *src_idx,
                       DyDiag *d) {
  const DyType *tx = &op->operands[0]->type;
  int64_t axis;
  if (dy_attr_read_int(op, "axis", 1, INT64_MIN, INT64_MAX, &axis, d))
    return 1;
  if (axis < -tx->rank || axis > tx->rank)
    return op_fail(op, d, "axis %lld is out of range for rank %d",
                   (long long)axis, tx->rank);
  int a = (int)(axis < 0 ? axis + tx->rank : axis);
  int64_t ydims[2] = {dims_prod(tx->dims, 0, a),
                      dims_prod(tx->dims, a, tx->rank)};
  if (expect_result_dims(op, d, 2, ydims))
    return 1;
  return map_identity(op, src_op, src_idx, d);
}

static int map_transpose(const DyOp *op, int *src_op, int64_t *src_idx,
                         DyDiag *d) {
  const DyType *tx = &op->operands[0]->type;
  int r = tx->rank;
  int64_t perm[DY_MAX_RANK] = {0}, ydims[DY_MAX_RANK] = {0};
  if (dy_attr_read_ints(op, "perm", r, NULL, 0, perm, d))
    return 1;
  int seen[DY_MAX_RANK] = {0};
  for (int k = 0; k < r; k++) {
    if (perm[k] >= r || seen[perm[k]]++)
      return op_fail(op, d, "perm is not a permutation");
    ydims[k] = tx->dims[perm[k]];
  }
  if (expect_result_dims(op, d, r, ydims))
    return 1;
  int64_t n = numel(tx), cy[DY_MAX_RANK], cx[DY_MAX_RANK];
  for (int64_t i = 0; i < n; i++) {
    unravel(i, r, ydims, cy);
    for (int k = 0; k < r; k++)
      cx[perm[k]] = cy[k]; /* y[..., c_k, ...] = x[..., c at perm[k], ...] */
    src_op[i] = 0;
    src_idx[i] = ravel(cx, r, tx->dims);
  }
  return 0;
}

static int map_concat(const DyOp *op, int *src_op, int64_t *src_idx,
                      DyDiag *d) {
  const DyType *t0 = &op->operands[0]->type;
  int r = t0->rank, axis;
  int64_t axis_attr;
  if (!dy_op_attr(op, "axis"))
    return op_fail(op, d, "missing attribute 'axis'");
  if (dy_attr_read_int(op, "axis", 0, INT64_MIN, INT64_MAX, &axis_attr, d))
    return 1;
  if (dy_axis_normalize(axis_attr, r, &axis))
    return op_fail(op, d, "axis %lld is out of range for rank %d",
                   (long long)axis_attr, r);
  int64_t ydims[DY_MAX_RANK];
  memcpy(ydims, t0->dims, sizeof ydims);
  ydims[axis] = 0;
  for (int i = 0; i < op->noperands; i++) {
    const DyType *t = &op->operands[i]->type;
    if (t->rank != r)
      return op_fail(op, d, "operand %d has rank %d, not %d", i, t->rank, r);
    for (int k = 0; k < r; k++)
      if (k != axis && t->dims[k] != t0->dims[k])
        return op_fail(op, d, "operand %d differs in size along axis %d", i, k);
    ydims[axis] += t->dims[axis];
  }
  if (expect_result_dims(op, d, r, ydims))
    return 1;
  int64_t n = dims_prod(ydims, 0, r), c[DY_MAX_RANK];
  for (int64_t i = 0; i < n; i++) {
    unravel(i, r, ydims, c);
    int k = 0;
    while (c[axis] >= op->operands[k]->type.dims[axis]) {
      c[axis] -= op->operands[k]->type.dims[axis];
      k++;
    }
    src_op[i] = k;
    src_idx[i] = ravel(c, r, op->operands[k]->type.dims);
  }
  return 0;
}

/* Where index i (outside [0, n)) reads from under reflect (mirror without
 * repeating the edge, as numpy.pad and ONNX Pad) or edge (clamp). */
static int64_t pad_source(int64_t i, int64_t n, int reflect) {
  if (!reflect || n == 1)
    return i < 0 ? 0 : n - 1;
  int64_t period = 2 * (n - 1);
  int64_t j = i % period;
  if (j < 0)
    j += period;
  return j < n ? j : period - j;
}

static int map_pad(const DyOp *op, int *src_op, int64_t *src_idx, DyDiag *d) {
  const DyType *tx = &op->operands[0]->type;
  int r = tx->rank;
  int64_t pads[2 * DY_MAX_RANK] = {0}, ydims[DY_MAX_RANK] = {0};
  const char *mode;
  static const char *const modes[] = {"constant", "reflect", "edge", NULL};
  if (dy_attr_read_ints(op, "pads", 2 * r, NULL, 0, pads, d) ||
      dy_attr_read_enum(op, "mode", modes, "constant", &mode, d))
    return 1;
  int constant = strcmp(mode, "constant") == 0;
  int reflect = strcmp(mode, "reflect") == 0;
  if (!constant && !reflect && strcmp(mode, "edge") != 0)
    return op_fail(op, d, "unknown mode \"%s\"", mode);
  for (int k = 0; k < r; k++) {
    ydims[k] = tx->dims[k] + pads[k] + pads[r + k];
    if (ydims[k] < 0)
      return op_fail(op, d, "pads remove more than axis %d holds", k);
    if (!constant && tx->dims[k] == 0 && ydims[k] > 0)
      return op_fail(op, d, "cannot %s-pad the empty axis %d", mode, k);
  }
  if (expect_result_dims(op, d, r, ydims))
    return 1;
  int64_t n = dims_prod(ydims, 0, r), c[DY_MAX_RANK];
  for (int64_t i = 0; i < n; i++) {
    unravel(i, r, ydims, c);
    int fill = 0;
    for (int k = 0; k < r; k++) {
      c[k] -= pads[k];
      if (c[k] >= 0 && c[k] < tx->dims[k])
        continue;
      if (constant)
        fill = 1;
      else
        c[k] = pad_source(c[k], tx->dims[k], reflect);
    }
    src_op[i] = fill ? -1 : 0;
    src_idx[i] = fill ? 0 : ravel(c, r, tx->dims);
  }
  return 0;
}

/* Runs a movement op: the map says where each element comes from; elements
 * are copied when the operand has the result's type, else converted
 * through their values. */
static int eval_move(const DyOp *op, const DyTensor *operands, DyTensor *out,
                     DyDiag *d, MoveMap map) {
  const DyType *ty = &op->results[0]->type;
  for (int i = 0; i < op->noperands; i++)
    if (is_real(&op->operands[i]->type) != is_real(ty))
      return op_fail(op, d, "mixed integer and real element types (%s, %s)",
                     dy_elem_name(op->operands[i]->type.elem),
                     dy_elem_name(ty->elem));
  int64_t n = numel(ty);
  int *src_op = malloc((size_t)(n ? n : 1) * sizeof *src_op);
  int64_t *src_idx = malloc((size_t)(n ? n : 1) * sizeof *src_idx);
  int rc = 1;
  if (!src_op || !src_idx) {
    op_fail(op, d, "out of memory");
    goto done;
  }
  if (map(op, src_op, src_idx, d))
    goto done;
  double value = 0;
  if (op->kind == DY_OP_PAD && dy_attr_read_float(op, "value", 0.0, &value, d))
    goto done;
  QMap my;
  if (qmap_init(&my, ty, op, d) || dy_tensor_alloc(&out[0], ty, d))
    goto done;
  size_t esize = dy_elem_size(ty->elem);
  for (int64_t i = 0; i < n; i++) {
    int k = src_op[i];
    if (k < 0) {
      if (store_value(op, d, ty, &my, out[0].data, i, value))
        goto fail;
      continue;
    }
    const DyType *tx = &op->operands[k]->type;
    const void *x = operands[k].data;
    if (tx->elem == ty->elem &&
        (tx->quant == ty->quant ||
         (tx->quant && ty->quant && dy_quant_equal(tx->quant, ty->quant)))) {
      memcpy((unsigned char *)out[0].data + (size_t)i * esize,
             (const unsigned char *)x + (size_t)src_idx[i] * esize, esize);
      continue;
    }
    QMap mx;
    if (qmap_init(&mx, tx, op, d))
      goto fail;
    if (store_value(op, d, ty, &my, out[0].data, i,
                    load_value(tx, &mx, x, src_idx[i])))
      goto fail;
  }
  rc = 0;
  goto done;
fail:
  dy_tensor_free(&out[0]);
done:
  free(src_op);
  free(src_idx);
  return rc;
}

/* --- quantization ops --- */

static int eval_quantize(const DyOp *op, const DyTensor *operands,
                         DyTensor *out, DyDiag *d) {
  const DyType *tx = &op->operands[0]->type, *ty = &op->results[0]->type;
  const char *rounding;
  static const char *const roundings[] = {"half_even", "half_away", NULL};
  if (dy_attr_read_enum(op, "rounding", roundings, "half_even", &rounding, d))
    return 1;
  int half_away = strcmp(rounding, "half_away") == 0;
  if (!half_away && strcmp(rounding, "half_even") != 0)
    return op_fail(op, d, "unknown rounding \"%s\"", rounding);
  if (!is_real(tx))
    return op_fail(op, d, "input must be f32, not %s", dy_elem_name(tx->elem));
  if (!ty->quant)
    return op_fail(op, d, "result type must be quantized");
  if (expect_result_dims(op, d, tx->rank, tx->dims))
    return 1;
  QMap mx, my;
  if (qmap_init(&mx, tx, op, d) || qmap_init(&my, ty, op, d) ||
      dy_tensor_alloc(&out[0], ty, d))
    return 1;
  for (int64_t i = 0; i < numel(ty); i++) {
    float x = (float)load_value(tx, &mx, operands[0].data, i);
    int64_t q;
    if (quant_one(op, d, &my, x, i, half_away, &q)) {
      dy_tensor_free(&out[0]);
      return 1;
    }
    dy_store_int(out[0].data, ty->elem, i, q);
  }
  return 0;
}

static int eval_dequantize(const DyOp *op, const DyTensor *operands,
                           DyTensor *out, DyDiag *d) {
  const DyType *tx = &op->operands[0]->type, *ty = &op->results[0]->type;
  if (op->noperands > 1) {
    /* run-time parameters: x plain integer, scale f32 and zero point of
     * x's type, both rank 0 */
    const DyType *ts = &op->operands[1]->type;
    if (tx->quant || tx->elem == DY_F32 || ts->elem != DY_F32 || ts->quant ||
        numel(ts) != 1 ||
        (op->noperands == 3 && (op->operands[2]->type.elem != tx->elem ||
                                numel(&op->operands[2]->type) != 1)))
      return op_fail(op, d,
                     "run-time dequantize takes a plain integer x, "
                     "an f32 scale and a zero point of x's type");
    if (expect_result_dims(op, d, tx->rank, tx->dims) ||
        dy_tensor_alloc(&out[0], ty, d))
      return 1;
    float s = load_f32(operands[1].data, 0);
    int64_t zp =
        op->noperands == 3 ? dy_load_int(operands[2].data, tx->elem, 0) : 0;
    for (int64_t i = 0; i < numel(ty); i++)
      store_f32(out[0].data, i,
                (float)(dy_load_int(operands[0].data, tx->elem, i) - zp) * s);
    return 0;
  }
  if (!tx->quant)
    return op_fail(op, d, "input must be quantized");
  if (ty->elem != DY_F32 || ty->quant)
    return op_fail(op, d, "result must be f32");
  if (expect_result_dims(op, d, tx->rank, tx->dims))
    return 1;
  QMap mx;
  if (qmap_init(&mx, tx, op, d) || dy_tensor_alloc(&out[0], ty, d))
    return 1;
  for (int64_t i = 0; i < numel(ty); i++)
    store_f32(out[0].data, i,
              dequant_one(&mx, dy_load_int(operands[0].data, tx->elem, i), i));
  return 0;
}

/* y = clamp(requant(x - input_zp) + output_zp), dy_requant_get's
 * parameters; "float" computes round_half_even(v * scale) in double (for
 * ONNX's QLinear ops and for comparison; not integer-only). */
static int eval_requant(const DyOp *op, const DyTensor *operands, DyTensor *out,
                        DyDiag *d) {
  const DyType *tx = &op->operands[0]->type, *ty = &op->results[0]->type;
  if (tx->elem == DY_F32 || ty->elem == DY_F32)
    return op_fail(op, d, "input and result must be integers");
  if (expect_result_dims(op, d, tx->rank, tx->dims))
    return 1;
  DyRequantParams rp;
  if (dy_requant_get(op, &rp, d))
    return 1;
  int64_t channels = rp.n, inner = 1;
  if (channels > 1)
    inner = dims_prod(tx->dims, rp.axis + 1, tx->rank);
  const int64_t *clamp = rp.clamp;
  int64_t in_zp = rp.input_zp, out_zp = rp.output_zp;
  if (dy_tensor_alloc(&out[0], ty, d))
    return 1;
  for (int64_t i = 0; i < numel(ty); i++) {
    int64_t c = channels > 1 ? (i / inner) % channels : 0;
    int64_t v = dy_load_int(operands[0].data, tx->elem, i) - in_zp;
    if (v < INT32_MIN || v > INT32_MAX) {
      dy_tensor_free(&out[0]);
      return op_fail(op, d,
                     "x - input_zp = %lld at index %lld does not fit i32",
                     (long long)v, (long long)i);
    }
    int64_t y;
    if (rp.is_float) {
      double r = round_half_even((double)v * rp.scale[c]);
      r += (double)out_zp; /* |r| < 2^62: beyond every clamp, exact */
      y = r < (double)clamp[0]   ? clamp[0]
          : r > (double)clamp[1] ? clamp[1]
                                 : (int64_t)r;
    } else {
      y = dy_requant_apply(rp.rounding, v, rp.multiplier[c], rp.shift[c]) +
          out_zp;
    }
    y = y < clamp[0] ? clamp[0] : y > clamp[1] ? clamp[1] : y;
    if (store_int_checked(op, d, ty, out[0].data, i, y)) {
      dy_tensor_free(&out[0]);
      return 1;
    }
  }
  return 0;
}

/* ONNX DynamicQuantizeLinear, in f32 as ONNX defines it: the range
 * [min(0, min x), max(0, max x)] mapped onto u8 [0, 255]:
 *   scale = (hi - lo) / 255 (1 when hi == lo, i.e. x is all zero),
 *   zp = round_half_even(clamp(0 - lo / scale, 0, 255)),
 *   y = clamp(round_half_even(x / scale) + zp, 0, 255).
 * Example: x = [-1, 2]: scale = 3/255, zp = round(85) = 85,
 * y = [round(-85) + 85, round(170) + 85] = [0, 255]. */
static int eval_dynamic_quantize(const DyOp *op, const DyTensor *operands,
                                 DyTensor *out, DyDiag *d) {
  const DyType *tx = &op->operands[0]->type;
  if (tx->elem != DY_F32 || tx->quant || op->results[0]->type.elem != DY_U8 ||
      op->results[1]->type.elem != DY_F32 || op->results[2]->type.elem != DY_U8)
    return op_fail(op, d, "dynamic_quantize maps f32 to u8, f32, u8");
  if (expect_result_dims(op, d, tx->rank, tx->dims))
    return 1;
  int64_t n = numel(tx);
  float lo = 0, hi = 0;
  for (int64_t i = 0; i < n; i++) {
    float v = load_f32(operands[0].data, i);
    if (isnan(v))
      return op_fail(op, d, "cannot quantize NaN at index %lld", (long long)i);
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  float scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
  float z = 0.0f - lo / scale;
  z = z < 0 ? 0 : z > 255 ? 255 : z;
  double zp = round_half_even((double)z);
  for (int i = 0; i < 3; i++)
    if (dy_tensor_alloc(&out[i], &op->results[i]->type, d)) {
      for (int k = 0; k < i; k++)
        dy_tensor_free(&out[k]);
      return 1;
    }
  for (int64_t i = 0; i < n; i++) {
    float q = load_f32(operands[0].data, i) / scale;
    double y = round_half_even((double)q) + zp;
    y = y < 0 ? 0 : y > 255 ? 255 : y;
    dy_store_int(out[0].data, DY_U8, i, (int64_t)y);
  }
  store_f32(out[1].data, 0, scale);
  dy_store_int(out[2].data, DY_U8, 0, (int64_t)zp);
  return 0;
}

static int eval_const(const DyOp *op, DyTensor *out, DyDiag *d) {
  const DyType *ty = &op->results[0]->type;
  if (!op->data || (op->data->nbytes && !op->data->data))
    return op_fail(op, d, "constant without data");
  if (dy_tensor_alloc(&out[0], ty, d))
    return 1;
  if (op->data->nbytes != out[0].nbytes) {
    dy_tensor_free(&out[0]);
    return op_fail(op, d, "constant holds %zu bytes, its type needs %zu",
                   op->data->nbytes, out[0].nbytes);
  }
  if (out[0].nbytes)
    memcpy(out[0].data, op->data->data, out[0].nbytes);
  return 0;
}

/* --- one op --- */

int dy_interp_eval_op(const DyOp *op, const DyTensor *operands, DyTensor *out,
                      DyDiag *d) {
  int mino, maxo, nres;
  dy_op_arity(op->kind, &mino, &maxo, &nres);
  for (int i = 0; i < op->nresults; i++)
    memset(&out[i], 0, sizeof out[i]);
  if (op->noperands < mino || (maxo >= 0 && op->noperands > maxo) ||
      op->nresults != nres)
    return op_fail(op, d, "wrong number of operands or results");
  /* the tensors must hold what the op's types say, so that the kernels may
   * index by the types alone */
  for (int i = 0; i < op->noperands; i++) {
    const DyType *t = &op->operands[i]->type;
    int overflow;
    size_t need = dy_type_nbytes(t, &overflow);
    if ((size_t)t->elem >= DY_ELEM_COUNT || t->rank < 0 ||
        t->rank > DY_MAX_RANK || overflow || operands[i].nbytes != need ||
        (need && !operands[i].data)) {
      char buf[256];
      return op_fail(op, d, "operand %d holds %zu bytes, not a %s", i,
                     operands[i].nbytes, type_str(t, buf, sizeof buf));
    }
  }
  const DyType *ty = &op->results[0]->type;
  if ((size_t)ty->elem >= DY_ELEM_COUNT || ty->rank < 0 ||
      ty->rank > DY_MAX_RANK || dy_type_numel(ty) < 0)
    return op_fail(op, d, "invalid result type");

  switch (op->kind) {
  case DY_OP_CONST:
    return eval_const(op, out, d);
  case DY_OP_IDENTITY:
  case DY_OP_RESHAPE:
    return eval_move(op, operands, out, d, map_identity);
  case DY_OP_FLATTEN:
    return eval_move(op, operands, out, d, map_flatten);
  case DY_OP_TRANSPOSE:
    return eval_move(op, operands, out, d, map_transpose);
  case DY_OP_CONCAT:
    return eval_move(op, operands, out, d, map_concat);
  case DY_OP_PAD:
    return eval_move(op, operands, out, d, map_pad);
  case DY_OP_CONV2D:
    return eval_numeric(op, operands, out, d, k_conv2d, 1);
  case DY_OP_MATMUL:
    return eval_numeric(op, operands, out, d, k_matmul, 1);
  case DY_OP_ADD:
  case DY_OP_MUL:
    return eval_numeric(op, operands, out, d, k_binary, 1);
  case DY_OP_RELU:
  case DY_OP_CLIP:
    return eval_numeric(op, operands, out, d, k_unary, 1);
  case DY_OP_HARDSWISH:
  case DY_OP_SIGMOID:
  case DY_OP_TANH:
    return eval_numeric(op, operands, out, d, k_unary, 0);
  case DY_OP_SOFTMAX:
    return eval_numeric(op, operands, out, d, k_softmax, 0);
  case DY_OP_MAXPOOL:
  case DY_OP_AVGPOOL:
    return eval_numeric(op, operands, out, d, k_pool, 1);
  case DY_OP_GLOBAL_AVGPOOL:
    return eval_numeric(op, operands, out, d, k_global_avgpool, 1);
  case DY_OP_BATCHNORM:
    return eval_numeric(op, operands, out, d, k_batchnorm, 0);
  case DY_OP_QUANTIZE:
    return eval_quantize(op, operands, out, d);
  case DY_OP_DEQUANTIZE:
    return eval_dequantize(op, operands, out, d);
  case DY_OP_REQUANT:
    return eval_requant(op, operands, out, d);
  case DY_OP_LOOKUP: {
    int r = dy_interp_int_eval(op, operands, out, 0, 0, d);
    return r < 0 ? op_fail(op, d, "not an integer lookup") : r;
  }
  case DY_OP_DYNAMIC_QUANTIZE:
    return eval_dynamic_quantize(op, operands, out, d);
  case DY_OP_COUNT:
    break;
  }
  return op_fail(op, d, "unknown op");
}

/* --- a whole graph --- */

/* The run-time state of one SSA value. */
typedef struct Slot {
  const DyValue *value;
  DyTensor t;    /* data NULL until computed, or after its last use */
  int owned;     /* t.data is ours to free (graph inputs are borrowed) */
  int last_use;  /* index of the last op reading it; -1 when none */
  int is_output; /* a graph output: kept to the end */
} Slot;

/* Values to slots: open addressing on the value's address. */
typedef struct Run {
  Slot *slots;
  int nslots;
  int *table; /* slot index + 1; 0 = empty */
  size_t mask;
} Run;

static size_t hash_ptr(const void *p) {
  uint64_t h = (uint64_t)(uintptr_t)p;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return (size_t)h;
}

static int run_find(const Run *r, const DyValue *v) {
  for (size_t i = hash_ptr(v) & r->mask;; i = (i + 1) & r->mask) {
    int s = r->table[i];
    if (s == 0)
      return -1;
    if (r->slots[s - 1].value == v)
      return s - 1;
  }
}

/* Adds a slot for v; returns its index, or -1 if v already has one. */
static int run_add(Run *r, const DyValue *v) {
  size_t i = hash_ptr(v) & r->mask;
  for (; r->table[i]; i = (i + 1) & r->mask)
    if (r->slots[r->table[i] - 1].value == v)
      return -1;
  Slot *s = &r->slots[r->nslots];
  memset(s, 0, sizeof *s);
  s->value = v;
  s->last_use = -1;
  r->table[i] = ++r->nslots;
  return r->nslots - 1;
}

static void run_free(Run *r) {
  for (int i = 0; i < r->nslots; i++)
    if (r->slots[i].owned)
      dy_tensor_free(&r->slots[i].t);
  free(r->slots);
  free(r->table);
}

/* Checks that an input tensor has the graph input's element type and
 * shape (its quantization parameters come from the graph). */
static int check_input(const DyGraph *g, int i, const DyTensor *x, DyDiag *d) {
  const DyType *want = &g->inputs[i]->type;
  int overflow;
  size_t need = dy_type_nbytes(want, &overflow);
  if (x->type.elem == want->elem && same_dims(&x->type, want) && !overflow &&
      x->nbytes == need && (need == 0 || x->data))
    return 0;
  char a[256], b[256];
  DyType got = x->type;
  got.quant = NULL;
  if ((size_t)got.elem >= DY_ELEM_COUNT || got.rank < 0 ||
      got.rank > DY_MAX_RANK)
    snprintf(b, sizeof b, "an invalid tensor");
  else
    type_str(&got, b, sizeof b);
  if (x->type.elem == want->elem && same_dims(&x->type, want))
    snprintf(b + strlen(b), sizeof b - strlen(b), " holding %zu bytes",
             x->nbytes);
  dy_error(d, g->loc, "input '%s': expected %s, got %s", g->inputs[i]->name,
           type_str(want, a, sizeof a), b);
  return 1;
}

int dy_interp_run(const DyGraph *g, const DyTensor *inputs, DyTensor *outputs,
                  DyDiag *d) {
  return dy_interp_run_observed(g, inputs, outputs, NULL, NULL, d);
}

int dy_interp_run_observed(const DyGraph *g, const DyTensor *inputs,
                           DyTensor *outputs, DyObserveFn observe, void *user,
                           DyDiag *d) {
  for (int i = 0; i < g->noutputs; i++)
    memset(&outputs[i], 0, sizeof outputs[i]);
  int bad = 0;
  for (int i = 0; i < g->ninputs; i++)
    bad |= check_input(g, i, &inputs[i], d);
  if (bad)
    return 1;

  /* number the values: graph inputs, then op results in order */
  int64_t nvalues = g->ninputs, nops = 0;
  int maxopnds = 1, maxres = 1;
  for (const DyOp *op = g->first; op; op = op->next) {
    nvalues += op->nresults;
    nops++;
    maxopnds = op->noperands > maxopnds ? op->noperands : maxopnds;
    maxres = op->nresults > maxres ? op->nresults : maxres;
  }
  if (nvalues > INT32_MAX / 4 || nops > INT32_MAX) {
    dy_error(d, g->loc, "graph too large to interpret");
    return 1;
  }
  Run r = {0};
  size_t cap = 16;
  while (cap < 2 * (size_t)nvalues)
    cap *= 2;
  r.slots = malloc((size_t)(nvalues ? nvalues : 1) * sizeof *r.slots);
  r.table = calloc(cap, sizeof *r.table);
  r.mask = cap - 1;
  DyTensor *opnds = malloc((size_t)maxopnds * sizeof *opnds);
  DyTensor *res = malloc((size_t)maxres * sizeof *res);
  int rc = 1, nout_done = 0;
  if (!r.slots || !r.table || !opnds || !res) {
    dy_error(d, g->loc, "out of memory");
    goto done;
  }

  for (int i = 0; i < g->ninputs; i++) {
    int s = run_add(&r, g->inputs[i]);
    if (s < 0) {
      dy_error(d, g->loc, "input '%s' is listed twice", g->inputs[i]->name);
      goto done;
    }
    r.slots[s].t = inputs[i];
    r.slots[s].t.type = g->inputs[i]->type;
    if (observe && observe(user, g->inputs[i], &r.slots[s].t))
      goto done;
  }
  int k = 0;
  for (const DyOp *op = g->first; op; op = op->next, k++) {
    for (int j = 0; j < op->noperands; j++) {
      int s = run_find(&r, op->operands[j]);
      if (s < 0) {
        dy_error(d, op->loc, "%s: operand '%s' is used before its definition",
                 dy_op_name(op->kind), op->operands[j]->name);
        goto done;
      }
      r.slots[s].last_use = k;
    }
    for (int j = 0; j < op->nresults; j++)
      if (run_add(&r, op->results[j]) < 0) {
        dy_error(d, op->loc, "%s: value '%s' is defined twice",
                 dy_op_name(op->kind), op->results[j]->name);
        goto done;
      }
  }
  for (int i = 0; i < g->noutputs; i++) {
    int s = run_find(&r, g->outputs[i]);
    if (s < 0) {
      dy_error(d, g->loc, "output '%s' is not defined", g->outputs[i]->name);
      goto done;
    }
    r.slots[s].is_output = 1;
  }

  k = 0;
  for (const DyOp *op = g->first; op; op = op->next, k++) {
    for (int j = 0; j < op->noperands; j++)
      opnds[j] = r.slots[run_find(&r, op->operands[j])].t;
    if (dy_interp_eval_op(op, opnds, res, d))
      goto done;
    for (int j = 0; j < op->nresults; j++) {
      Slot *s = &r.slots[run_find(&r, op->results[j])];
      s->t = res[j];
      s->owned = 1;
      if (observe && observe(user, op->results[j], &s->t)) {
        for (int m = j + 1; m < op->nresults; m++)
          dy_tensor_free(&res[m]);
        goto done;
      }
      if (s->last_use < 0 && !s->is_output) {
        dy_tensor_free(&s->t);
        s->owned = 0;
      }
    }
    /* free what no later op reads */
    for (int j = 0; j < op->noperands; j++) {
      Slot *s = &r.slots[run_find(&r, op->operands[j])];
      if (s->last_use == k && s->owned && !s->is_output) {
        dy_tensor_free(&s->t);
        s->owned = 0;
      }
    }
  }

  /* hand the outputs over; a value returned twice, or a graph input
   * returned as is, is copied */
  for (; nout_done < g->noutputs; nout_done++) {
    Slot *s = &r.slots[run_find(&r, g->outputs[nout_done])];
    DyTensor *o = &outputs[nout_done];
    if (s->owned) {
      *o = s->t; /* moved: s->t.data stays readable for a second copy */
      s->owned = 0;
    } else {
      if (dy_tensor_alloc(o, &s->value->type, d))
        goto done;
      if (o->nbytes)
        memcpy(o->data, s->t.data, o->nbytes);
    }
    o->type = s->value->type;
  }
  rc = 0;
done:
  if (rc)
    for (int i = 0; i < nout_done; i++)
      dy_tensor_free(&outputs[i]);
  run_free(&r);
  free(opnds);
  free(res);
  return rc;
}
