/* One op to one call of its kernel (codegen/kernels/generic.c) with the
 * op's shapes, types and parameters as constants. The geometry comes from
 * lib/shape.c and the data movement maps from the interpreter, so the
 * compiled code computes what the reference interpreter computes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"
#include "dyad/interp.h"
#include "dyad/requant.h"
#include "dyad/shape.h"
#include "dyad/target.h"

static int64_t prod(const int64_t *dims, int from, int to) {
  int64_t p = 1;
  for (int k = from; k < to; k++)
    p *= dims[k];
  return p;
}

static int64_t numel(const DyType *t) { return prod(t->dims, 0, t->rank); }

#define CALL(name, ...)                                                        \
  do {                                                                         \
    CgArg a_[] = {__VA_ARGS__};                                                \
    dy_cg_call(cg, name, (int)(sizeof a_ / sizeof a_[0]), a_);                 \
  } while (0)

#define V(k) CG_P(dy_cg_value(cg, op->operands[k]))
#define Y CG_P(dy_cg_value(cg, op->results[0]))
#define E(k) CG_I(dy_cg_elem(cg, op->operands[k]))
#define EY CG_I(op->results[0]->type.elem)

/* --- quantization parameters as tables --- */

typedef struct QTables {
  int64_t channels, inner;
  LLVMValueRef blk; /* blocked: rank, dims, parameter grid, block sizes */
  LLVMValueRef scales, zps;
} QTables;

static void qtables(Cg *cg, const DyType *t, QTables *q) {
  const DyQuant *p = t->quant;
  q->channels = 1;
  q->inner = 1;
  q->blk = NULL;
  if (p->kind == DY_QUANT_PER_AXIS && p->nparams > 1) {
    int axis;
    dy_axis_normalize(p->axis, t->rank, &axis);
    q->channels = t->dims[axis];
    q->inner = prod(t->dims, axis + 1, t->rank);
  } else if (p->kind == DY_QUANT_BLOCKED) {
    int64_t bd[DY_MAX_RANK], tab[1 + 3 * DY_MAX_RANK];
    int r = t->rank;
    dy_quant_block_shape(p, t, bd);
    tab[0] = r;
    for (int k = 0; k < r; k++) {
      tab[1 + k] = t->dims[k];
      tab[1 + r + k] = bd[k];
      /* as the interpreter: a block of 0 spans the axis */
      tab[1 + 2 * r + k] = p->block[k] > 0 ? p->block[k]
                           : bd[k] > 0     ? t->dims[k] / bd[k]
                                           : 1;
      if (tab[1 + 2 * r + k] < 1)
        tab[1 + 2 * r + k] = 1;
    }
    q->blk = dy_cg_i64s(cg, tab, (size_t)(1 + 3 * r));
  }
  q->scales = dy_cg_f32s(cg, p->scales, (size_t)p->nparams);
  q->zps = dy_cg_i32s(cg, p->zero_points, (size_t)p->nparams);
}

int dy_cg_emit_quantize(Cg *cg, const DyOp *op, LLVMValueRef x, LLVMValueRef y,
                        DyDiag *d) {
  const DyType *ty = &op->results[0]->type;
  const DyAttr *r = dy_op_attr(op, "rounding");
  int half_away = r && r->kind == DY_ATTR_STR && strcmp(r->s, "half_away") == 0;
  QTables q;
  qtables(cg, ty, &q);
  CALL("dyk_quantize", CG_P(x), CG_P(y), EY, CG_I(numel(ty)), CG_I(q.channels),
       CG_I(q.inner), CG_P(q.blk), CG_P(q.scales), CG_P(q.zps),
       CG_I(ty->quant->qmin), CG_I(ty->quant->qmax), CG_I(half_away));
  return 0;
}

int dy_cg_emit_dequantize(Cg *cg, const DyOp *op, LLVMValueRef x,
                          LLVMValueRef y, DyDiag *d) {
  const DyType *tx = &op->operands[0]->type;
  if (op->noperands > 1) { /* run-time scale and zero point */
    CgArg zp = op->noperands == 3 ? V(2) : CG_P(NULL);
    CALL("dyk_dequantize_rt", CG_P(x), E(0), CG_P(y), CG_I(numel(tx)), V(1),
         zp);
    return 0;
  }
  QTables q;
  qtables(cg, tx, &q);
  CALL("dyk_dequantize", CG_P(x), E(0), CG_P(y), CG_I(numel(tx)),
       CG_I(q.channels), CG_I(q.inner), CG_P(q.blk), CG_P(q.scales),
       CG_P(q.zps));
  return 0;
}

/* --- integer layers --- */

/* the input zero point of conv2d/matmul's integer form */
static int64_t input_zp(const DyOp *op) {
  const DyAttr *a = dy_op_attr(op, "input_zp");
  if (a)
    return a->i;
  const DyQuant *q = op->operands[0]->type.quant;
  return q ? q->zero_points[0] : 0;
}

/* weight zero points: a per-channel table, or NULL and *zw0 */
static LLVMValueRef weight_zps(Cg *cg, const DyOp *op, int64_t *zw0) {
  const DyQuant *q = op->operands[1]->type.quant;
  *zw0 = 0;
  if (!q)
    return NULL;
  if (q->kind == DY_QUANT_PER_TENSOR || q->nparams == 1) {
    *zw0 = q->zero_points[0];
    return NULL;
  }
  return dy_cg_i32s(cg, q->zero_points, (size_t)q->nparams);
}

/* --- dot-product kernels (codegen/kernels/dot.c) --- */

static const DyDotKernel *dot_kernel(const DyOp *op) {
  const DyAttr *a = dy_op_attr(op, "impl");
  return a && a->kind == DY_ATTR_STR ? dy_dot_kernel(a->s) : NULL;
}

/* The requant computed by op's dot kernel ("fused"), or NULL. */
static const DyOp *fused_requant(const DyOp *op) {
  for (const DyOp *u = op->next; u; u = u->next)
    if (u->noperands && u->operands[0] == op->results[0] &&
        dy_cg_is_impl(u, "fused"))
      return u;
  return NULL;
}

/* The const value named by op's `packed`. */
static const DyValue *packed_value(const Cg *cg, const DyOp *op, DyDiag *d) {
  const DyAttr *a = dy_op_attr(op, "packed");
  if (a && a->kind == DY_ATTR_STR)
    for (const DyOp *c = cg->g->first; c; c = c->next)
      if (c->kind == DY_OP_CONST && strcmp(c->results[0]->name, a->s) == 0 &&
          c->results[0]->type.elem == DY_I8 && c->results[0]->type.rank == 1)
        return c->results[0];
  dy_error(d, op->loc,
           "'%s' %%%s: 'packed' must name an i8 constant of the graph (the "
           "weights lower-target packed)",
           dy_op_name(op->kind), op->results[0]->name);
  return NULL;
}

/* op (conv2d or matmul) on its dot kernel; rq: the requant it computes as
 * its epilogue, or NULL for the i32 accumulator. */
static int emit_dot(Cg *cg, const DyOp *op, const DyDotKernel *k,
                    const DyOp *rq, DyDiag *d) {
  int64_t N = 1, H = 1, W, C, OC, KH = 1, KW = 1, OH = 1, OW, s[2] = {1, 1},
          p[2] = {0, 0}, dl[2] = {1, 1};
  if (op->kind == DY_OP_CONV2D) {
    DyConvGeom g;
    if (dy_conv_geom(op, &g, d))
      return 1;
    N = g.N, H = g.H, W = g.W, C = g.C, OC = g.OC, KH = g.KH, KW = g.KW;
    OH = g.OH, OW = g.OW;
    s[0] = g.strides[0], s[1] = g.strides[1], p[0] = g.pads[0];
    p[1] = g.pads[1], dl[0] = g.dil[0], dl[1] = g.dil[1];
  } else {
    DyMatmulGeom g;
    if (dy_matmul_geom(op, &g, d))
      return 1;
    W = OW = g.M, C = g.K, OC = g.N; /* rows as a 1 x M image, 1x1 window */
  }
  const DyValue *packed = packed_value(cg, op, d);
  if (!packed)
    return 1;
  const DyAttr *sc = dy_op_attr(op, "scratch");
  const DyAttr *pb = dy_op_attr(op, "packed_bits");
  if (!sc || sc->kind != DY_ATTR_INTS || sc->n != 2) {
    dy_error(d, op->loc, "'%s' %%%s: no 'scratch' = [offset, bytes]",
             dy_op_name(op->kind), op->results[0]->name);
    return 1;
  }
  unsigned flip =
      dy_dot_offset(k, op->operands[0]->type.elem == DY_U8) ? 0x80 : 0;
  DyRequantParams rp;
  memset(&rp, 0, sizeof rp);
  rp.n = 1;
  LLVMValueRef mult = NULL, shift = NULL, scale = NULL;
  if (rq) {
    if (dy_requant_get(rq, &rp, d))
      return 1;
    if (rp.is_float) {
      scale = dy_cg_f64s(cg, rp.scale, (size_t)rp.n);
    } else {
      mult = dy_cg_i64s(cg, rp.multiplier, (size_t)rp.n);
      shift = dy_cg_i64s(cg, rp.shift, (size_t)rp.n);
    }
  }
  const DyValue *out = rq ? rq->results[0] : op->results[0];
  CALL(k->symbol, V(0), E(0), CG_I(flip), CG_P(dy_cg_value(cg, packed)),
       CG_P(dy_cg_value(cg, out)), CG_I(out->type.elem),
       CG_P(dy_cg_workspace(cg, sc->ints[0])), CG_I(N), CG_I(H), CG_I(W),
       CG_I(C), CG_I(OC), CG_I(KH), CG_I(KW), CG_I(OH), CG_I(OW), CG_I(s[0]),
       CG_I(s[1]), CG_I(p[0]), CG_I(p[1]), CG_I(dl[0]), CG_I(dl[1]),
       CG_I(input_zp(op)), CG_I(rp.n), CG_I(rp.input_zp), CG_I(rp.output_zp),
       CG_P(mult), CG_P(shift), CG_I(rp.rounding), CG_I(rp.clamp[0]),
       CG_I(rp.clamp[1]), CG_P(scale), CG_I(pb && pb->i == 4));
  return 0;
}

static int emit_conv(Cg *cg, const DyOp *op, int is_int, DyDiag *d) {
  DyConvGeom g;
  if (dy_conv_geom(op, &g, d))
    return 1;
  CgArg b = op->noperands == 3 ? V(2) : CG_P(NULL);
  if (is_int) {
    int64_t zw0;
    LLVMValueRef zw = weight_zps(cg, op, &zw0);
    CALL("dyk_conv2d_i", V(0), E(0), CG_I(input_zp(op)), V(1), E(1), CG_P(zw),
         CG_I(zw0), b, Y, EY, CG_I(g.N), CG_I(g.H), CG_I(g.W), CG_I(g.C),
         CG_I(g.OC), CG_I(g.KH), CG_I(g.KW), CG_I(g.CG), CG_I(g.OH), CG_I(g.OW),
         CG_I(g.strides[0]), CG_I(g.strides[1]), CG_I(g.pads[0]),
         CG_I(g.pads[1]), CG_I(g.dil[0]), CG_I(g.dil[1]), CG_I(g.groups));
  } else {
    CALL("dyk_conv2d_f", V(0), V(1), b, Y, CG_I(g.N), CG_I(g.H), CG_I(g.W),
         CG_I(g.C), CG_I(g.OC), CG_I(g.KH), CG_I(g.KW), CG_I(g.CG), CG_I(g.OH),
         CG_I(g.OW), CG_I(g.strides[0]), CG_I(g.strides[1]), CG_I(g.pads[0]),
         CG_I(g.pads[1]), CG_I(g.dil[0]), CG_I(g.dil[1]), CG_I(g.groups));
  }
  return 0;
}

static int emit_matmul(Cg *cg, const DyOp *op, int is_int, DyDiag *d) {
  DyMatmulGeom g;
  if (dy_matmul_geom(op, &g, d))
    return 1;
  CgArg b = op->noperands == 3 ? V(2) : CG_P(NULL);
  if (is_int) {
    int64_t zw0;
    LLVMValueRef zw = weight_zps(cg, op, &zw0);
    CALL("dyk_matmul_i", V(0), E(0), CG_I(input_zp(op)), V(1), E(1), CG_P(zw),
         CG_I(zw0), b, Y, EY, CG_I(g.M), CG_I(g.K), CG_I(g.N), CG_I(g.batched),
         CG_I(g.rows));
  } else {
    CALL("dyk_matmul_f", V(0), V(1), b, Y, CG_I(g.M), CG_I(g.K), CG_I(g.N),
         CG_I(g.batched), CG_I(g.rows));
  }
  return 0;
}

/* --- elementwise --- */

static int emit_binary(Cg *cg, const DyOp *op, int is_int, DyDiag *d) {
  DyBcastGeom g;
  if (dy_bcast_geom(op, &g, d))
    return 1;
  const DyType *ty = &op->results[0]->type;
  int same = op->operands[0]->type.rank == ty->rank &&
             op->operands[1]->type.rank == ty->rank &&
             numel(&op->operands[0]->type) == numel(ty) &&
             numel(&op->operands[1]->type) == numel(ty);
  LLVMValueRef dy = NULL, sa = NULL, sb = NULL;
  if (!same) {
    int64_t s1[DY_MAX_RANK], s2[DY_MAX_RANK];
    for (int k = 0; k < g.rank; k++) {
      s1[k] = g.da[k] == 1 ? 0 : prod(g.da, k + 1, g.rank);
      s2[k] = g.db[k] == 1 ? 0 : prod(g.db, k + 1, g.rank);
    }
    dy = dy_cg_i64s(cg, g.dy, (size_t)g.rank);
    sa = dy_cg_i64s(cg, s1, (size_t)g.rank);
    sb = dy_cg_i64s(cg, s2, (size_t)g.rank);
  }
  int mul = op->kind == DY_OP_MUL;
  if (is_int)
    CALL("dyk_binary_i", V(0), E(0), V(1), E(1), Y, EY, CG_I(numel(ty)),
         CG_I(mul), CG_I(same ? 0 : g.rank), CG_P(dy), CG_P(sa), CG_P(sb));
  else
    CALL("dyk_binary_f", V(0), V(1), Y, CG_I(numel(ty)), CG_I(mul),
         CG_I(same ? 0 : g.rank), CG_P(dy), CG_P(sa), CG_P(sb));
  return 0;
}

static int emit_unary(Cg *cg, const DyOp *op, int is_int, DyDiag *d) {
  double lo = -INFINITY, hi = INFINITY;
  if (op->kind == DY_OP_CLIP &&
      (dy_attr_read_float(op, "min", -INFINITY, &lo, d) ||
       dy_attr_read_float(op, "max", INFINITY, &hi, d)))
    return 1;
  if (isnan(lo))
    lo = -INFINITY;
  if (isnan(hi))
    hi = INFINITY;
  int64_t n = numel(&op->results[0]->type);
  if (is_int) {
    int64_t clo = 0, chi = INT64_MAX;
    if (op->kind == DY_OP_CLIP) {
      clo = lo <= -9.2e18 ? INT64_MIN : (int64_t)ceil(lo);
      chi = hi >= 9.2e18 ? INT64_MAX : (int64_t)floor(hi);
    }
    CALL("dyk_clamp_i", V(0), E(0), Y, EY, CG_I(n), CG_I(clo), CG_I(chi));
    return 0;
  }
  int code = op->kind == DY_OP_RELU        ? 0
             : op->kind == DY_OP_CLIP      ? 1
             : op->kind == DY_OP_HARDSWISH ? 2
             : op->kind == DY_OP_SIGMOID   ? 3
                                           : 4;
  CALL("dyk_unary_f", V(0), Y, CG_I(n), CG_I(code), CG_F(lo), CG_F(hi));
  return 0;
}

static int emit_pool(Cg *cg, const DyOp *op, int is_int, DyDiag *d) {
  DyPoolGeom p;
  if (dy_pool_geom(op, &p, d))
    return 1;
  int64_t *wh = malloc((size_t)(4 * (p.OH ? p.OH : 1)) * sizeof *wh);
  int64_t *ww = malloc((size_t)(4 * (p.OW ? p.OW : 1)) * sizeof *ww);
  if (!wh || !ww) {
    free(wh);
    free(ww);
    dy_error(d, op->loc, "out of memory");
    return 1;
  }
  for (int64_t o = 0; o < p.OH || o < p.OW; o++) {
    DyPoolWindow w;
    dy_pool_window(&p, o < p.OH ? o : 0, o < p.OW ? o : 0, &w);
    if (o < p.OH)
      memcpy(wh + 4 * o, (int64_t[4]){w.h.start, w.h.lo, w.h.hi, w.h.padded},
             4 * sizeof *wh);
    if (o < p.OW)
      memcpy(ww + 4 * o, (int64_t[4]){w.w.start, w.w.lo, w.w.hi, w.w.padded},
             4 * sizeof *ww);
  }
  LLVMValueRef gh = dy_cg_i64s(cg, wh, (size_t)(4 * p.OH));
  LLVMValueRef gw = dy_cg_i64s(cg, ww, (size_t)(4 * p.OW));
  free(wh);
  free(ww);
  int is_max = op->kind == DY_OP_MAXPOOL;
  if (is_int)
    CALL("dyk_pool_i", V(0), E(0), Y, EY, CG_I(p.N), CG_I(p.H), CG_I(p.W),
         CG_I(p.C), CG_I(p.OH), CG_I(p.OW), CG_I(p.dil[0]), CG_I(p.dil[1]),
         CG_P(gh), CG_P(gw), CG_I(is_max), CG_I(p.count_include_pad));
  else
    CALL("dyk_pool_f", V(0), Y, CG_I(p.N), CG_I(p.H), CG_I(p.W), CG_I(p.C),
         CG_I(p.OH), CG_I(p.OW), CG_I(p.dil[0]), CG_I(p.dil[1]), CG_P(gh),
         CG_P(gw), CG_I(is_max), CG_I(p.count_include_pad));
  return 0;
}

static int emit_global_avgpool(Cg *cg, const DyOp *op, int is_int) {
  const DyType *tx = &op->operands[0]->type;
  int64_t N = tx->dims[0], HW = tx->dims[1] * tx->dims[2], C = tx->dims[3];
  if (is_int)
    CALL("dyk_global_avgpool_i", V(0), E(0), Y, EY, CG_I(N), CG_I(HW), CG_I(C));
  else
    CALL("dyk_global_avgpool_f", V(0), Y, CG_I(N), CG_I(HW), CG_I(C));
  return 0;
}

static int emit_softmax(Cg *cg, const DyOp *op, int is_int, DyDiag *d) {
  const DyType *tx = &op->operands[0]->type, *ty = &op->results[0]->type;
  int axis;
  if (dy_axis_normalize(dy_op_int(op, "axis", -1), tx->rank, &axis)) {
    dy_error(d, op->loc, "'softmax' axis is out of range");
    return 1;
  }
  int64_t outer = prod(tx->dims, 0, axis), len = tx->dims[axis];
  int64_t inner = prod(tx->dims, axis + 1, tx->rank);
  if (!is_int) {
    CALL("dyk_softmax_f", V(0), Y, CG_I(outer), CG_I(len), CG_I(inner));
    return 0;
  }
  int64_t qlo, qhi;
  dy_type_int_range(ty, &qlo, &qhi);
  CALL("dyk_softmax_i", V(0), E(0), V(1), Y, EY, CG_I(outer), CG_I(len),
       CG_I(inner), CG_I(dy_op_int(op, "shift", 0)),
       CG_I(dy_op_int(op, "output_zp", 0)), CG_I(qlo), CG_I(qhi));
  return 0;
}

static int emit_requant(Cg *cg, const DyOp *op, DyDiag *d) {
  if (dy_cg_is_impl(op, "fused")) {
    const DyOp *p = op->operands[0]->def;
    const DyDotKernel *k = p ? dot_kernel(p) : NULL;
    if (!k) {
      dy_error(d, op->loc,
               "requant %%%s is 'fused' but its operand is not computed by "
               "a dot-product kernel",
               op->results[0]->name);
      return 1;
    }
    return emit_dot(cg, p, k, op, d);
  }
  DyRequantParams rp;
  if (dy_requant_get(op, &rp, d))
    return 1;
  const DyType *tx = &op->operands[0]->type;
  int64_t inner = rp.n > 1 ? prod(tx->dims, rp.axis + 1, tx->rank) : 1;
  LLVMValueRef mult = NULL, shift = NULL, scale = NULL;
  if (rp.is_float) {
    scale = dy_cg_f64s(cg, rp.scale, (size_t)rp.n);
  } else {
    mult = dy_cg_i64s(cg, rp.multiplier, (size_t)rp.n);
    shift = dy_cg_i64s(cg, rp.shift, (size_t)rp.n);
  }
  CALL("dyk_requant", V(0), E(0), Y, EY, CG_I(numel(tx)), CG_I(rp.n),
       CG_I(inner), CG_I(rp.input_zp), CG_I(rp.output_zp), CG_P(mult),
       CG_P(shift), CG_I(rp.rounding), CG_I(rp.clamp[0]), CG_I(rp.clamp[1]),
       CG_P(scale));
  return 0;
}

static int emit_lookup(Cg *cg, const DyOp *op) {
  DyElemType ex = op->operands[0]->type.elem;
  int64_t base = ex == DY_I8 ? -128 : ex == DY_I16 ? -32768 : 0;
  CALL("dyk_lookup", V(0), E(0), V(1), Y, EY,
       CG_I(numel(&op->results[0]->type)), CG_I(base));
  return 0;
}

/* --- data movement --- */

/* pad's fill element in the result's storage */
/* pad's fill value stored in the result's type, with quantization
 * parameter p (the channel or block of a per-axis or blocked type) */
static void fill_bytes(const DyOp *op, int64_t p, unsigned char *out) {
  const DyType *ty = &op->results[0]->type;
  const DyAttr *a = dy_op_attr(op, "value");
  double v = !a ? 0 : a->kind == DY_ATTR_INT ? (double)a->i : a->f;
  memset(out, 0, 8);
  if (ty->elem == DY_F32) {
    float f = (float)v;
    memcpy(out, &f, 4);
    return;
  }
  int64_t q;
  if (ty->quant) {
    /* quantized like the interpreter: round half even of v / scale in f32 */
    float s = (float)v / (float)ty->quant->scales[p];
    double r = nearbyint((double)s) + (double)ty->quant->zero_points[p];
    r = r < (double)ty->quant->qmin   ? (double)ty->quant->qmin
        : r > (double)ty->quant->qmax ? (double)ty->quant->qmax
                                      : r;
    q = (int64_t)r;
  } else {
    q = (int64_t)v;
  }
  dy_store_int(out, ty->elem, 0, q);
}

/* The quantization parameter of flat element i of t (0 unless per axis or
 * blocked), as the interpreter indexes it. */
static int64_t param_index(const DyType *t, int64_t i) {
  const DyQuant *q = t->quant;
  if (!q || q->nparams <= 1)
    return 0;
  if (q->kind == DY_QUANT_PER_AXIS) {
    int axis;
    dy_axis_normalize(q->axis, t->rank, &axis);
    return (i / prod(t->dims, axis + 1, t->rank)) % t->dims[axis];
  }
  int64_t bd[DY_MAX_RANK], c[DY_MAX_RANK], p = 0;
  dy_quant_block_shape(q, t, bd);
  for (int k = t->rank - 1; k >= 0; k--) {
    c[k] = i % t->dims[k];
    i /= t->dims[k];
  }
  for (int k = 0; k < t->rank; k++) {
    int64_t b = q->block[k] > 0 ? q->block[k] : bd[k] ? t->dims[k] / bd[k] : 1;
    p = p * bd[k] + c[k] / (b > 0 ? b : 1);
  }
  return p;
}

static int emit_move(Cg *cg, const DyOp *op, DyDiag *d) {
  const DyType *ty = &op->results[0]->type;
  int64_t n = numel(ty);
  size_t es = dy_elem_size(ty->elem);
  int *so = malloc((size_t)(n ? n : 1) * sizeof *so);
  int64_t *si = malloc((size_t)(n ? n : 1) * sizeof *si);
  int64_t *runs = malloc((size_t)(4 * (n ? n : 1)) * sizeof *runs);
  int rc = 1;
  if (!so || !si || !runs) {
    dy_error(d, op->loc, "out of memory");
    goto done;
  }
  if (dy_interp_move_map(op, so, si, d))
    goto done;
  LLVMValueRef y = dy_cg_value(cg, op->results[0]);
  if (op->kind == DY_OP_TRANSPOSE) {
    LLVMValueRef idx = dy_cg_i32s(cg, si, (size_t)n);
    CALL("dyk_gather", CG_P(y), V(0), CG_P(idx), CG_I(n), CG_I(es));
    rc = 0;
    goto done;
  }
  int64_t nruns = 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t *r = nruns ? runs + 4 * (nruns - 1) : NULL;
    /* a fill run: q[2] is the fill value's index (its quantization
     * parameter: a per-channel pad fills each channel with its zero) */
    int64_t fp = so[i] < 0 ? param_index(ty, i) : 0;
    if (r && r[1] == so[i] && r[0] + r[3] == i &&
        (so[i] < 0 ? r[2] == fp : r[2] + r[3] == si[i])) {
      r[3]++;
      continue;
    }
    int64_t *q = runs + 4 * nruns++;
    q[0] = i;
    q[1] = so[i];
    q[2] = so[i] < 0 ? fp : si[i];
    q[3] = 1;
  }
  int64_t nfill = ty->quant ? ty->quant->nparams : 1;
  unsigned char *fill = calloc((size_t)nfill, 8);
  if (!fill) {
    dy_error(d, op->loc, "out of memory");
    goto done;
  }
  for (int64_t p = 0; p < nfill; p++) {
    unsigned char one[8];
    fill_bytes(op, p, one);
    memcpy(fill + p * (int64_t)es, one, es);
  }
  LLVMValueRef fg = dy_cg_bytes(cg, fill, (size_t)nfill * es);
  free(fill);
  /* the operands' addresses in an array on the stack */
  LLVMValueRef srcs = LLVMBuildArrayAlloca(
      cg->b, cg->ptr, LLVMConstInt(cg->i32, (unsigned)op->noperands, 0), "");
  for (int k = 0; k < op->noperands; k++) {
    LLVMValueRef idx = LLVMConstInt(cg->i64, (unsigned long long)k * 8, 0);
    LLVMBuildStore(cg->b, dy_cg_value(cg, op->operands[k]),
                   LLVMBuildGEP2(cg->b, cg->i8, srcs, &idx, 1, ""));
  }
  LLVMValueRef rt = dy_cg_i64s(cg, runs, (size_t)(4 * nruns));
  CALL("dyk_move_runs", CG_P(y), CG_P(srcs), CG_P(rt), CG_I(nruns), CG_I(es),
       CG_P(fg));
  rc = 0;
done:
  free(so);
  free(si);
  free(runs);
  return rc;
}

int dy_cg_emit_op(Cg *cg, const DyOp *op, DyDiag *d) {
  const DyAttr *a = dy_op_attr(op, "impl");
  if (!a || a->kind != DY_ATTR_STR) {
    dy_error(d, op->loc, "'%s' has no 'impl' (run lower-target first)",
             dy_op_name(op->kind));
    return 1;
  }
  int is_int = strcmp(a->s, "generic.int") == 0;
  const DyDotKernel *k = dy_dot_kernel(a->s);
  if (k && (op->kind == DY_OP_CONV2D || op->kind == DY_OP_MATMUL))
    return fused_requant(op) ? 0 : emit_dot(cg, op, k, NULL, d);
  switch (op->kind) {
  case DY_OP_CONV2D:
    return emit_conv(cg, op, is_int, d);
  case DY_OP_MATMUL:
    return emit_matmul(cg, op, is_int, d);
  case DY_OP_ADD:
  case DY_OP_MUL:
    return emit_binary(cg, op, is_int, d);
  case DY_OP_RELU:
  case DY_OP_CLIP:
  case DY_OP_HARDSWISH:
  case DY_OP_SIGMOID:
  case DY_OP_TANH:
    return emit_unary(cg, op, is_int, d);
  case DY_OP_MAXPOOL:
  case DY_OP_AVGPOOL:
    return emit_pool(cg, op, is_int, d);
  case DY_OP_GLOBAL_AVGPOOL:
    return emit_global_avgpool(cg, op, is_int);
  case DY_OP_SOFTMAX:
    return emit_softmax(cg, op, is_int, d);
  case DY_OP_REQUANT:
    return emit_requant(cg, op, d);
  case DY_OP_LOOKUP:
    return emit_lookup(cg, op);
  case DY_OP_BATCHNORM: {
    double eps;
    if (dy_attr_read_float(op, "epsilon", 1e-5, &eps, d))
      return 1;
    const DyType *tx = &op->operands[0]->type;
    CALL("dyk_batchnorm_f", V(0), V(1), V(2), V(3), V(4), Y, CG_I(numel(tx)),
         CG_I(tx->dims[tx->rank - 1]), CG_F(eps));
    return 0;
  }
  case DY_OP_DYNAMIC_QUANTIZE:
    CALL("dyk_dynamic_quantize", V(0), CG_I(numel(&op->operands[0]->type)),
         CG_P(dy_cg_value(cg, op->results[0])),
         CG_P(dy_cg_value(cg, op->results[1])),
         CG_P(dy_cg_value(cg, op->results[2])));
    return 0;
  case DY_OP_QUANTIZE:
    return dy_cg_emit_quantize(cg, op, dy_cg_value(cg, op->operands[0]),
                               dy_cg_value(cg, op->results[0]), d);
  case DY_OP_DEQUANTIZE:
    return dy_cg_emit_dequantize(cg, op, dy_cg_value(cg, op->operands[0]),
                                 dy_cg_value(cg, op->results[0]), d);
  case DY_OP_IDENTITY:
  case DY_OP_RESHAPE:
  case DY_OP_FLATTEN:
  case DY_OP_TRANSPOSE:
  case DY_OP_CONCAT:
  case DY_OP_PAD:
    return emit_move(cg, op, d);
  default:
    dy_error(d, op->loc, "'%s' has no kernel in this backend",
             dy_op_name(op->kind));
    return 1;
  }
}
