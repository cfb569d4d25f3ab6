/* The integer form of each fold-scales island (the comment at the top of
 * passes/fold_scales.c lists them): conv2d / matmul, add, mul, concat,
 * pooling, layout ops, relu / clip, lookup tables and softmax, and the
 * dispatch on the island's core op that the driver calls. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fold_scales_internal.h"

/* --- fused activations --- */

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
  y = dy_fold_build_requant(f, qop, acc, ty, nch, real, ty->rank - 1, 0, zy, lo,
                            hi, base, qop->loc);
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
  DyValue *a1 =
      dy_fold_build_shift(f, qop, a, aq->zero_points[0], ls,
                          vname(nb, sizeof nb, base, "_a"), core->loc);
  DyValue *b1 =
      dy_fold_build_shift(f, qop, b, bq->zero_points[0], ls,
                          vname(nb, sizeof nb, base, "_b"), core->loc);
  DyType a32 = a1->type, b32 = b1->type;
  DyValue *a2 =
      dy_fold_build_requant(f, qop, a1, &a32, 1, &ra, -1, 0, 0, 1, 0,
                            vname(nb, sizeof nb, base, "_as"), core->loc);
  DyValue *b2 =
      dy_fold_build_requant(f, qop, b1, &b32, 1, &rb, -1, 0, 0, 1, 0,
                            vname(nb, sizeof nb, base, "_bs"), core->loc);
  DyValue *ops[2] = {a2, b2};
  DyValue *s = dy_build_op(f->g, qop, DY_OP_ADD, 2, ops,
                           plain(&core->results[0]->type, DY_I32),
                           vname(nb, sizeof nb, base, "_sum"));
  s->def->loc = core->loc;
  int64_t lo, hi;
  act_clamp(act, yq, &lo, &hi);
  return dy_fold_build_requant(f, qop, s, ty, 1, &ro, -1, 0, yq->zero_points[0],
                               lo, hi, base, qop->loc);
}

static DyValue *fold_mul(Fold *f, DyOp *core, const DyOp *act, DyOp *qop) {
  DyValue *a = act_of(core->operands[0]), *b = act_of(core->operands[1]);
  const DyType *ty = &qop->results[0]->type;
  if (!a || !b || !is_per_tensor(ty->quant))
    return NULL;
  const DyQuant *aq = a->type.quant, *bq = b->type.quant, *yq = ty->quant;
  char nb[256];
  const char *base = qop->results[0]->name;
  DyValue *a1 =
      dy_fold_build_shift(f, qop, a, aq->zero_points[0], 0,
                          vname(nb, sizeof nb, base, "_a"), core->loc);
  DyValue *b1 =
      dy_fold_build_shift(f, qop, b, bq->zero_points[0], 0,
                          vname(nb, sizeof nb, base, "_b"), core->loc);
  DyValue *ops[2] = {a1, b1};
  DyValue *p = dy_build_op(f->g, qop, DY_OP_MUL, 2, ops,
                           plain(&core->results[0]->type, DY_I32),
                           vname(nb, sizeof nb, base, "_prod"));
  p->def->loc = core->loc;
  double r = F32(aq->scales[0]) * F32(bq->scales[0]) / F32(yq->scales[0]);
  int64_t lo, hi;
  act_clamp(act, yq, &lo, &hi);
  return dy_fold_build_requant(f, qop, p, ty, 1, &r, -1, 0, yq->zero_points[0],
                               lo, hi, base, qop->loc);
}

/* x's stored values re-expressed in the output's parameters. */
static DyValue *rescale_to(Fold *f, DyOp *before, DyValue *x, const DyType *to,
                           const DyOp *act, const char *name, DyLoc loc) {
  const DyQuant *xq = x->type.quant, *yq = to->quant;
  double r = F32(xq->scales[0]) / F32(yq->scales[0]);
  int64_t lo, hi;
  act_clamp(act, yq, &lo, &hi);
  return dy_fold_build_requant(f, before, x, to, 1, &r, -1, xq->zero_points[0],
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
  DyValue *x1 =
      dy_fold_build_shift(f, qop, x, xq->zero_points[0], k,
                          vname(nb, sizeof nb, base, "_x"), core->loc);
  DyValue *m = dy_build_op(f->g, qop, core->kind, 1, &x1,
                           plain(&core->results[0]->type, DY_I32),
                           vname(nb, sizeof nb, base, "_mean"));
  m->def->loc = core->loc;
  for (int i = 0; i < core->nattrs; i++)
    if (strcmp(core->attrs[i].name, "range") != 0)
      dy_op_add_attr(f->g, m->def, &core->attrs[i]);
  double r = F32(xq->scales[0]) / (ldexp(1, k) * F32(yq->scales[0]));
  return dy_fold_build_requant(f, qop, m, ty, 1, &r, -1, 0, yq->zero_points[0],
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

/* --- dispatch --- */

DyValue *dy_fold_island(Fold *f, DyOp *core, const DyOp *act, DyOp *qop) {
  DyValue *y = NULL;
  switch (core->kind) {
  case DY_OP_CONV2D:
  case DY_OP_MATMUL:
    y = fold_layer(f, core, act, qop);
    break;
  case DY_OP_ADD:
    y = fold_add(f, core, act, qop);
    break;
  case DY_OP_MUL:
    y = fold_mul(f, core, act, qop);
    break;
  case DY_OP_CONCAT:
    y = fold_concat(f, core, qop);
    break;
  case DY_OP_AVGPOOL:
  case DY_OP_GLOBAL_AVGPOOL:
    y = fold_pool(f, core, qop);
    break;
  case DY_OP_MAXPOOL:
  case DY_OP_RESHAPE:
  case DY_OP_FLATTEN:
  case DY_OP_TRANSPOSE:
  case DY_OP_PAD:
  case DY_OP_IDENTITY:
    y = fold_layout(f, core, qop);
    break;
  case DY_OP_RELU:
  case DY_OP_CLIP:
    y = fold_activation(f, core, qop);
    break;
  case DY_OP_DEQUANTIZE:
    if (act_of(qop->operands[0]) && is_per_tensor(qop->results[0]->type.quant))
      y = rescale_to(f, qop, act_of(qop->operands[0]), &qop->results[0]->type,
                     NULL, qop->results[0]->name, qop->loc);
    break;
  case DY_OP_SIGMOID:
  case DY_OP_TANH:
  case DY_OP_HARDSWISH:
    y = fold_table(f, core, qop);
    break;
  case DY_OP_SOFTMAX:
    y = fold_softmax(f, core, qop);
    break;
  default:
    break;
  }
  return y;
}
