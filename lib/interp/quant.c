/* The interpreter's quantization: per-tensor, per-axis and blocked
 * parameters, quantizing and dequantizing one element, and the quantize,
 * dequantize, requant and dynamic_quantize ops (the exact arithmetic of
 * docs/ir.md and ../shared/REQUANT.md on stored integers). */
#include <math.h>
#include <string.h>

#include "dyad/requant.h"
#include "real.h"

#define EXACT_LIMIT 9007199254740992.0 /* 2^53: doubles hold integers below */

/* --- element access --- */

static float load_f32(const void *data, int64_t i) {
  float v;
  memcpy(&v, (const unsigned char *)data + 4 * (size_t)i, 4);
  return v;
}

static void store_f32(void *data, int64_t i, float v) {
  memcpy((unsigned char *)data + 4 * (size_t)i, &v, 4);
}

/* Stores integer v as element i of y (type t) if it is a valid value. */
static int store_int_checked(const DyOp *op, DyDiag *d, const DyType *t,
                             void *y, int64_t i, int64_t v) {
  int64_t lo, hi;
  dy_type_int_range(t, &lo, &hi);
  if (v < lo || v > hi || (t->elem == DY_I1 && v == 0))
    return dy_interp_fail(op, d, "result %lld at index %lld does not fit %s",
                          (long long)v, (long long)i, dy_elem_name(t->elem));
  dy_store_int(y, t->elem, i, v);
  return 0;
}

/* --- quantization parameters --- */

/* Checks t's quantization against its shape and prepares the map. */
int dy_interp_qmap_init(QMap *m, const DyType *t, const DyOp *op, DyDiag *d) {
  memset(m, 0, sizeof *m);
  const DyQuant *q = t->quant;
  m->q = q;
  if (!q)
    return 0;
  m->rank = t->rank;
  memcpy(m->dims, t->dims, sizeof m->dims);
  if (q->nparams < 1 || !q->scales || !q->zero_points)
    return dy_interp_fail(op, d, "quantized type without parameters");
  int64_t lo, hi;
  dy_elem_range(t->elem, &lo, &hi);
  for (int64_t i = 0; i < q->nparams; i++) {
    if (!(q->scales[i] > 0) || isinf(q->scales[i]) ||
        !((float)q->scales[i] > 0) || isinf((float)q->scales[i]))
      return dy_interp_fail(op, d, "scale %g is not a positive finite f32",
                            q->scales[i]);
    if (q->zero_points[i] < lo || q->zero_points[i] > hi)
      return dy_interp_fail(op, d, "zero point %lld does not fit %s",
                            (long long)q->zero_points[i],
                            dy_elem_name(t->elem));
  }
  switch (q->kind) {
  case DY_QUANT_PER_TENSOR:
    if (q->nparams != 1)
      return dy_interp_fail(op, d,
                            "per-tensor quantization with %lld parameters",
                            (long long)q->nparams);
    return 0;
  case DY_QUANT_PER_AXIS:
    if (dy_axis_normalize(q->axis, t->rank, &m->axis))
      return dy_interp_fail(op, d,
                            "quantization axis %d is out of range for rank %d",
                            q->axis, t->rank);
    if (q->nparams != t->dims[m->axis])
      return dy_interp_fail(
          op, d,
          "per-axis quantization has %lld parameters for an axis "
          "of size %lld",
          (long long)q->nparams, (long long)t->dims[m->axis]);
    m->inner = dy_interp_dims_prod(t->dims, m->axis + 1, t->rank);
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
        return dy_interp_fail(
            op, d, "block size %lld does not tile axis %d of size %lld",
            (long long)q->block[k], k, (long long)n);
      m->bsize[k] = b;
      count *= s;
    }
    if (count != q->nparams)
      return dy_interp_fail(
          op, d,
          "blocked quantization has %lld parameters, its block "
          "shape needs %lld",
          (long long)q->nparams, (long long)count);
    return 0;
  }
  }
  return dy_interp_fail(op, d, "unknown quantization kind %d", (int)q->kind);
}

static int64_t qmap_index(const QMap *m, int64_t flat) {
  switch (m->q->kind) {
  case DY_QUANT_PER_AXIS:
    return (flat / m->inner) % m->dims[m->axis];
  case DY_QUANT_BLOCKED: {
    int64_t c[DY_MAX_RANK], p = 0;
    dy_interp_unravel(flat, m->rank, m->dims, c);
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
    return dy_interp_fail(op, d, "cannot quantize NaN at index %lld",
                          (long long)i);
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
double dy_interp_load_value(const DyType *t, const QMap *m, const void *data,
                            int64_t i) {
  if (t->quant)
    return dequant_one(m, dy_load_int(data, t->elem, i), i);
  if (t->elem == DY_F32)
    return load_f32(data, i);
  return (double)dy_load_int(data, t->elem, i);
}

/* Stores v as element i of y: rounded to f32, quantized (half to even), or
 * for plain integer types, if it is an integer that fits. */
int dy_interp_store_value(const DyOp *op, DyDiag *d, const DyType *t,
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
    return dy_interp_fail(op, d,
                          "result %.17g at index %lld is not an integer of %s",
                          v, (long long)i, dy_elem_name(t->elem));
  return store_int_checked(op, d, t, y, i, (int64_t)v);
}

/* --- quantization ops --- */

int dy_interp_eval_quantize(const DyOp *op, const DyTensor *operands,
                            DyTensor *out, DyDiag *d) {
  const DyType *tx = &op->operands[0]->type, *ty = &op->results[0]->type;
  const char *rounding;
  static const char *const roundings[] = {"half_even", "half_away", NULL};
  if (dy_attr_read_enum(op, "rounding", roundings, "half_even", &rounding, d))
    return 1;
  int half_away = strcmp(rounding, "half_away") == 0;
  if (!half_away && strcmp(rounding, "half_even") != 0)
    return dy_interp_fail(op, d, "unknown rounding \"%s\"", rounding);
  if (!dy_interp_is_real(tx))
    return dy_interp_fail(op, d, "input must be f32, not %s",
                          dy_elem_name(tx->elem));
  if (!ty->quant)
    return dy_interp_fail(op, d, "result type must be quantized");
  if (dy_interp_expect_dims(op, d, tx->rank, tx->dims))
    return 1;
  QMap mx, my;
  if (dy_interp_qmap_init(&mx, tx, op, d) ||
      dy_interp_qmap_init(&my, ty, op, d) || dy_tensor_alloc(&out[0], ty, d))
    return 1;
  for (int64_t i = 0; i < dy_interp_numel(ty); i++) {
    float x = (float)dy_interp_load_value(tx, &mx, operands[0].data, i);
    int64_t q;
    if (quant_one(op, d, &my, x, i, half_away, &q)) {
      dy_tensor_free(&out[0]);
      return 1;
    }
    dy_store_int(out[0].data, ty->elem, i, q);
  }
  return 0;
}

int dy_interp_eval_dequantize(const DyOp *op, const DyTensor *operands,
                              DyTensor *out, DyDiag *d) {
  const DyType *tx = &op->operands[0]->type, *ty = &op->results[0]->type;
  if (op->noperands > 1) {
    /* run-time parameters: x plain integer, scale f32 and zero point of
     * x's type, both rank 0 */
    const DyType *ts = &op->operands[1]->type;
    if (tx->quant || tx->elem == DY_F32 || ts->elem != DY_F32 || ts->quant ||
        dy_interp_numel(ts) != 1 ||
        (op->noperands == 3 && (op->operands[2]->type.elem != tx->elem ||
                                dy_interp_numel(&op->operands[2]->type) != 1)))
      return dy_interp_fail(op, d,
                            "run-time dequantize takes a plain integer x, "
                            "an f32 scale and a zero point of x's type");
    if (dy_interp_expect_dims(op, d, tx->rank, tx->dims) ||
        dy_tensor_alloc(&out[0], ty, d))
      return 1;
    float s = load_f32(operands[1].data, 0);
    int64_t zp =
        op->noperands == 3 ? dy_load_int(operands[2].data, tx->elem, 0) : 0;
    for (int64_t i = 0; i < dy_interp_numel(ty); i++)
      store_f32(out[0].data, i,
                (float)(dy_load_int(operands[0].data, tx->elem, i) - zp) * s);
    return 0;
  }
  if (!tx->quant)
    return dy_interp_fail(op, d, "input must be quantized");
  if (ty->elem != DY_F32 || ty->quant)
    return dy_interp_fail(op, d, "result must be f32");
  if (dy_interp_expect_dims(op, d, tx->rank, tx->dims))
    return 1;
  QMap mx;
  if (dy_interp_qmap_init(&mx, tx, op, d) || dy_tensor_alloc(&out[0], ty, d))
    return 1;
  for (int64_t i = 0; i < dy_interp_numel(ty); i++)
    store_f32(out[0].data, i,
              dequant_one(&mx, dy_load_int(operands[0].data, tx->elem, i), i));
  return 0;
}

/* y = clamp(requant(x - input_zp) + output_zp), dy_requant_get's
 * parameters; "float" computes round_half_even(v * scale) in double (for
 * ONNX's QLinear ops and for comparison; not integer-only). */
int dy_interp_eval_requant(const DyOp *op, const DyTensor *operands,
                           DyTensor *out, DyDiag *d) {
  const DyType *tx = &op->operands[0]->type, *ty = &op->results[0]->type;
  if (tx->elem == DY_F32 || ty->elem == DY_F32)
    return dy_interp_fail(op, d, "input and result must be integers");
  if (dy_interp_expect_dims(op, d, tx->rank, tx->dims))
    return 1;
  DyRequantParams rp;
  if (dy_requant_get(op, &rp, d))
    return 1;
  int64_t channels = rp.n, inner = 1;
  if (channels > 1)
    inner = dy_interp_dims_prod(tx->dims, rp.axis + 1, tx->rank);
  const int64_t *clamp = rp.clamp;
  int64_t in_zp = rp.input_zp, out_zp = rp.output_zp;
  if (dy_tensor_alloc(&out[0], ty, d))
    return 1;
  for (int64_t i = 0; i < dy_interp_numel(ty); i++) {
    int64_t c = channels > 1 ? (i / inner) % channels : 0;
    int64_t v = dy_load_int(operands[0].data, tx->elem, i) - in_zp;
    if (v < INT32_MIN || v > INT32_MAX) {
      dy_tensor_free(&out[0]);
      return dy_interp_fail(
          op, d, "x - input_zp = %lld at index %lld does not fit i32",
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
int dy_interp_eval_dynamic_quantize(const DyOp *op, const DyTensor *operands,
                                    DyTensor *out, DyDiag *d) {
  const DyType *tx = &op->operands[0]->type;
  if (tx->elem != DY_F32 || tx->quant || op->results[0]->type.elem != DY_U8 ||
      op->results[1]->type.elem != DY_F32 || op->results[2]->type.elem != DY_U8)
    return dy_interp_fail(op, d, "dynamic_quantize maps f32 to u8, f32, u8");
  if (dy_interp_expect_dims(op, d, tx->rank, tx->dims))
    return 1;
  int64_t n = dy_interp_numel(tx);
  float lo = 0, hi = 0;
  for (int64_t i = 0; i < n; i++) {
    float v = load_f32(operands[0].data, i);
    if (isnan(v))
      return dy_interp_fail(op, d, "cannot quantize NaN at index %lld",
                            (long long)i);
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
