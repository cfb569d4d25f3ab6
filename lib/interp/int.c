/* The interpreter's integer path: the integer forms of docs/ir.md computed
 * on stored integers in int64 arithmetic, every sum and product checked
 * for overflow and every result checked against its type.
 *
 * This file is the structural half of "integer-only execution": it uses
 * no real-number types at all (test/Interp/int-path-no-real-types.test
 * checks that), so a graph that passes the integer-only check and runs
 * here (with requant in lib/requant.c) never touches a real number
 * between its entry quantize and its exit dequantize. It depends only on
 * lib/interp/tensor.c (tensors, messages) and lib/shape.c (geometry); the
 * runner (lib/interp/run.c) calls it, never the other way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "int.h"
#include "tensor.h"

/* --- types --- */

static int is_int_type(const DyType *t) {
  return t->elem != DY_F32 && (size_t)t->elem < DY_ELEM_COUNT;
}

static int is_plain_int(const DyType *t) { return is_int_type(t) && !t->quant; }

static int64_t count(const DyType *t) {
  int64_t n = dy_type_numel(t);
  return n < 0 ? 0 : n;
}

static int fail(const DyOp *op, DyDiag *d, const char *msg) {
  return dy_interp_fail(op, d, "%s", msg);
}

/* acc += term, or an error on int64 overflow */
static int add_ck(const DyOp *op, DyDiag *d, int64_t *acc, int64_t term) {
  if (__builtin_add_overflow(*acc, term, acc))
    return fail(op, d, "integer accumulation overflows int64");
  return 0;
}

static int mul_ck(const DyOp *op, DyDiag *d, int64_t a, int64_t b,
                  int64_t *out) {
  if (__builtin_mul_overflow(a, b, out))
    return fail(op, d, "integer product overflows int64");
  return 0;
}

/* Allocates out[0] and stores every value of y, each checked. */
static int store_all(const DyOp *op, DyDiag *d, const int64_t *y,
                     DyTensor *out) {
  const DyType *t = &op->results[0]->type;
  int64_t lo, hi, n = count(t);
  dy_type_int_range(t, &lo, &hi);
  if (dy_tensor_alloc(&out[0], t, d))
    return 1;
  for (int64_t i = 0; i < n; i++) {
    if (y[i] < lo || y[i] > hi || (t->elem == DY_I1 && y[i] == 0)) {
      char msg[160];
      snprintf(msg, sizeof msg, "result %lld at index %lld does not fit %s",
               (long long)y[i], (long long)i, dy_elem_name(t->elem));
      dy_tensor_free(&out[0]);
      return fail(op, d, msg);
    }
    dy_store_int(out[0].data, t->elem, i, y[i]);
  }
  return 0;
}

/* Loads operand k as int64: stored value minus zero point (zp_of(i)). */
static int64_t *load(const DyOp *op, const DyTensor *operands, int k,
                     DyDiag *d) {
  const DyType *t = &op->operands[k]->type;
  int64_t n = count(t);
  int64_t *b = malloc((size_t)(n ? n : 1) * sizeof *b);
  if (!b) {
    fail(op, d, "out of memory");
    return NULL;
  }
  for (int64_t i = 0; i < n; i++)
    b[i] = dy_load_int(operands[k].data, t->elem, i);
  return b;
}

/* --- conv2d, matmul --- */

/* Subtracts the zero points of the integer form: x's (or input_zp), w's
 * per tensor or per output channel. */
static int sub_zero_points(const DyOp *op, int64_t *x, int64_t *w, DyDiag *d) {
  const DyType *tx = &op->operands[0]->type, *tw = &op->operands[1]->type;
  const DyAttr *izp = dy_op_attr(op, "input_zp");
  int64_t zx = 0;
  if (izp) {
    if (izp->kind != DY_ATTR_INT || izp->i < INT32_MIN || izp->i > INT32_MAX)
      return fail(op, d, "input_zp must be an i32 integer");
    zx = izp->i;
  } else if (tx->quant) {
    if (tx->quant->kind != DY_QUANT_PER_TENSOR || tx->quant->nparams != 1)
      return fail(op, d, "the input's zero point must be per tensor");
    zx = tx->quant->zero_points[0];
  }
  for (int64_t i = 0, n = count(tx); i < n; i++)
    x[i] -= zx;
  const DyQuant *q = tw->quant;
  if (!q)
    return 0;
  int oc_axis = op->kind == DY_OP_CONV2D ? 0 : tw->rank - 1;
  int64_t OC = tw->dims[oc_axis], n = count(tw);
  if (q->kind == DY_QUANT_PER_TENSOR && q->nparams == 1) {
    for (int64_t i = 0; i < n; i++)
      w[i] -= q->zero_points[0];
    return 0;
  }
  if (q->kind != DY_QUANT_PER_AXIS || q->axis != oc_axis || q->nparams != OC)
    return fail(op, d,
                "weight zero points must be per tensor or per output "
                "channel");
  int64_t inner = 1; /* elements after the channel axis */
  for (int k = oc_axis + 1; k < tw->rank; k++)
    inner *= tw->dims[k];
  for (int64_t i = 0; i < n; i++)
    w[i] -= q->zero_points[(i / inner) % OC];
  return 0;
}

static int int_conv(const DyOp *op, const int64_t *x, const int64_t *w,
                    const int64_t *b, int64_t *y, DyDiag *d) {
  DyConvGeom g;
  if (dy_conv_geom(op, &g, d))
    return 1;
  int64_t ocpg = g.OC / g.groups;
  for (int64_t n = 0; n < g.N; n++)
    for (int64_t oh = 0; oh < g.OH; oh++)
      for (int64_t ow = 0; ow < g.OW; ow++)
        for (int64_t oc = 0; oc < g.OC; oc++) {
          int64_t grp = oc / ocpg, acc = 0;
          for (int64_t kh = 0; kh < g.KH; kh++) {
            int64_t ih = oh * g.strides[0] - g.pads[0] + kh * g.dil[0];
            if (ih < 0 || ih >= g.H)
              continue;
            for (int64_t kw = 0; kw < g.KW; kw++) {
              int64_t iw = ow * g.strides[1] - g.pads[1] + kw * g.dil[1];
              if (iw < 0 || iw >= g.W)
                continue;
              for (int64_t ic = 0; ic < g.CG; ic++) {
                int64_t p;
                if (mul_ck(
                        op, d,
                        x[((n * g.H + ih) * g.W + iw) * g.C + grp * g.CG + ic],
                        w[((oc * g.KH + kh) * g.KW + kw) * g.CG + ic], &p) ||
                    add_ck(op, d, &acc, p))
                  return 1;
              }
            }
          }
          if (b && add_ck(op, d, &acc, b[oc]))
            return 1;
          y[((n * g.OH + oh) * g.OW + ow) * g.OC + oc] = acc;
        }
  return 0;
}

static int int_matmul(const DyOp *op, const int64_t *x, const int64_t *w,
                      const int64_t *b, int64_t *y, DyDiag *d) {
  DyMatmulGeom g;
  if (dy_matmul_geom(op, &g, d))
    return 1;
  for (int64_t m = 0; m < g.M; m++) {
    const int64_t *wm = g.batched ? w + (m / g.rows) * g.K * g.N : w;
    for (int64_t j = 0; j < g.N; j++) {
      int64_t acc = 0, p;
      for (int64_t k = 0; k < g.K; k++)
        if (mul_ck(op, d, x[m * g.K + k], wm[k * g.N + j], &p) ||
            add_ck(op, d, &acc, p))
          return 1;
      if (b && add_ck(op, d, &acc, b[j]))
        return 1;
      y[m * g.N + j] = acc;
    }
  }
  return 0;
}

/* --- elementwise --- */

static int int_binary(const DyOp *op, const int64_t *a, const int64_t *b,
                      int64_t *y, DyDiag *d) {
  DyBcastGeom g;
  if (dy_bcast_geom(op, &g, d))
    return 1;
  int64_t n = count(&op->results[0]->type);
  for (int64_t i = 0; i < n; i++) {
    int64_t ia, ib;
    dy_bcast_index(&g, i, &ia, &ib);
    if (op->kind == DY_OP_ADD) {
      y[i] = a[ia];
      if (add_ck(op, d, &y[i], b[ib]))
        return 1;
    } else if (mul_ck(op, d, a[ia], b[ib], &y[i])) {
      return 1;
    }
  }
  return 0;
}

/* sum / count rounded half away from zero, as TFLite's integer mean */
static int64_t mean(int64_t sum, int64_t n) {
  return sum >= 0 ? (sum + n / 2) / n : -((-sum + n / 2) / n);
}

static int int_pool(const DyOp *op, const int64_t *x, int64_t *y, DyDiag *d) {
  DyPoolGeom p;
  if (dy_pool_geom(op, &p, d))
    return 1;
  for (int64_t n = 0; n < p.N; n++)
    for (int64_t oh = 0; oh < p.OH; oh++)
      for (int64_t ow = 0; ow < p.OW; ow++) {
        DyPoolWindow win;
        dy_pool_window(&p, oh, ow, &win);
        const DyWindowAxis wh = win.h, ww = win.w;
        int64_t cells = win.cells, padded = win.padded;
        for (int64_t c = 0; c < p.C; c++) {
          int64_t max = INT64_MIN, sum = 0;
          for (int64_t kh = wh.lo; kh < wh.hi; kh++)
            for (int64_t kw = ww.lo; kw < ww.hi; kw++) {
              int64_t ih = wh.start + kh * p.dil[0];
              int64_t iw = ww.start + kw * p.dil[1];
              int64_t v = x[((n * p.H + ih) * p.W + iw) * p.C + c];
              max = v > max ? v : max;
              if (add_ck(op, d, &sum, v))
                return 1;
            }
          if (cells == 0)
            return fail(op, d, "a window covers no input cell");
          y[((n * p.OH + oh) * p.OW + ow) * p.C + c] =
              op->kind == DY_OP_MAXPOOL
                  ? max
                  : mean(sum, p.count_include_pad ? padded : cells);
        }
      }
  return 0;
}

static int int_global_avgpool(const DyOp *op, const int64_t *x, int64_t *y,
                              DyDiag *d) {
  const DyType *tx = &op->operands[0]->type, *ty = &op->results[0]->type;
  if (tx->rank != 4 || ty->rank != 4)
    return fail(op, d, "global_avgpool takes and gives rank-4 tensors");
  int64_t N = tx->dims[0], H = tx->dims[1], W = tx->dims[2], C = tx->dims[3];
  if (ty->dims[0] != N || ty->dims[1] != 1 || ty->dims[2] != 1 ||
      ty->dims[3] != C)
    return fail(op, d, "result must be Nx1x1xC");
  if (H * W == 0)
    return fail(op, d, "mean over an empty input");
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++) {
      int64_t sum = 0;
      for (int64_t i = 0; i < H * W; i++)
        if (add_ck(op, d, &sum, x[(n * H * W + i) * C + c]))
          return 1;
      y[n * C + c] = mean(sum, H * W);
    }
  return 0;
}

/* --- softmax and lookup --- */

/* Integer softmax (docs/ir.md): e = table[max - x] along axis, S = sum e,
 * y = clamp(output_zp + floor((e * 2^(shift+1) + S) / (2 S))). */
static int int_softmax(const DyOp *op, const DyTensor *operands, DyTensor *out,
                       DyDiag *d) {
  const DyType *tx = &op->operands[0]->type, *tt = &op->operands[1]->type;
  const DyType *ty = &op->results[0]->type;
  int64_t axis = dy_op_int(op, "axis", -1), shift = dy_op_int(op, "shift", 0);
  int64_t zp = dy_op_int(op, "output_zp", 0);
  if (axis < 0)
    axis += tx->rank;
  if (axis < 0 || axis >= tx->rank)
    return fail(op, d, "axis is out of range");
  if (shift < 0 || shift > 30)
    return fail(op, d, "shift is out of range [0, 30]");
  if (!is_int_type(tx) || tx->elem == DY_I32 || tt->elem != DY_I32 ||
      tt->quant || tt->rank != 1 || !is_int_type(ty) || ty->elem == DY_I32)
    return fail(op, d,
                "integer softmax takes an integer x of at most 16 "
                "bits, an i32 table and gives at most 16 bits");
  int64_t lo, hi, qlo, qhi;
  dy_type_int_range(tx, &lo, &hi);
  dy_type_int_range(ty, &qlo, &qhi);
  if (tt->dims[0] < hi - lo + 1)
    return fail(op, d, "the table is shorter than x's range");
  if (ty->rank != tx->rank ||
      memcmp(ty->dims, tx->dims, (size_t)tx->rank * sizeof ty->dims[0]))
    return fail(op, d, "result shape differs from the operand's");
  if (dy_tensor_alloc(&out[0], ty, d))
    return 1;
  int64_t outer = 1, len = tx->dims[axis], inner = 1;
  for (int k = 0; k < axis; k++)
    outer *= tx->dims[k];
  for (int k = (int)axis + 1; k < tx->rank; k++)
    inner *= tx->dims[k];
  const void *xd = operands[0].data, *td = operands[1].data;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      int64_t base = o * len * inner + i, max = INT64_MIN, sum = 0;
      for (int64_t j = 0; j < len; j++) {
        int64_t v = dy_load_int(xd, tx->elem, base + j * inner);
        max = v > max ? v : max;
      }
      for (int64_t j = 0; j < len; j++) {
        int64_t e = dy_load_int(
            td, DY_I32, max - dy_load_int(xd, tx->elem, base + j * inner));
        /* e < 2^31 and S < 2^62 keep e * 2^(shift+1) + S and 2 S below
         * 2^63 for every shift up to 30 */
        if (e < 0 || sum >= ((int64_t)1 << 62) - e) {
          dy_tensor_free(&out[0]);
          return fail(op, d,
                      "softmax table entries must be >= 0 and their "
                      "sum below 2^62");
        }
        sum += e;
      }
      if (sum <= 0) {
        dy_tensor_free(&out[0]);
        return fail(op, d, "softmax table sum is 0");
      }
      for (int64_t j = 0; j < len; j++) {
        int64_t e = dy_load_int(
            td, DY_I32, max - dy_load_int(xd, tx->elem, base + j * inner));
        int64_t y = zp + (e * ((int64_t)2 << shift) + sum) / (2 * sum);
        dy_store_int(out[0].data, ty->elem, base + j * inner,
                     y < qlo   ? qlo
                     : y > qhi ? qhi
                               : y);
      }
    }
  return 0;
}

static int int_lookup(const DyOp *op, const DyTensor *operands, DyTensor *out,
                      DyDiag *d) {
  const DyType *tx = &op->operands[0]->type, *tt = &op->operands[1]->type;
  const DyType *ty = &op->results[0]->type;
  if (tx->elem != DY_I8 && tx->elem != DY_U8 && tx->elem != DY_I16)
    return fail(op, d, "index must be i8, u8 or i16");
  int64_t tlen = tx->elem == DY_I16 ? 65536 : 256;
  if (count(tt) != tlen)
    return fail(op, d, "the table must have 256 entries (65536 for i16)");
  if (tt->elem != ty->elem)
    return fail(op, d, "result element type differs from the table's");
  if (ty->rank != tx->rank ||
      memcmp(ty->dims, tx->dims, (size_t)tx->rank * sizeof ty->dims[0]))
    return fail(op, d, "result shape differs from the operand's");
  if (dy_tensor_alloc(&out[0], ty, d))
    return 1;
  int64_t base = tx->elem == DY_I8 ? -128 : tx->elem == DY_I16 ? -32768 : 0;
  size_t esize = dy_elem_size(ty->elem);
  for (int64_t i = 0, n = count(ty); i < n; i++) {
    int64_t j = dy_load_int(operands[0].data, tx->elem, i) - base; /* < tlen */
    memcpy((unsigned char *)out[0].data + (size_t)i * esize,
           (const unsigned char *)operands[1].data + (size_t)j * esize, esize);
  }
  return 0;
}

/* --- dispatch --- */

int dy_interp_int_eval(const DyOp *op, const DyTensor *operands, DyTensor *out,
                       int64_t clip_lo, int64_t clip_hi, DyDiag *d) {
  const DyType *ty = &op->results[0]->type;
  int all_plain = is_plain_int(ty);
  for (int i = 0; i < op->noperands; i++)
    all_plain &= is_plain_int(&op->operands[i]->type);
  switch (op->kind) {
  case DY_OP_SOFTMAX:
    if (op->noperands != 2)
      return -1;
    return int_softmax(op, operands, out, d);
  case DY_OP_LOOKUP:
    return int_lookup(op, operands, out, d);
  case DY_OP_CONV2D:
  case DY_OP_MATMUL:
    if (!is_plain_int(ty))
      return -1;
    for (int i = 0; i < op->noperands; i++)
      if (!is_int_type(&op->operands[i]->type))
        return fail(op, d, "mixed integer and real element types");
    break;
  case DY_OP_MAXPOOL:
    /* max is monotonic: with equal types it works on stored values */
    if (!is_int_type(ty) || ty->elem != op->operands[0]->type.elem ||
        !dy_quant_equal(ty->quant, op->operands[0]->type.quant))
      return -1;
    break;
  case DY_OP_ADD:
  case DY_OP_MUL:
  case DY_OP_AVGPOOL:
  case DY_OP_GLOBAL_AVGPOOL:
  case DY_OP_RELU:
  case DY_OP_CLIP:
    if (!all_plain)
      return -1;
    break;
  default:
    return -1;
  }
  int64_t *in[3] = {NULL, NULL, NULL}, *y = NULL;
  int64_t ny = count(ty);
  int rc = 1;
  for (int i = 0; i < op->noperands && i < 3; i++)
    if (!(in[i] = load(op, operands, i, d)))
      goto done;
  y = malloc((size_t)(ny ? ny : 1) * sizeof *y);
  if (!y) {
    fail(op, d, "out of memory");
    goto done;
  }
  switch (op->kind) {
  case DY_OP_CONV2D:
  case DY_OP_MATMUL:
    if (sub_zero_points(op, in[0], in[1], d))
      goto done;
    rc = op->kind == DY_OP_CONV2D ? int_conv(op, in[0], in[1], in[2], y, d)
                                  : int_matmul(op, in[0], in[1], in[2], y, d);
    break;
  case DY_OP_ADD:
  case DY_OP_MUL:
    rc = int_binary(op, in[0], in[1], y, d);
    break;
  case DY_OP_MAXPOOL:
  case DY_OP_AVGPOOL:
    rc = int_pool(op, in[0], y, d);
    break;
  case DY_OP_GLOBAL_AVGPOOL:
    rc = int_global_avgpool(op, in[0], y, d);
    break;
  case DY_OP_RELU:
  case DY_OP_CLIP: {
    const DyType *tx = &op->operands[0]->type;
    if (tx->rank != ty->rank ||
        memcmp(tx->dims, ty->dims, (size_t)tx->rank * sizeof tx->dims[0])) {
      fail(op, d, "result shape differs from the operand's");
      goto done;
    }
    int64_t lo = op->kind == DY_OP_RELU ? 0 : clip_lo;
    int64_t hi = op->kind == DY_OP_RELU ? INT64_MAX : clip_hi;
    for (int64_t i = 0; i < ny; i++)
      y[i] = in[0][i] < lo ? lo : in[0][i] > hi ? hi : in[0][i];
    rc = 0;
    break;
  }
  default:
    break;
  }
  if (!rc)
    rc = store_all(op, d, y, out);
done:
  for (int i = 0; i < 3; i++)
    free(in[i]);
  free(y);
  return rc;
}
