/* quantize: rewrites a calibrated float graph into QDQ form.
 *
 * Every f32 activation with a range gets `quantize` then `dequantize` right
 * after its definition, and its float users read the dequantized value;
 * conv2d / matmul weights become quantized constants behind a
 * `dequantize`, and their bias an i32 constant at scale s_x * s_w. Run as
 * is, the graph simulates quantization (fake-quant); fold-scales turns it
 * into integer ops. Choices follow TFLite's converter: a conv2d, matmul,
 * add or mul feeding only a relu / clip is not quantized itself (the activation
 * is fused), layout ops keep their input's parameters, and softmax, sigmoid and
 * tanh outputs have fixed parameters. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dyad/pass.h"
#include "dyad/quant.h"

void dy_quant_options_default(DyQuantOptions *o) {
  memset(o, 0, sizeof *o);
  o->weights = (DyQuantScheme){8, 1, 1, 1};
  o->acts = (DyQuantScheme){8, 1, 0, 0};
  o->granularity = DY_GRAN_PER_CHANNEL;
  o->group_size = 32;
  o->rounding = DY_WROUND_HALF_EVEN;
}

/* Storage type and range of a scheme. */

/* --- helpers --- */

static const DyQuant *make_quant(DyGraph *g, DyElemType st, int64_t qmin,
                                 int64_t qmax, double scale, int64_t zp) {
  DyQuant q;
  memset(&q, 0, sizeof q);
  q.kind = DY_QUANT_PER_TENSOR;
  q.storage = st;
  q.qmin = qmin;
  q.qmax = qmax;
  q.nparams = 1;
  q.scales = &scale;
  q.zero_points = &zp;
  return dy_quant_create(g, &q);
}

static const DyAttr *range_of(const DyValue *v) {
  return v->def ? dy_op_attr(v->def, "range") : dy_value_attr(v, "range");
}

static double attr_num(const DyAttr *a, int i) {
  return a->kind == DY_ATTR_FLOATS ? a->floats[i] : (double)a->ints[i];
}

/* Ops the quantizer handles (everything else stays float, between a
 * dequantize and a quantize). */

static int in_list(const char *const *list, const char *s) {
  for (int i = 0; list && list[i]; i++)
    if (strcmp(list[i], s) == 0)
      return 1;
  return 0;
}

static int skipped(const DyQuantOptions *o, const DyOp *op) {
  return in_list(o->skip_ops, dy_op_name(op->kind)) ||
         in_list(o->skip_names, op->results[0]->name);
}

static int is_f32(const DyValue *v) {
  return v->type.elem == DY_F32 && !v->type.quant;
}

/* --- stochastic rounding: splitmix64 --- */

static uint64_t next_u64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double round_weight(const DyQuantOptions *o, double x, uint64_t *rng) {
  switch (o->rounding) {
  case DY_WROUND_HALF_AWAY:
    return round(x);
  case DY_WROUND_STOCHASTIC: {
    double u = (double)(next_u64(rng) >> 11) * 0x1.0p-53;
    return floor(x + u);
  }
  case DY_WROUND_HALF_EVEN:
    break;
  }
  return nearbyint(x); /* default rounding mode: ties to even */
}

/* --- weights --- */

/* Quantizes the f32 constant w of a conv2d (OHWI, channels on axis 0,
 * reduction along axis 3) or matmul (KxN: channels on the last axis,
 * reduction along axis rank-2). Returns the quantized constant, or NULL
 * after reporting. */
static DyValue *quantize_weights(DyGraph *g, const DyQuantOptions *o,
                                 DyOp *layer, DyValue *w, uint64_t *rng,
                                 DyDiag *d) {
  const DyType *t = &w->type;
  int ch = layer->kind == DY_OP_CONV2D ? 0 : t->rank - 1;
  int red = layer->kind == DY_OP_CONV2D ? 3 : t->rank - 2;
  if (t->rank < 2) {
    dy_error(d, layer->loc, "cannot quantize weights of rank %d", t->rank);
    return NULL;
  }
  int64_t qmin, qmax;
  DyElemType st = dy_scheme_range(&o->weights, &qmin, &qmax);
  DyQuant q;
  memset(&q, 0, sizeof q);
  q.storage = st;
  q.qmin = qmin;
  q.qmax = qmax;
  DyGranularity gran = o->granularity;
  int64_t gs = o->group_size;
  if (gran == DY_GRAN_PER_GROUP && gs >= t->dims[red])
    gran = DY_GRAN_PER_CHANNEL; /* one group spans the reduction axis */
  if (gran == DY_GRAN_PER_GROUP && t->dims[red] % gs) {
    dy_error(d, layer->loc,
             "group size %lld does not divide the reduction axis (%lld) of "
             "'%%%s'",
             (long long)gs, (long long)t->dims[red], w->name);
    return NULL;
  }
  /* block of every element: along ch each index, along red groups of gs */
  int64_t blk[DY_MAX_RANK];
  for (int i = 0; i < t->rank; i++)
    blk[i] = 0;
  if (gran == DY_GRAN_PER_TENSOR) {
    q.kind = DY_QUANT_PER_TENSOR;
  } else if (gran == DY_GRAN_PER_CHANNEL) {
    q.kind = DY_QUANT_PER_AXIS;
    q.axis = ch;
    blk[ch] = 1;
  } else {
    q.kind = DY_QUANT_BLOCKED;
    blk[ch] = 1;
    blk[red] = gs;
    for (int i = 0; i < t->rank; i++)
      q.block[i] = blk[i];
  }
  int64_t bshape[DY_MAX_RANK], np = 1;
  for (int i = 0; i < t->rank; i++) {
    bshape[i] = blk[i] ? t->dims[i] / blk[i] : 1;
    np *= bshape[i];
  }
  int64_t n = dy_type_numel(t);
  double *lo = malloc((size_t)np * sizeof *lo),
         *hi = malloc((size_t)np * sizeof *hi);
  double *sc = malloc((size_t)np * sizeof *sc);
  int64_t *zp = malloc((size_t)np * sizeof *zp);
  int64_t *pidx = malloc((size_t)(n ? n : 1) * sizeof *pidx);
  int8_t *out8 = NULL;
  int16_t *out16 = NULL;
  DyValue *res = NULL;
  if (st == DY_I16)
    out16 = malloc((size_t)(n ? n : 1) * 2);
  else
    out8 = malloc((size_t)(n ? n : 1));
  if (!lo || !hi || !sc || !zp || !pidx || (!out8 && !out16)) {
    dy_error(d, layer->loc, "out of memory");
    goto done;
  }
  for (int64_t p = 0; p < np; p++) {
    lo[p] = 0;
    hi[p] = 0;
  }
  const float *wd = w->def->data->data;
  for (int64_t i = 0; i < n; i++) {
    int64_t rem = i, p = 0;
    int64_t c[DY_MAX_RANK];
    for (int k = t->rank - 1; k >= 0; k--) {
      c[k] = rem % t->dims[k];
      rem /= t->dims[k];
    }
    for (int k = 0; k < t->rank; k++)
      p = p * bshape[k] + (blk[k] ? c[k] / blk[k] : 0);
    pidx[i] = p;
    if (!isfinite(wd[i])) {
      dy_error(d, w->def->loc, "weight '%%%s' holds a non-finite value",
               w->name);
      goto done;
    }
    lo[p] = fmin(lo[p], wd[i]);
    hi[p] = fmax(hi[p], wd[i]);
  }
  for (int64_t p = 0; p < np; p++) {
    int64_t a, b;
    dy_choose_qparams(&o->weights, lo[p], hi[p], &sc[p], &zp[p], &a, &b);
  }
  for (int64_t i = 0; i < n; i++) {
    int64_t p = pidx[i];
    double r = round_weight(o, (double)wd[i] / sc[p], rng) + (double)zp[p];
    int64_t v = r < (double)qmin ? qmin : r > (double)qmax ? qmax : (int64_t)r;
    if (out16)
      out16[i] = (int16_t)v;
    else
      out8[i] = (int8_t)v;
  }
  q.nparams = np;
  q.scales = sc;
  q.zero_points = zp;
  DyType qt = *t;
  qt.elem = st;
  qt.quant = dy_quant_create(g, &q);
  char name[256];
  snprintf(name, sizeof name, "%s_q", w->name);
  res = dy_build_const(g, w->def, name, qt, out16 ? (void *)out16 : out8,
                       DY_FORM_DENSE);
  res->def->loc = w->def->loc;
done:
  free(lo);
  free(hi);
  free(sc);
  free(zp);
  free(pidx);
  free(out8);
  free(out16);
  return res;
}

/* i32 bias at scale s_x * s_w (per channel when w is). */
static DyValue *quantize_bias(DyGraph *g, DyOp *layer, DyValue *b,
                              const DyQuant *xq, const DyQuant *wq, DyDiag *d) {
  int64_t n = b->type.rank == 1 ? b->type.dims[0] : -1;
  if (n < 0 || (wq->kind == DY_QUANT_PER_AXIS && wq->nparams != n)) {
    dy_error(d, layer->loc, "bias '%%%s' does not match the weights", b->name);
    return NULL;
  }
  double *sc = malloc((size_t)(n ? n : 1) * sizeof *sc);
  int64_t *zp = calloc((size_t)(n ? n : 1), sizeof *zp);
  int32_t *data = malloc((size_t)(n ? n : 1) * sizeof *data);
  DyValue *res = NULL;
  if (!sc || !zp || !data) {
    dy_error(d, layer->loc, "out of memory");
    goto done;
  }
  const float *bd = b->def->data->data;
  for (int64_t c = 0; c < n; c++) {
    sc[c] = xq->scales[0] * wq->scales[wq->kind == DY_QUANT_PER_AXIS ? c : 0];
    double r = nearbyint((double)bd[c] / sc[c]);
    if (!(fabs(r) <= 2147483647.0)) {
      dy_error(d, layer->loc,
               "bias '%%%s'[%lld] = %g does not fit i32 at scale %g", b->name,
               (long long)c, (double)bd[c], sc[c]);
      goto done;
    }
    data[c] = (int32_t)r;
  }
  DyQuant q;
  memset(&q, 0, sizeof q);
  q.kind =
      wq->kind == DY_QUANT_PER_AXIS ? DY_QUANT_PER_AXIS : DY_QUANT_PER_TENSOR;
  q.storage = DY_I32;
  q.qmin = INT32_MIN;
  q.qmax = INT32_MAX;
  q.axis = 0;
  q.nparams = q.kind == DY_QUANT_PER_AXIS ? n : 1;
  q.scales = sc;
  q.zero_points = zp;
  DyType qt = b->type;
  qt.elem = DY_I32;
  qt.quant = dy_quant_create(g, &q);
  char name[256];
  snprintf(name, sizeof name, "%s_q", b->name);
  res = dy_build_const(g, b->def, name, qt, data, DY_FORM_DENSE);
  res->def->loc = b->def->loc;
done:
  free(sc);
  free(zp);
  free(data);
  return res;
}

/* A constant operand of add / mul / concat, per tensor with the
 * activation scheme. */
static DyValue *quantize_const_act(DyGraph *g, const DyQuantOptions *o,
                                   DyValue *c, DyDiag *d) {
  int64_t n = dy_type_numel(&c->type);
  const float *cd = c->def->data->data;
  double lo = 0, hi = 0;
  for (int64_t i = 0; i < n; i++) {
    if (!isfinite(cd[i])) {
      dy_error(d, c->def->loc, "constant '%%%s' holds a non-finite value",
               c->name);
      return NULL;
    }
    lo = fmin(lo, cd[i]);
    hi = fmax(hi, cd[i]);
  }
  double sc;
  int64_t zp, qmin, qmax;
  dy_choose_qparams(&o->acts, lo, hi, &sc, &zp, &qmin, &qmax);
  DyElemType st = dy_scheme_range(&o->acts, &qmin, &qmax);
  DyType qt = c->type;
  qt.elem = st;
  qt.quant = make_quant(g, st, qmin, qmax, sc, zp);
  size_t es = dy_elem_size(st);
  unsigned char *buf = malloc((size_t)(n ? n : 1) * es);
  if (!buf) {
    dy_error(d, c->def->loc, "out of memory");
    return NULL;
  }
  for (int64_t i = 0; i < n; i++) {
    double r = nearbyint((double)cd[i] / sc) + (double)zp;
    int64_t v = r < (double)qmin ? qmin : r > (double)qmax ? qmax : (int64_t)r;
    if (st == DY_I16) {
      int16_t x = (int16_t)v;
      memcpy(buf + i * 2, &x, 2);
    } else {
      buf[i] = (unsigned char)(int8_t)v;
    }
  }
  char name[256];
  snprintf(name, sizeof name, "%s_q", c->name);
  DyValue *res = dy_build_const(g, c->def, name, qt, buf, DY_FORM_DENSE);
  free(buf);
  res->def->loc = c->def->loc;
  snprintf(name, sizeof name, "%s_dq", c->name);
  DyValue *dq =
      dy_build_op(g, c->def, DY_OP_DEQUANTIZE, 1, &res, c->type, name);
  dq->def->loc = c->def->loc;
  return dq;
}

/* Inserts `q = quantize v; dq = dequantize q` after v's definition and
 * makes v's other users (and graph outputs, unless integer_io) read dq.
 * Returns q. */
static DyValue *insert_qdq(DyGraph *g, DyValue *v, const DyQuant *qp,
                           int integer_io) {
  DyOp *before = v->def ? v->def->next : g->first;
  char name[256];
  DyType qt = v->type;
  qt.elem = qp->storage;
  qt.quant = qp;
  snprintf(name, sizeof name, "%s_q", v->name);
  DyValue *q = dy_build_op(g, before, DY_OP_QUANTIZE, 1, &v, qt, name);
  q->def->loc = v->def ? v->def->loc : g->loc;
  snprintf(name, sizeof name, "%s_dq", v->name);
  DyValue *dq = dy_build_op(g, before, DY_OP_DEQUANTIZE, 1, &q, v->type, name);
  dq->def->loc = q->def->loc;
  dy_value_replace_all_uses(g, v, dq);
  q->def->operands[0] = v;
  if (integer_io) {
    for (int i = 0; i < g->noutputs; i++)
      if (g->outputs[i] == dq)
        g->outputs[i] = q;
  } else if (dy_value_is_output(g, dq)) {
    /* the graph output keeps its name (dyad run names files after it);
     * the float value before the quantize takes a new one */
    const char *orig = v->name;
    snprintf(name, sizeof name, "%s_float", orig);
    v->name = dy_graph_unique_name(g, name);
    dy_graph_release_name(g, dq->name);
    dq->name = orig;
  }
  return q;
}

/* The quantized value behind a dequantized one, or NULL. */
static const DyQuant *dq_source(const DyValue *v) {
  if (v->def && v->def->kind == DY_OP_DEQUANTIZE)
    return v->def->operands[0]->type.quant;
  return NULL;
}

/* Fixed output parameters of ops whose range is known: softmax and sigmoid
 * in [0, 1], tanh in [-1, 1] (TFLite's choices). */
static int fixed_params(DyGraph *g, const DyQuantOptions *o, const DyOp *op,
                        const DyQuant **out) {
  int64_t qmin, qmax;
  DyElemType st = dy_scheme_range(&o->acts, &qmin, &qmax);
  double scale;
  int64_t zp;
  int b = o->acts.bits, uns = !o->acts.is_signed;
  if (op->kind == DY_OP_SOFTMAX || op->kind == DY_OP_SIGMOID) {
    scale = b == 16 ? 1.0 / 32768 : 1.0 / 256;
    zp = b == 16 || uns ? 0 : -128;
  } else if (op->kind == DY_OP_TANH) {
    scale = b == 16 ? 1.0 / 32768 : 1.0 / 128;
    zp = uns && b != 16 ? 128 : 0;
  } else {
    return 0;
  }
  if (zp < qmin || zp > qmax)
    return 0; /* a narrow range cannot hold it: calibrated instead */
  *out = make_quant(g, st, qmin, qmax, scale, zp);
  return 1;
}

/* Dynamic quantization (ONNX Runtime's quantize_dynamic): the input of
 * every conv2d / matmul with constant weights goes through
 * dynamic_quantize (u8, range computed per run) and a run-time dequantize;
 * weights are quantized as for static quantization; the layer's output
 * stays f32. A padded conv2d gets an explicit f32 pad first, so that the
 * integer form can pad with the run-time zero point. */
static int quantize_dynamic(DyGraph *g, const DyQuantOptions *o, DyDiag *d) {
  uint64_t rng = o->seed;
  for (DyOp *op = g->first; op; op = op->next) {
    if ((op->kind != DY_OP_CONV2D && op->kind != DY_OP_MATMUL) ||
        !is_f32(op->results[0]) || skipped(o, op) || op->noperands < 2 ||
        !dy_value_is_const(op->operands[1]) || !is_f32(op->operands[1]) ||
        !is_f32(op->operands[0]))
      continue;
    DyValue *x = op->operands[0];
    char name[256];
    int64_t pads[4] = {0, 0, 0, 0};
    if (op->kind == DY_OP_CONV2D)
      dy_op_ints(op, "pads", pads, 4, pads, 4);
    if (pads[0] || pads[1] || pads[2] || pads[3]) {
      DyType pt = x->type;
      pt.dims[1] += pads[0] + pads[2];
      pt.dims[2] += pads[1] + pads[3];
      snprintf(name, sizeof name, "%s_pad", x->name);
      x = dy_build_op(g, op, DY_OP_PAD, 1, &x, pt, name);
      x->def->loc = op->loc;
      int64_t p8[8] = {0, pads[0], pads[1], 0, 0, pads[2], pads[3], 0};
      dy_op_set_ints(g, x->def, "pads", 8, p8);
      dy_op_remove_attr(op, "pads");
    }
    DyType rt[3] = {x->type, dy_type_make(DY_F32, 0, NULL),
                    dy_type_make(DY_U8, 0, NULL)};
    rt[0].elem = DY_U8;
    char n0[256], n1[256], n2[256];
    snprintf(n0, sizeof n0, "%s_dyn", x->name);
    snprintf(n1, sizeof n1, "%s_scale", x->name);
    snprintf(n2, sizeof n2, "%s_zp", x->name);
    const char *names[3] = {n0, n1, n2};
    DyOp *dq = dy_op_create(g, DY_OP_DYNAMIC_QUANTIZE, 1, &x, 3, rt, names);
    dq->loc = op->loc;
    dy_graph_insert(g, dq, op);
    snprintf(name, sizeof name, "%s_dq", x->name);
    DyValue *xd =
        dy_build_op(g, op, DY_OP_DEQUANTIZE, 3, dq->results, x->type, name);
    xd->def->loc = op->loc;
    op->operands[0] = xd;
    DyValue *wv = op->operands[1];
    if (dy_type_numel(&wv->type) <= 0)
      continue;
    DyValue *wq = quantize_weights(g, o, op, wv, &rng, d);
    if (!wq)
      return 1;
    snprintf(name, sizeof name, "%s_dq", wv->name);
    DyValue *wdq = dy_build_op(g, op, DY_OP_DEQUANTIZE, 1, &wq, wv->type, name);
    wdq->def->loc = op->loc;
    op->operands[1] = wdq;
  }
  dy_graph_remove_dead_ops(g);
  return 0;
}

int dy_quantize(DyGraph *g, const DyQuantOptions *o, DyDiag *d) {
  const DyQuantScheme *w = &o->weights, *a = &o->acts;
  if (w->bits < 2 || w->bits > 8 || (a->bits != 8 && a->bits != 16) ||
      (a->bits == 16 && !a->is_signed)) {
    dy_error(d, g->loc,
             "unsupported scheme: weights take 2 to 8 bits, activations 8 "
             "or 16 (16 only signed)");
    return 1;
  }
  if (o->granularity == DY_GRAN_PER_GROUP && o->group_size < 1) {
    dy_error(d, g->loc, "group size must be positive");
    return 1;
  }
  if (o->dynamic)
    return quantize_dynamic(g, o, d);
  DyQuantOptions o16;
  if (a->bits == 16 && !a->symmetric) {
    /* 16-bit activations have zero point 0, as TFLite's 16x8 scheme: the
     * integer add shifts them left by 15 in i32 */
    o16 = *o;
    o16.acts.symmetric = 1;
    o = &o16;
    a = &o->acts;
  }
  uint64_t rng = o->seed;
  /* values to quantize, in definition order: graph inputs, then results */
  int n = 0, cap = g->ninputs + g->nops;
  DyValue **vals = malloc((size_t)(cap ? cap : 1) * sizeof *vals);
  const DyQuant **params = malloc((size_t)(cap ? cap : 1) * sizeof *params);
  int rc = 1;
  if (!vals || !params) {
    dy_error(d, g->loc, "out of memory");
    goto done;
  }
  /* already quantized values (an imported QDQ model) are left alone */
  DyPtrSet done_set, qin; /* already quantized; to be quantized */
  dy_ptrset_init(&done_set);
  dy_ptrset_init(&qin);
  for (DyOp *op = g->first; op; op = op->next)
    if (op->kind == DY_OP_QUANTIZE)
      dy_ptrset_add(&done_set, op->operands[0]);

  for (int i = 0; i < g->ninputs; i++) {
    DyValue *v = g->inputs[i];
    const DyAttr *r = range_of(v);
    if (!is_f32(v) || dy_ptrset_has(&done_set, v))
      continue;
    if (!r) {
      dy_error(d, g->loc,
               "input '%%%s' has no range: run calibrate first, or quantize "
               "activations dynamically (activations=dynamic)",
               v->name);
      goto fail;
    }
    int64_t qmin, qmax, zp;
    double sc;
    dy_choose_qparams(a, attr_num(r, 0), attr_num(r, 1), &sc, &zp, &qmin,
                      &qmax);
    params[n] =
        make_quant(g, dy_scheme_range(a, &qmin, &qmax), qmin, qmax, sc, zp);
    vals[n++] = v;
    dy_ptrset_add(&qin, v);
  }
  for (DyOp *op = g->first; op; op = op->next) {
    if (op->kind == DY_OP_CONST || op->nresults != 1 ||
        !is_f32(op->results[0]) || dy_ptrset_has(&done_set, op->results[0]))
      continue;
    DyValue *v = op->results[0];
    if (op->kind == DY_OP_DEQUANTIZE)
      continue;
    int q_op = dy_op_has_traits(op->kind, DY_TRAIT_QUANTIZE) && !skipped(o, op);
    /* an activation fused into its producer: quantize after it instead */
    DyOp *user = dy_value_is_output(g, v) ? NULL : dy_value_sole_user(g, v);
    if (q_op &&
        (op->kind == DY_OP_CONV2D || op->kind == DY_OP_MATMUL ||
         op->kind == DY_OP_ADD || op->kind == DY_OP_MUL) &&
        user && (user->kind == DY_OP_RELU || user->kind == DY_OP_CLIP) &&
        !skipped(o, user))
      continue;
    const DyQuant *qp = NULL;
    if (!range_of(v) &&
        !(q_op && dy_op_has_traits(op->kind, DY_TRAIT_KEEPS_Q) &&
          dy_ptrset_has(&qin, op->operands[0])))
      continue; /* not calibrated (e.g. left float in a QDQ model) */
    if (q_op && fixed_params(g, o, op, &qp)) {
    } else if (q_op && dy_op_has_traits(op->kind, DY_TRAIT_KEEPS_Q)) {
      /* same parameters as the input, so that the op moves stored values */
      for (int k = 0; k < n && !qp; k++)
        if (vals[k] == op->operands[0])
          qp = params[k];
    }
    if (!qp) {
      const DyAttr *r = range_of(v);
      if (!r)
        continue; /* not calibrated: stays float */
      int64_t qmin, qmax, zp;
      double sc;
      dy_choose_qparams(a, attr_num(r, 0), attr_num(r, 1), &sc, &zp, &qmin,
                        &qmax);
      qp = make_quant(g, dy_scheme_range(a, &qmin, &qmax), qmin, qmax, sc, zp);
    }
    params[n] = qp;
    vals[n++] = v;
    dy_ptrset_add(&qin, v);
  }
  for (int k = 0; k < n; k++) {
    DyValue *v = vals[k];
    int is_input = !v->def;
    if (is_input && o->integer_io) {
      /* the input itself becomes quantized; its users read a dequantize */
      DyType f = v->type;
      v->type.elem = params[k]->storage;
      v->type.quant = params[k];
      char name[256];
      snprintf(name, sizeof name, "%s_dq", v->name);
      DyValue *dq = dy_build_op(g, g->first, DY_OP_DEQUANTIZE, 1, &v, f, name);
      dq->def->loc = g->loc;
      dy_value_replace_all_uses(g, v, dq);
      dq->def->operands[0] = v;
      continue;
    }
    insert_qdq(g, v, params[k], o->integer_io);
  }
  /* constant operands of add, mul and concat */
  for (DyOp *op = g->first; op; op = op->next) {
    if ((op->kind != DY_OP_ADD && op->kind != DY_OP_MUL &&
         op->kind != DY_OP_CONCAT) ||
        !is_f32(op->results[0]) || skipped(o, op))
      continue;
    int any_q = 0;
    for (int k = 0; k < op->noperands; k++)
      any_q |= dq_source(op->operands[k]) != NULL;
    for (int k = 0; k < op->noperands && any_q; k++)
      if (dy_value_is_const(op->operands[k]) && is_f32(op->operands[k])) {
        DyValue *dq = quantize_const_act(g, o, op->operands[k], d);
        if (!dq)
          goto fail;
        op->operands[k] = dq;
      }
  }
  /* weights and biases of the quantized layers */
  for (DyOp *op = g->first; op; op = op->next) {
    if ((op->kind != DY_OP_CONV2D && op->kind != DY_OP_MATMUL) ||
        !is_f32(op->results[0]) || skipped(o, op) || op->noperands < 2)
      continue;
    DyValue *wv = op->operands[1];
    if (!dy_value_is_const(wv) || !is_f32(wv))
      continue; /* already quantized, or computed weights: float */
    const DyQuant *xq = dq_source(op->operands[0]);
    if (!xq)
      continue; /* float input: the layer stays float */
    if (dy_type_numel(&wv->type) <= 0)
      continue; /* no weights: nothing to quantize */
    DyValue *wq = quantize_weights(g, o, op, wv, &rng, d);
    if (!wq)
      goto fail;
    char name[256];
    snprintf(name, sizeof name, "%s_dq", wv->name);
    DyValue *wdq = dy_build_op(g, op, DY_OP_DEQUANTIZE, 1, &wq, wv->type, name);
    wdq->def->loc = op->loc;
    op->operands[1] = wdq;
    if (op->noperands == 3 && dy_value_is_const(op->operands[2]) &&
        is_f32(op->operands[2]) && wq->type.quant->kind != DY_QUANT_BLOCKED &&
        xq->kind == DY_QUANT_PER_TENSOR) {
      DyValue *bv = op->operands[2];
      DyValue *bq = quantize_bias(g, op, bv, xq, wq->type.quant, d);
      if (!bq)
        goto fail;
      snprintf(name, sizeof name, "%s_dq", bv->name);
      DyValue *bdq =
          dy_build_op(g, op, DY_OP_DEQUANTIZE, 1, &bq, bv->type, name);
      bdq->def->loc = op->loc;
      op->operands[2] = bdq;
    }
  }
  dy_graph_remove_dead_ops(g);
  dy_graph_refresh_level(g);
  rc = 0;
fail:
  dy_ptrset_fini(&done_set);
  dy_ptrset_fini(&qin);
done:
  free(vals);
  free(params);
  return rc;
}

/* --- the pass --- */

static int run_pass(DyGraph *g, const DyPassContext *ctx) {
  return dy_quantize(g, ctx->opts, ctx->diag);
}

static void init_opts(void *o) { dy_quant_options_default(o); }

/* skip-ops names op kinds: each must exist. */
static int set_skip_ops(void *opts, const char *v, DyArena *arena, char *err,
                        size_t errn) {
  DyQuantOptions *q = opts;
  const char *const *list = dy_pass_parse_list(arena, v);
  for (int i = 0; list[i]; i++) {
    DyOpKind kind;
    if (!dy_op_from_name(list[i], strlen(list[i]), &kind)) {
      snprintf(err, errn, "skip-ops: unknown op '%s'", list[i]);
      return 1;
    }
  }
  q->skip_ops = list;
  return 0;
}

static const char *const granularities[] = {"per-tensor", "per-channel",
                                            "per-group", NULL};
static const char *const weight_roundings[] = {"half-even", "half-away",
                                               "stochastic", NULL};
static const char *const act_modes[] = {"static", "dynamic", NULL};
static const char *const act_bits[] = {"8", "16", NULL};

#define F(field) DY_OPT_FIELD(DyQuantOptions, field)
static const DyPassOption options[] = {
    {"weight-bits", DY_OPT_INT, F(weights.bits), 2, 8, .must = "2 to 8",
     .help = "weight bits"},
    {"act-bits", DY_OPT_INT, F(acts.bits), 8, 16, .choices = act_bits,
     .must = "8 or 16", .help = "activation bits (16: symmetric)"},
    {"weight-signed", DY_OPT_BOOL, F(weights.is_signed),
     .help = "signed weight storage (iN, else uN)"},
    {"act-signed", DY_OPT_BOOL, F(acts.is_signed),
     .help = "signed activation storage"},
    {"weight-symmetric", DY_OPT_BOOL, F(weights.symmetric),
     .help = "weights with a fixed zero point"},
    {"act-symmetric", DY_OPT_BOOL, F(acts.symmetric),
     .help = "activations with a fixed zero point"},
    {"weight-narrow", DY_OPT_BOOL, F(weights.narrow),
     .help = "drop the lowest weight value ([-127, 127] for i8)"},
    {"act-narrow", DY_OPT_BOOL, F(acts.narrow),
     .help = "drop the lowest activation value"},
    {"granularity", DY_OPT_ENUM, F(granularity), .choices = granularities,
     .must = "per-tensor, per-channel or per-group",
     .help = "one weight scale per tensor, output channel or group"},
    {"group-size", DY_OPT_INT, F(group_size), 1, 1 << 20,
     .must = "a positive integer", .help = "per-group: the group size"},
    {"weight-rounding", DY_OPT_ENUM, F(rounding), .choices = weight_roundings,
     .must = "half-even, half-away or stochastic",
     .help = "how weights are rounded"},
    {"seed", DY_OPT_INT, F(seed), 0, 0x7fffffff,
     .must = "a non-negative integer", .help = "stochastic rounding's seed"},
    {"activations", DY_OPT_ENUM, F(dynamic), .choices = act_modes,
     .must = "static or dynamic",
     .help = "calibrated ranges, or quantized at run time"},
    {"integer-io", DY_OPT_BOOL, F(integer_io),
     .help = "integer graph inputs and outputs instead of f32"},
    {"skip", DY_OPT_LIST, F(skip_names),
     .help = "layers kept float, by result name"},
    {"skip-ops", DY_OPT_LIST, F(skip_ops), .set = set_skip_ops,
     .help = "op kinds kept float, e.g. softmax:sigmoid"},
    {0}};
#undef F

const DyPassDef dy_pass_quantize = {
    "rewrite a calibrated graph into QDQ form (scheme options)", run_pass,
    sizeof(DyQuantOptions), init_opts, options};
