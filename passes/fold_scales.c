/* fold-scales: turns a QDQ graph into integer ops and dyadic requants.
 *
 * Each `quantize` whose operand is a float op reading only dequantized
 * values (an island dequantize -> op [-> relu/clip] -> quantize) is
 * replaced by the op's integer form (docs/quantization.md):
 *   conv2d, matmul   integer accumulate with an i32 bias at s_x*s_w (the
 *                    input zero point's cross term folded into it), then a
 *                    requant per channel; a fused relu / clip is the clamp;
 *   add              TFLite's: both inputs shifted left 20 (15 for 16 bits)
 *                    and rescaled to twice the larger scale, summed in i32,
 *                    requantized;
 *   mul              (a - za) * (b - zb) in i32, requantized;
 *   concat           each input requantized to the output's parameters;
 *   avgpool, global_avgpool  mean of (x - zx) * 2^8 in i32, requantized;
 *   relu, clip       a requant with a clamp;
 *   layout ops       on the stored values (same parameters);
 *   sigmoid, tanh, hardswish  a lookup table of the fake-quant values;
 *   softmax          integer softmax over an exp table.
 * Islands that do not match stay float and are reported as notes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dyad/pass.h"
#include "dyad/quant.h"

void dy_fold_options_default(DyFoldOptions *o) {
  memset(o, 0, sizeof *o);
  o->rounding = DY_ROUND_TFLITE_DOUBLE;
}

/* Scales as the interpreter's dequantize uses them: rounded to f32 (as
 * ONNX and TFLite store them); multipliers are computed from these. */
#define F32(s) ((double)(float)(s))

typedef struct Fold {
  DyGraph *g;
  const DyFoldOptions *o;
  DyDiag *d;
  int failed;
  int noted; /* the current island's reason was already reported */
} Fold;

/* --- small builders --- */

static DyType plain(const DyType *t, DyElemType e) {
  DyType r = *t;
  r.elem = e;
  r.quant = NULL;
  return r;
}

/* requant x -> type `to`, one real multiplier per channel of `axis` (n of
 * them), with zero points and an optional clamp (lo > hi: none). */
static DyValue *build_requant(Fold *f, DyOp *before, DyValue *x,
                              const DyType *to, int n, const double *real,
                              int axis, int64_t izp, int64_t ozp, int64_t lo,
                              int64_t hi, const char *name, DyLoc loc) {
  DyGraph *g = f->g;
  DyValue *y = dy_build_op(g, before, DY_OP_REQUANT, 1, &x, *to, name);
  DyOp *op = y->def;
  op->loc = loc;
  DyRequantParams p = {0};
  p.n = n;
  p.axis = n > 1 ? axis : -1;
  p.input_zp = izp;
  p.output_zp = ozp;
  dy_type_int_range(to, &p.clamp[0], &p.clamp[1]);
  if (lo <= hi) {
    p.clamp[0] = lo;
    p.clamp[1] = hi;
  }
  double one = 1.0;
  int64_t *M = NULL, *S = NULL;
  if (f->o->float_requant) {
    p.is_float = 1;
    p.scale = real;
    for (int i = 0; i < n; i++)
      if (!(real[i] > 0) || isinf(real[i])) {
        dy_error(f->d, loc, "rescale factor %g is out of range", real[i]);
        f->failed = 1;
        p.n = 1; /* keep the graph verifiable */
        p.axis = -1;
        p.scale = &one;
        break;
      }
  } else {
    M = malloc((size_t)n * sizeof *M);
    S = malloc((size_t)n * sizeof *S);
    if (!M || !S) {
      free(M);
      free(S);
      dy_error(f->d, loc, "out of memory");
      f->failed = 1;
      return y;
    }
    p.rounding = f->o->rounding;
    p.multiplier = M;
    p.shift = S;
    int64_t smin, smax;
    dy_rounding_shift_range(p.rounding, &smin, &smax);
    for (int i = 0; i < n; i++)
      if (dy_quantize_multiplier(real[i], &M[i], &S[i]) || S[i] > smax) {
        dy_error(f->d, loc,
                 "rescale factor %g cannot be a dyadic multiplier with "
                 "rounding \"%s\"",
                 real[i], dy_rounding_name(p.rounding));
        f->failed = 1;
        M[i] = 0;
        S[i] = 0;
      }
  }
  dy_requant_set(g, op, &p);
  free(M);
  free(S);
  return y;
}

/* A float requant (ONNX's QLinear ops import as these) becomes dyadic. */
static void dyadic_requant(Fold *f, DyOp *op) {
  DyRequantParams p;
  if (dy_requant_get(op, &p, f->d)) {
    f->failed = 1;
    return;
  }
  if (!p.is_float)
    return;
  DyValue *y =
      build_requant(f, op, op->operands[0], &op->results[0]->type, p.n, p.scale,
                    p.axis, p.input_zp, p.output_zp, p.clamp[0], p.clamp[1],
                    op->results[0]->name, op->loc);
  DyValue *old = op->results[0];
  dy_value_replace_all_uses(f->g, old, y);
  dy_graph_release_name(f->g, y->name);
  y->name = old->name;
  old->name = "";
}

/* (x - izp) * 2^k exactly, as i32: multiplier 2^30, shift k+1. */
static DyValue *build_shift(Fold *f, DyOp *before, DyValue *x, int64_t izp,
                            int k, const char *name, DyLoc loc) {
  DyType t = plain(&x->type, DY_I32);
  DyValue *y = dy_build_op(f->g, before, DY_OP_REQUANT, 1, &x, t, name);
  y->def->loc = loc;
  int64_t M = (int64_t)1 << 30, S = k + 1;
  DyRequantParams p = {.n = 1, .axis = -1, .multiplier = &M, .shift = &S};
  p.input_zp = izp;
  dy_type_int_range(&t, &p.clamp[0], &p.clamp[1]);
  dy_requant_set(f->g, y->def, &p);
  return y;
}

static char *vname(char *buf, size_t n, const char *base, const char *suffix) {
  snprintf(buf, n, "%s%s", base, suffix);
  return buf;
}

/* --- matching --- */

static int is_per_tensor(const DyQuant *q) {
  return q && q->kind == DY_QUANT_PER_TENSOR && q->nparams == 1;
}

/* The quantized value a float operand is the dequantization of, or NULL. */
static DyValue *dq_of(const DyValue *v) {
  if (v->def && v->def->kind == DY_OP_DEQUANTIZE && v->def->noperands == 1 &&
      v->def->operands[0]->type.quant)
    return v->def->operands[0];
  return NULL;
}

/* A quantized activation operand: dequantize of a per-tensor value. */
static DyValue *act_of(const DyValue *v) {
  DyValue *q = dq_of(v);
  return q && is_per_tensor(q->type.quant) ? q : NULL;
}

/* Clamp of a fused activation in the output's stored domain. */
static void act_clamp(const DyOp *act, const DyQuant *yq, int64_t *lo,
                      int64_t *hi) {
  *lo = yq->qmin;
  *hi = yq->qmax;
  if (!act)
    return;
  double s = F32(yq->scales[0]);
  int64_t z = yq->zero_points[0];
  double mn = act->kind == DY_OP_RELU ? 0 : dy_op_float(act, "min", -INFINITY);
  double mx =
      act->kind == DY_OP_RELU ? INFINITY : dy_op_float(act, "max", INFINITY);
  if (isfinite(mn)) {
    double q = (double)z + nearbyint(mn / s);
    if (q > (double)*lo)
      *lo = q > (double)*hi ? *hi : (int64_t)q;
  }
  if (isfinite(mx)) {
    double q = (double)z + nearbyint(mx / s);
    if (q < (double)*hi)
      *hi = q < (double)*lo ? *lo : (int64_t)q;
  }
}

/* --- conv2d / matmul --- */

/* Stored element idx of a quantized constant. */
static int64_t load_weight(const DyValue *w, int64_t idx) {
  return dy_load_int(w->def->data->data, w->type.elem, idx);
}

static DyValue *fold_layer(Fold *f, DyOp *core, const DyOp *act, DyOp *qop) {
  DyGraph *g = f->g;
  DyValue *x = act_of(core->operands[0]);
  DyValue *w = dq_of(core->operands[1]);
  const DyType *ty = &qop->results[0]->type;
  if (!x || !w || !dy_value_is_const(w) || !is_per_tensor(ty->quant) ||
      w->type.elem == DY_I32 || x->type.elem == DY_I32)
    return NULL; /* the integer form takes at most 16-bit operands */
  const DyQuant *xq = x->type.quant, *wq = w->type.quant, *yq = ty->quant;
  int is_conv = core->kind == DY_OP_CONV2D;
  int oc_axis = is_conv ? 0 : w->type.rank - 1;
  if (wq->kind == DY_QUANT_BLOCKED ||
      (wq->kind == DY_QUANT_PER_AXIS && wq->axis != oc_axis)) {
    dy_note(f->d, core->loc,
            "%s with per-group weights stays in simulated (fake-quant) form",
            dy_op_name(core->kind));
    f->noted = 1;
    return NULL;
  }
  if (!is_conv && w->type.rank != 2)
    return NULL;
  int64_t OC = w->type.dims[oc_axis];
  int64_t n = dy_type_numel(&w->type), K = n / (OC ? OC : 1);
  if (OC < 1 || OC > INT32_MAX)
    return NULL; /* no channels: nothing to requantize */
  double sx = F32(xq->scales[0]), sy = F32(yq->scales[0]);
  int64_t zx = xq->zero_points[0], zy = yq->zero_points[0];
  /* bias in i32 at s_x * s_w[c] */
  int32_t *bias = calloc((size_t)(OC ? OC : 1), sizeof *bias);
  double *real = malloc((size_t)(OC ? OC : 1) * sizeof *real);
  DyValue *y = NULL;
  if (!bias || !real) {
    dy_error(f->d, core->loc, "out of memory");
    f->failed = 1;
    goto done;
  }
  const DyValue *bv = core->noperands == 3 ? core->operands[2] : NULL;
  const DyValue *bq = bv ? dq_of(bv) : NULL;
  if (bv && !(dy_value_is_const(bq) || dy_value_is_const(bv)))
    goto done; /* a computed bias: not this pattern */
  for (int64_t c = 0; c < OC; c++) {
    double sw = F32(wq->scales[wq->kind == DY_QUANT_PER_AXIS ? c : 0]);
    double sb = sx * sw, b = 0;
    if (bq && bq->type.elem == DY_I32 && bq->type.quant) {
      const DyQuant *q = bq->type.quant;
      int64_t k = q->kind == DY_QUANT_PER_AXIS ? c : 0;
      int32_t raw = ((const int32_t *)bq->def->data->data)[c];
      if (fabs(F32(q->scales[k]) - sb) <= 1e-6 * sb && q->zero_points[k] == 0) {
        bias[c] = raw; /* already at s_x * s_w */
        real[c] = sb / sy;
        continue;
      }
      b = ((double)raw - (double)q->zero_points[k]) * F32(q->scales[k]);
    } else if (bv && dy_value_is_const(bv) && bv->type.elem == DY_F32) {
      b = ((const float *)bv->def->data->data)[c];
    } else if (bv) {
      goto done;
    }
    double r = nearbyint(b / sb);
    if (!(fabs(r) < 2147483648.0)) {
      dy_error(f->d, core->loc, "bias of channel %lld does not fit i32",
               (long long)c);
      f->failed = 1;
      goto done;
    }
    bias[c] = (int32_t)r;
    real[c] = sb / sy;
  }
  /* fold -zx * sum(w - zw) into the bias, and bound the accumulator */
  int64_t xmax =
      llabs(xq->qmin) > llabs(xq->qmax) ? llabs(xq->qmin) : llabs(xq->qmax);
  int64_t worst = 0, worst_c = 0;
  for (int64_t c = 0; c < OC; c++) {
    int64_t sum = 0, abssum = 0;
    int64_t zw = wq->zero_points[wq->kind == DY_QUANT_PER_AXIS ? c : 0];
    for (int64_t k = 0; k < K; k++) {
      int64_t idx = is_conv ? c * K + k : k * OC + c;
      int64_t v = load_weight(w, idx);
      sum += v - zw;
      abssum += llabs(v - zw);
    }
    int64_t nb = (int64_t)bias[c] - zx * sum;
    if (nb < INT32_MIN || nb > INT32_MAX) {
      dy_error(f->d, core->loc,
               "folded bias of channel %lld overflows i32 (%lld)", (long long)c,
               (long long)nb);
      f->failed = 1;
      goto done;
    }
    bias[c] = (int32_t)nb;
    int64_t bound = abssum * xmax + llabs(nb);
    if (bound > worst) {
      worst = bound;
      worst_c = c;
    }
  }
  if (worst > INT32_MAX)
    dy_warning(f->d, core->loc,
               "'%s' -> '%%%s': the i32 accumulator of channel %lld can reach "
               "%lld, beyond 2^31-1",
               dy_op_name(core->kind), core->results[0]->name,
               (long long)worst_c, (long long)worst);
  /* explicit padding with the zero point, then the integer layer */
  char nb1[256];
  const char *base = qop->results[0]->name;
  DyValue *xin = x;
  int64_t pads[4] = {0, 0, 0, 0};
  if (is_conv)
    dy_op_ints(core, "pads", pads, 4, pads, 4);
  if (is_conv && zx != 0 && (pads[0] || pads[1] || pads[2] || pads[3])) {
    DyType pt = x->type;
    pt.dims[1] += pads[0] + pads[2];
    pt.dims[2] += pads[1] + pads[3];
    xin = dy_build_op(g, qop, DY_OP_PAD, 1, &x, pt,
                      vname(nb1, sizeof nb1, base, "_pad"));
    xin->def->loc = core->loc;
    int64_t p8[8] = {0, pads[0], pads[1], 0, 0, pads[2], pads[3], 0};
    dy_op_set_ints(g, xin->def, "pads", 8, p8);
  }
  DyType bt = dy_type_make(DY_I32, 1, &OC);
  DyValue *bc = dy_build_const(g, qop, vname(nb1, sizeof nb1, base, "_bias"),
                               bt, bias, DY_FORM_DENSE);
  bc->def->loc = core->loc;
  DyValue *ops[3] = {xin, w, bc};
  DyType at = plain(&core->results[0]->type, DY_I32);
  DyValue *acc = dy_build_op(g, qop, core->kind, 3, ops, at,
                             vname(nb1, sizeof nb1, base, "_acc"));
  DyOp *a = acc->def;
  a->loc = core->loc;
  for (int i = 0; i < core->nattrs; i++)
    if (strcmp(core->attrs[i].name, "range") != 0 &&
        !(xin != x && strcmp(core->attrs[i].name, "pads") == 0))
      dy_op_add_attr(g, a, &core->attrs[i]);
  if (zx != 0)
    dy_op_set_int(g, a, "input_zp", 0);
  int64_t lo, hi;
  act_clamp(act, yq, &lo, &hi);
  int nch = wq->kind == DY_QUANT_PER_AXIS ? (int)OC : 1;
  y = build_requant(f, qop, acc, ty, nch, real, ty->rank - 1, 0, zy, lo, hi,
                    base, qop->loc);
done:
  free(bias);
  free(real);
  return y;
}

/* --- elementwise and pooling --- */

/* Whether (q - zp) * 2^k stays in i32 for every q of a per-tensor type. */
static int shift_fits(const DyQuant *q, int k) {
  int64_t z = q->zero_points[0];
  return (q->qmax - z) < (INT64_C(1) << (31 - k)) &&
         (z - q->qmin) <= (INT64_C(1) << (31 - k));
}

static DyValue *fold_add(Fold *f, DyOp *core, const DyOp *act, DyOp *qop) {
  DyValue *a = act_of(core->operands[0]), *b = act_of(core->operands[1]);
  const DyType *ty = &qop->results[0]->type;
  if (!a || !b || !is_per_tensor(ty->quant))
    return NULL;
  const DyQuant *aq = a->type.quant, *bq = b->type.quant, *yq = ty->quant;
  int ls = ty->elem == DY_I16 ? 15 : 20;
  /* (a - za) * 2^(ls+1) must stay in i32 for the exact left shift */
  if (!shift_fits(aq, ls + 1) || !shift_fits(bq, ls + 1))
    return NULL;
  double sa = F32(aq->scales[0]), sb = F32(bq->scales[0]),
         sy = F32(yq->scales[0]);
  double twice = 2 * fmax(sa, sb);
  double ra = sa / twice, rb = sb / twice, ro = twice / (ldexp(1, ls) * sy);
  char nb[256];
  const char *base = qop->results[0]->name;
  DyValue *a1 = build_shift(f, qop, a, aq->zero_points[0], ls,
                            vname(nb, sizeof nb, base, "_a"), core->loc);
  DyValue *b1 = build_shift(f, qop, b, bq->zero_points[0], ls,
                            vname(nb, sizeof nb, base, "_b"), core->loc);
  DyType a32 = a1->type, b32 = b1->type;
  DyValue *a2 = build_requant(f, qop, a1, &a32, 1, &ra, -1, 0, 0, 1, 0,
                              vname(nb, sizeof nb, base, "_as"), core->loc);
  DyValue *b2 = build_requant(f, qop, b1, &b32, 1, &rb, -1, 0, 0, 1, 0,
                              vname(nb, sizeof nb, base, "_bs"), core->loc);
  DyValue *ops[2] = {a2, b2};
  DyValue *s = dy_build_op(f->g, qop, DY_OP_ADD, 2, ops,
                           plain(&core->results[0]->type, DY_I32),
                           vname(nb, sizeof nb, base, "_sum"));
  s->def->loc = core->loc;
  int64_t lo, hi;
  act_clamp(act, yq, &lo, &hi);
  return build_requant(f, qop, s, ty, 1, &ro, -1, 0, yq->zero_points[0], lo, hi,
                       base, qop->loc);
}

static DyValue *fold_mul(Fold *f, DyOp *core, const DyOp *act, DyOp *qop) {
  DyValue *a = act_of(core->operands[0]), *b = act_of(core->operands[1]);
  const DyType *ty = &qop->results[0]->type;
  if (!a || !b || !is_per_tensor(ty->quant))
    return NULL;
  const DyQuant *aq = a->type.quant, *bq = b->type.quant, *yq = ty->quant;
  char nb[256];
  const char *base = qop->results[0]->name;
  DyValue *a1 = build_shift(f, qop, a, aq->zero_points[0], 0,
                            vname(nb, sizeof nb, base, "_a"), core->loc);
  DyValue *b1 = build_shift(f, qop, b, bq->zero_points[0], 0,
                            vname(nb, sizeof nb, base, "_b"), core->loc);
  DyValue *ops[2] = {a1, b1};
  DyValue *p = dy_build_op(f->g, qop, DY_OP_MUL, 2, ops,
                           plain(&core->results[0]->type, DY_I32),
                           vname(nb, sizeof nb, base, "_prod"));
  p->def->loc = core->loc;
  double r = F32(aq->scales[0]) * F32(bq->scales[0]) / F32(yq->scales[0]);
  int64_t lo, hi;
  act_clamp(act, yq, &lo, &hi);
  return build_requant(f, qop, p, ty, 1, &r, -1, 0, yq->zero_points[0], lo, hi,
                       base, qop->loc);
}

/* x's stored values re-expressed in the output's parameters. */
static DyValue *rescale_to(Fold *f, DyOp *before, DyValue *x, const DyType *to,
                           const DyOp *act, const char *name, DyLoc loc) {
  const DyQuant *xq = x->type.quant, *yq = to->quant;
  double r = F32(xq->scales[0]) / F32(yq->scales[0]);
  int64_t lo, hi;
  act_clamp(act, yq, &lo, &hi);
  return build_requant(f, before, x, to, 1, &r, -1, xq->zero_points[0],
                       yq->zero_points[0], lo, hi, name, loc);
}

static DyValue *fold_concat(Fold *f, DyOp *core, DyOp *qop) {
  const DyType *ty = &qop->results[0]->type;
  if (!is_per_tensor(ty->quant) || core->noperands > 256)
    return NULL;
  DyValue *ins[256];
  char nb[256];
  const char *base = qop->results[0]->name;
  for (int i = 0; i < core->noperands; i++)
    if (!act_of(core->operands[i]))
      return NULL;
  for (int i = 0; i < core->noperands; i++) {
    DyValue *x = act_of(core->operands[i]);
    ins[i] = x;
    if (!dy_quant_equal(x->type.quant, ty->quant) || x->type.elem != ty->elem) {
      DyType t = x->type;
      t.elem = ty->elem;
      t.quant = ty->quant;
      snprintf(nb, sizeof nb, "%s_in%d", base, i);
      ins[i] = rescale_to(f, qop, x, &t, NULL, nb, core->loc);
    }
  }
  DyValue *y =
      dy_build_op(f->g, qop, DY_OP_CONCAT, core->noperands, ins, *ty, base);
  y->def->loc = core->loc;
  dy_op_set_int(f->g, y->def, "axis", dy_op_int(core, "axis", 0));
  return y;
}

static DyValue *fold_pool(Fold *f, DyOp *core, DyOp *qop) {
  DyValue *x = act_of(core->operands[0]);
  const DyType *ty = &qop->results[0]->type;
  if (!x || !is_per_tensor(ty->quant))
    return NULL;
  const DyQuant *xq = x->type.quant, *yq = ty->quant;
  char nb[256];
  const char *base = qop->results[0]->name;
  int k = 8; /* keep 8 fraction bits through the rounding mean */
  DyValue *x1 = build_shift(f, qop, x, xq->zero_points[0], k,
                            vname(nb, sizeof nb, base, "_x"), core->loc);
  DyValue *m = dy_build_op(f->g, qop, core->kind, 1, &x1,
                           plain(&core->results[0]->type, DY_I32),
                           vname(nb, sizeof nb, base, "_mean"));
  m->def->loc = core->loc;
  for (int i = 0; i < core->nattrs; i++)
    if (strcmp(core->attrs[i].name, "range") != 0)
      dy_op_add_attr(f->g, m->def, &core->attrs[i]);
  double r = F32(xq->scales[0]) / (ldexp(1, k) * F32(yq->scales[0]));
  return build_requant(f, qop, m, ty, 1, &r, -1, 0, yq->zero_points[0],
                       yq->qmin, yq->qmax, base, qop->loc);
}

/* Layout ops move stored values: a chain of them (ONNX's Flatten of NCHW
 * data imports as transpose + reshape) is applied to the quantized input,
 * then rescaled if the output's parameters differ. */
static DyValue *fold_layout(Fold *f, DyOp *core, DyOp *qop) {
  DyOp *chain[16];
  int n = 0;
  DyOp *op = core;
  for (;;) {
    if (n == 16)
      return NULL;
    chain[n++] = op;
    DyValue *src = op->operands[0];
    if (act_of(src))
      break;
    if (!src->def || !dy_op_has_traits(src->def->kind, DY_TRAIT_KEEPS_Q) ||
        dy_value_num_uses(f->g, src) != 1 || dy_value_is_output(f->g, src))
      return NULL;
    op = src->def;
  }
  DyValue *x = act_of(chain[n - 1]->operands[0]);
  const DyType *ty = &qop->results[0]->type;
  if (!x || !is_per_tensor(ty->quant))
    return NULL;
  char nb[256];
  const char *base = qop->results[0]->name;
  int same =
      dy_quant_equal(x->type.quant, ty->quant) && x->type.elem == ty->elem;
  DyValue *m = x;
  for (int i = n - 1; i >= 0; i--) {
    DyType mt = chain[i]->results[0]->type;
    mt.elem = x->type.elem;
    mt.quant = x->type.quant;
    snprintf(nb, sizeof nb, "%s_moved%d", base, n - 1 - i);
    m = dy_build_op(f->g, qop, chain[i]->kind, 1, &m, mt,
                    i == 0 && same ? base : nb);
    m->def->loc = chain[i]->loc;
    for (int k = 0; k < chain[i]->nattrs; k++)
      if (strcmp(chain[i]->attrs[k].name, "range") != 0)
        dy_op_add_attr(f->g, m->def, &chain[i]->attrs[k]);
  }
  if (same)
    return m;
  return rescale_to(f, qop, m, ty, NULL, base, qop->loc);
}

static DyValue *fold_activation(Fold *f, DyOp *core, DyOp *qop) {
  DyValue *x = act_of(core->operands[0]);
  const DyType *ty = &qop->results[0]->type;
  if (!x || !is_per_tensor(ty->quant))
    return NULL;
  return rescale_to(f, qop, x, ty, core, qop->results[0]->name, core->loc);
}

/* --- tables --- */

/* Runs dequantize -> `kind` -> quantize over every stored value of x's
 * type: the table of the fake-quant op, so that the integer lookup gives
 * exactly what simulated quantization gives. */
static DyValue *fold_table(Fold *f, DyOp *core, DyOp *qop) {
  DyValue *x = act_of(core->operands[0]);
  const DyType *ty = &qop->results[0]->type;
  if (!x || !is_per_tensor(ty->quant) ||
      (x->type.elem != DY_I8 && x->type.elem != DY_U8 &&
       x->type.elem != DY_I16))
    return NULL;
  int64_t lo, hi;
  dy_elem_range(x->type.elem, &lo, &hi);
  int64_t L = hi - lo + 1;
  DyGraph *s = dy_graph_create("table");
  DyType in = dy_type_make(x->type.elem, 1, &L);
  DyQuant xq = *x->type.quant;
  xq.qmin = lo; /* every stored code, also outside a narrow range */
  xq.qmax = hi;
  in.quant = dy_quant_create(s, &xq);
  DyValue *v = dy_graph_add_input(s, "x", in);
  DyValue *r = dy_build_op(s, NULL, DY_OP_DEQUANTIZE, 1, &v,
                           dy_type_make(DY_F32, 1, &L), "r");
  DyValue *fx =
      dy_build_op(s, NULL, core->kind, 1, &r, dy_type_make(DY_F32, 1, &L), "f");
  DyType ot = dy_type_make(ty->elem, 1, &L);
  ot.quant = dy_quant_create(s, ty->quant);
  DyValue *q = dy_build_op(s, NULL, DY_OP_QUANTIZE, 1, &fx, ot, "q");
  dy_graph_set_outputs(s, 1, &q);
  DyTensor xt, yt;
  DyValue *res = NULL;
  if (dy_tensor_alloc(&xt, &in, f->d)) {
    f->failed = 1;
    dy_graph_destroy(s);
    return NULL;
  }
  for (int64_t i = 0; i < L; i++) {
    if (x->type.elem == DY_I16)
      ((int16_t *)xt.data)[i] = (int16_t)(lo + i);
    else if (x->type.elem == DY_U8)
      ((uint8_t *)xt.data)[i] = (uint8_t)(lo + i);
    else
      ((int8_t *)xt.data)[i] = (int8_t)(lo + i);
  }
  if (dy_interp_run(s, &xt, &yt, f->d)) {
    f->failed = 1;
  } else {
    char nb[256];
    DyType tt = dy_type_make(ty->elem, 1, &L);
    tt.quant = ty->quant;
    DyValue *tab = dy_build_const(
        f->g, qop, vname(nb, sizeof nb, qop->results[0]->name, "_table"), tt,
        yt.data, DY_FORM_DENSE);
    tab->def->loc = core->loc;
    DyValue *ops[2] = {x, tab};
    res = dy_build_op(f->g, qop, DY_OP_LOOKUP, 2, ops, *ty,
                      qop->results[0]->name);
    res->def->loc = core->loc;
    dy_tensor_free(&yt);
  }
  dy_tensor_free(&xt);
  dy_graph_destroy(s);
  return res;
}

/* Integer softmax: table[k] = round(2^20 * exp(-s_x * k)) for k = max - x;
 * the output scale must be 2^-N. */
static DyValue *fold_softmax(Fold *f, DyOp *core, DyOp *qop) {
  DyValue *x = act_of(core->operands[0]);
  const DyType *ty = &qop->results[0]->type;
  if (!x || !is_per_tensor(ty->quant) || x->type.elem == DY_I32)
    return NULL;
  int N;
  double m = frexp(F32(ty->quant->scales[0]), &N);
  N = 1 - N; /* scale = 0.5 * 2^(1-N') */
  if (m != 0.5 || N < 0 || N > 30) {
    dy_note(f->d, core->loc,
            "softmax output scale %g is not 2^-N: it stays float",
            ty->quant->scales[0]);
    f->noted = 1;
    return NULL;
  }
  int64_t lo, hi;
  dy_elem_range(x->type.elem, &lo, &hi);
  int64_t L = hi - lo + 1;
  int32_t *tab = malloc((size_t)L * sizeof *tab);
  if (!tab) {
    dy_error(f->d, core->loc, "out of memory");
    f->failed = 1;
    return NULL;
  }
  double sx = F32(x->type.quant->scales[0]);
  for (int64_t k = 0; k < L; k++)
    tab[k] = (int32_t)nearbyint(ldexp(exp(-sx * (double)k), 20));
  char nb[256];
  DyValue *t = dy_build_const(
      f->g, qop, vname(nb, sizeof nb, qop->results[0]->name, "_exp"),
      dy_type_make(DY_I32, 1, &L), tab, DY_FORM_DENSE);
  free(tab);
  t->def->loc = core->loc;
  DyValue *ops[2] = {x, t};
  DyValue *y =
      dy_build_op(f->g, qop, DY_OP_SOFTMAX, 2, ops, *ty, qop->results[0]->name);
  y->def->loc = core->loc;
  dy_op_set_int(f->g, y->def, "axis", dy_op_int(core, "axis", -1));
  dy_op_set_int(f->g, y->def, "shift", N);
  if (ty->quant->zero_points[0])
    dy_op_set_int(f->g, y->def, "output_zp", ty->quant->zero_points[0]);
  return y;
}

/* --- weights behind layout ops --- */

/* transpose / reshape of a dequantized constant (ONNX QDQ exports put the
 * transpose of the weights after the DequantizeLinear): move the layout op
 * onto the quantized constant, so that the weights are dq(const). */
static int hoist_weight_layout(Fold *f) {
  DyGraph *g = f->g;
  int changed = 0;
  for (DyOp *op = g->first; op; op = op->next) {
    if (op->kind != DY_OP_TRANSPOSE && op->kind != DY_OP_RESHAPE)
      continue;
    DyValue *q = dq_of(op->operands[0]);
    if (!dy_value_is_const(q))
      continue;
    const DyQuant *qq = q->type.quant;
    DyQuant nq = *qq;
    if (qq->kind == DY_QUANT_BLOCKED)
      continue;
    if (qq->kind == DY_QUANT_PER_AXIS && op->kind == DY_OP_RESHAPE) {
      /* the axis survives a reshape that keeps its extent and the number
       * of elements before it: every element keeps its channel */
      const DyType *in = &q->type, *out = &op->results[0]->type;
      int64_t before = 1, found = -1;
      int ovf = 0;
      for (int i = 0; i < qq->axis; i++)
        ovf |= __builtin_mul_overflow(before, in->dims[i], &before);
      if (ovf)
        continue;
      int64_t acc = 1;
      for (int i = 0; i < out->rank && found < 0; i++) {
        if (acc == before && out->dims[i] == in->dims[qq->axis])
          found = i;
        if (__builtin_mul_overflow(acc, out->dims[i], &acc))
          break;
      }
      if (found < 0)
        continue;
      nq.axis = (int)found;
    } else if (qq->kind == DY_QUANT_PER_AXIS) {
      if (op->kind != DY_OP_TRANSPOSE)
        continue;
      int64_t perm[DY_MAX_RANK];
      int n = dy_op_ints(op, "perm", perm, DY_MAX_RANK, NULL, 0);
      int found = -1;
      for (int i = 0; i < n; i++)
        if (perm[i] == qq->axis)
          found = i;
      if (found < 0)
        continue;
      nq.axis = found;
    }
    DyType t = op->results[0]->type;
    t.elem = q->type.elem;
    t.quant = dy_quant_create(g, &nq);
    /* evaluate the layout op on the stored values */
    DyValue *src = q;
    DyOp *tmp =
        dy_op_create(g, op->kind, 1, &src, 1, &t, (const char *[]){"t"});
    for (int i = 0; i < op->nattrs; i++)
      dy_op_add_attr(g, tmp, &op->attrs[i]);
    DyTensor in = {q->type, q->def->data->data, q->def->data->nbytes}, out;
    int rc = dy_interp_eval_op(tmp, &in, &out, f->d);
    dy_graph_release_name(g, tmp->results[0]->name);
    if (rc) {
      f->failed = 1;
      return 0;
    }
    char nb[256];
    DyValue *c = dy_build_const(g, op, vname(nb, sizeof nb, q->name, "_t"), t,
                                out.data, DY_FORM_DENSE);
    dy_tensor_free(&out);
    c->def->loc = op->loc;
    DyValue *dq =
        dy_build_op(g, op, DY_OP_DEQUANTIZE, 1, &c, op->results[0]->type,
                    vname(nb, sizeof nb, c->name, "_dq"));
    dq->def->loc = op->loc;
    dy_value_replace_all_uses(g, op->results[0], dq);
    changed = 1;
  }
  if (changed)
    dy_graph_remove_dead_ops(g);
  return changed;
}

/* --- dynamic quantization --- */

/* conv2d / matmul reading dequantize(dynamic_quantize(x)) with quantized
 * constant weights (ONNX Runtime's dynamic quantization): the accumulator
 * sum(y * (w - zw)) is integer, the run-time zero point's cross term
 * -z * sum(w - zw) is added in i32, and the result is scaled in f32 by the
 * run-time scale and the weight scales, as ONNX's MatMulInteger + Mul. */
static int fold_dynamic(Fold *f, DyOp *core) {
  DyGraph *g = f->g;
  DyOp *dq = core->operands[0]->def;
  if (!dq || dq->kind != DY_OP_DEQUANTIZE || dq->noperands != 3 ||
      !dq->operands[0]->def ||
      dq->operands[0]->def->kind != DY_OP_DYNAMIC_QUANTIZE)
    return 0;
  DyValue *y = dq->operands[0], *s = dq->operands[1], *z = dq->operands[2];
  DyValue *w = dq_of(core->operands[1]);
  int is_conv = core->kind == DY_OP_CONV2D;
  int oc_axis = is_conv ? 0 : (w ? w->type.rank - 1 : 0);
  if (!w || !dy_value_is_const(w) || (!is_conv && w->type.rank != 2) ||
      w->type.elem == DY_I32)
    return 0;
  const DyQuant *wq = w->type.quant;
  if (wq->kind == DY_QUANT_BLOCKED ||
      (wq->kind == DY_QUANT_PER_AXIS && wq->axis != oc_axis))
    return 0;
  int64_t pads[4] = {0, 0, 0, 0};
  if (is_conv)
    dy_op_ints(core, "pads", pads, 4, pads, 4);
  if (pads[0] || pads[1] || pads[2] || pads[3])
    return 0;
  const DyValue *bv = core->noperands == 3 ? core->operands[2] : NULL;
  if (bv &&
      (!dy_value_is_const(bv) || bv->type.elem != DY_F32 || bv->type.quant))
    return 0;
  int64_t OC = w->type.dims[oc_axis];
  int64_t K = dy_type_numel(&w->type) / (OC ? OC : 1);
  if (OC < 1 || OC > INT32_MAX)
    return 0;
  int32_t *neg = malloc((size_t)(OC ? OC : 1) * sizeof *neg);
  float *sw = malloc((size_t)(OC ? OC : 1) * sizeof *sw);
  if (!neg || !sw) {
    free(neg);
    free(sw);
    dy_error(f->d, core->loc, "out of memory");
    f->failed = 1;
    return 0;
  }
  for (int64_t c = 0; c < OC; c++) {
    int64_t p = wq->kind == DY_QUANT_PER_AXIS ? c : 0, sum = 0;
    for (int64_t k = 0; k < K; k++) {
      int64_t idx = is_conv ? c * K + k : k * OC + c;
      int64_t v = load_weight(w, idx);
      sum += v - wq->zero_points[p];
    }
    neg[c] = (int32_t)-sum;
    sw[c] = (float)wq->scales[p];
  }
  char nb[256];
  const char *base = core->results[0]->name;
  DyType vt = dy_type_make(DY_I32, 1, &OC);
  DyValue *negc = dy_build_const(g, core, vname(nb, sizeof nb, base, "_wsum"),
                                 vt, neg, DY_FORM_DENSE);
  DyValue *ops[3] = {y, w, NULL};
  DyValue *acc = dy_build_op(g, core, core->kind, 2, ops,
                             plain(&core->results[0]->type, DY_I32),
                             vname(nb, sizeof nb, base, "_acc"));
  for (int i = 0; i < core->nattrs; i++)
    if (strcmp(core->attrs[i].name, "range") != 0)
      dy_op_add_attr(g, acc->def, &core->attrs[i]);
  DyValue *zc = build_shift(f, core, z, 0, 0, vname(nb, sizeof nb, base, "_z"),
                            core->loc);
  DyValue *mo[2] = {zc, negc};
  DyValue *corr = dy_build_op(g, core, DY_OP_MUL, 2, mo, vt,
                              vname(nb, sizeof nb, base, "_zterm"));
  DyValue *ao[2] = {acc, corr};
  DyValue *acc2 = dy_build_op(g, core, DY_OP_ADD, 2, ao, acc->type,
                              vname(nb, sizeof nb, base, "_acc_z"));
  DyValue *so[2] = {acc2, s};
  DyValue *accf =
      dy_build_op(g, core, DY_OP_DEQUANTIZE, 2, so, core->results[0]->type,
                  vname(nb, sizeof nb, base, "_scaled"));
  DyType st = dy_type_make(DY_F32, 1, &OC);
  DyValue *swc = dy_build_const(g, core, vname(nb, sizeof nb, base, "_wscale"),
                                st, sw, DY_FORM_DENSE);
  DyValue *po[2] = {accf, swc};
  DyValue *out = dy_build_op(g, core, DY_OP_MUL, 2, po, core->results[0]->type,
                             vname(nb, sizeof nb, base, "_real"));
  if (bv) {
    DyValue *bo[2] = {out, (DyValue *)bv};
    out = dy_build_op(g, core, DY_OP_ADD, 2, bo, core->results[0]->type,
                      vname(nb, sizeof nb, base, "_biased"));
  }
  for (DyOp *o = negc->def; o != core; o = o->next)
    o->loc = core->loc;
  free(neg);
  free(sw);
  DyValue *old = core->results[0];
  dy_value_replace_all_uses(g, old, out);
  dy_graph_release_name(g, out->name);
  out->name = old->name;
  old->name = "";
  return 1;
}

/* --- driver --- */

static int single_use(const DyGraph *g, const DyValue *v) {
  return dy_value_num_uses(g, v) == 1 && !dy_value_is_output(g, v);
}

int dy_fold_scales(DyGraph *g, const DyFoldOptions *o, DyDiag *d) {
  Fold f = {g, o, d, 0, 0};
  hoist_weight_layout(&f);
  if (!o->float_requant)
    for (DyOp *op = g->first; op && !f.failed; op = op->next)
      if (op->kind == DY_OP_REQUANT &&
          strcmp(dy_op_str(op, "rounding", ""), "float") == 0)
        dyadic_requant(&f, op);
  for (DyOp *qop = g->first; qop && !f.failed; qop = qop->next) {
    if (qop->kind != DY_OP_QUANTIZE || !qop->operands[0]->def)
      continue; /* the entry quantize of a graph input stays */
    DyOp *core = qop->operands[0]->def, *act = NULL;
    if (!single_use(g, qop->operands[0]))
      continue;
    if ((core->kind == DY_OP_RELU || core->kind == DY_OP_CLIP) &&
        core->operands[0]->def && single_use(g, core->operands[0])) {
      DyOp *p = core->operands[0]->def;
      if (p->kind == DY_OP_CONV2D || p->kind == DY_OP_MATMUL ||
          p->kind == DY_OP_ADD || p->kind == DY_OP_MUL) {
        act = core;
        core = p;
      }
    }
    DyValue *y = NULL;
    f.noted = 0;
    switch (core->kind) {
    case DY_OP_CONV2D:
    case DY_OP_MATMUL:
      y = fold_layer(&f, core, act, qop);
      break;
    case DY_OP_ADD:
      y = fold_add(&f, core, act, qop);
      break;
    case DY_OP_MUL:
      y = fold_mul(&f, core, act, qop);
      break;
    case DY_OP_CONCAT:
      y = fold_concat(&f, core, qop);
      break;
    case DY_OP_AVGPOOL:
    case DY_OP_GLOBAL_AVGPOOL:
      y = fold_pool(&f, core, qop);
      break;
    case DY_OP_MAXPOOL:
    case DY_OP_RESHAPE:
    case DY_OP_FLATTEN:
    case DY_OP_TRANSPOSE:
    case DY_OP_PAD:
    case DY_OP_IDENTITY:
      y = fold_layout(&f, core, qop);
      break;
    case DY_OP_RELU:
    case DY_OP_CLIP:
      y = fold_activation(&f, core, qop);
      break;
    case DY_OP_DEQUANTIZE:
      if (act_of(qop->operands[0]) &&
          is_per_tensor(qop->results[0]->type.quant))
        y = rescale_to(&f, qop, act_of(qop->operands[0]),
                       &qop->results[0]->type, NULL, qop->results[0]->name,
                       qop->loc);
      break;
    case DY_OP_SIGMOID:
    case DY_OP_TANH:
    case DY_OP_HARDSWISH:
      y = fold_table(&f, core, qop);
      break;
    case DY_OP_SOFTMAX:
      y = fold_softmax(&f, core, qop);
      break;
    default:
      break;
    }
    if (!y) {
      if (!f.failed && !f.noted)
        dy_note(d, core->loc, "'%s' -> '%%%s' stays float",
                dy_op_name(core->kind), qop->results[0]->name);
      continue;
    }
    DyValue *old = qop->results[0];
    dy_value_replace_all_uses(g, old, y);
    dy_graph_release_name(g, y->name);
    y->name = old->name;
    old->name = "";
  }
  for (DyOp *op = g->first; op && !f.failed; op = op->next)
    if ((op->kind == DY_OP_CONV2D || op->kind == DY_OP_MATMUL) &&
        op->results[0]->type.elem == DY_F32)
      fold_dynamic(&f, op);
  dy_graph_remove_dead_ops(g);
  return f.failed;
}

/* --- the pass --- */

static int run_pass(DyGraph *g, const DyPassContext *ctx) {
  return dy_fold_scales(g, ctx->opts, ctx->diag);
}

static void init_opts(void *o) { dy_fold_options_default(o); }

/* rounding: an integer mode, or "float" (real requants, for comparison) */
static int set_rounding(void *opts, const char *v, DyArena *arena, char *err,
                        size_t errn) {
  DyFoldOptions *f = opts;
  f->float_requant = strcmp(v, "float") == 0;
  if (!f->float_requant && dy_rounding_from_name(v, &f->rounding)) {
    snprintf(err, errn,
             "rounding must be tflite-double, tflite-single, tosa-single, "
             "tosa-double or float, got '%s'",
             v);
    return 1;
  }
  return 0;
}

static const char *const modes[] = {"tflite-double", "tflite-single",
                                    "tosa-single",   "tosa-double",
                                    "float",         NULL};

static const DyPassOption options[] = {
    {"rounding", DY_OPT_ENUM, DY_OPT_FIELD(DyFoldOptions, rounding),
     .choices = modes, .set = set_rounding,
     .help = "requant rounding; float keeps real scales (default "
             "tflite-double)"},
    {0}};

const DyPassDef dy_pass_fold_scales = {
    "integer ops and dyadic requants: {rounding=tflite-double|...}", run_pass,
    sizeof(DyFoldOptions), init_opts, options};
