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
 * Islands that do not match stay float and are reported as notes.
 *
 * The forms are built in fold_scales_forms.c. This file holds the requant
 * builders they share (declared in fold_scales_internal.h with the
 * matchers), the preparation (float requants made dyadic, layout ops on
 * quantized weights moved onto the constants), dynamic quantization, the
 * driver and the pass's options. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dyad/pass.h"
#include "dyad/quant.h"
#include "fold_scales_internal.h"

void dy_fold_options_default(DyFoldOptions *o) {
  memset(o, 0, sizeof *o);
  o->rounding = DY_ROUND_TFLITE_DOUBLE;
}

/* --- builders shared with the forms --- */

/* requant x -> type `to`, one real multiplier per channel of `axis` (n of
 * them), with zero points and an optional clamp (lo > hi: none). */
DyValue *dy_fold_build_requant(Fold *f, DyOp *before, DyValue *x,
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

/* (x - izp) * 2^k exactly, as i32: multiplier 2^30, shift k+1. */
DyValue *dy_fold_build_shift(Fold *f, DyOp *before, DyValue *x, int64_t izp,
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

/* --- float requants --- */

/* A float requant (ONNX's QLinear ops import as these) becomes dyadic. */
static void dyadic_requant(Fold *f, DyOp *op) {
  DyRequantParams p;
  if (dy_requant_get(op, &p, f->d)) {
    f->failed = 1;
    return;
  }
  if (!p.is_float)
    return;
  DyValue *y = dy_fold_build_requant(
      f, op, op->operands[0], &op->results[0]->type, p.n, p.scale, p.axis,
      p.input_zp, p.output_zp, p.clamp[0], p.clamp[1], op->results[0]->name,
      op->loc);
  DyValue *old = op->results[0];
  dy_value_replace_all_uses(f->g, old, y);
  dy_graph_release_name(f->g, y->name);
  y->name = old->name;
  old->name = "";
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
  DyValue *zc = dy_fold_build_shift(
      f, core, z, 0, 0, vname(nb, sizeof nb, base, "_z"), core->loc);
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
    f.noted = 0;
    DyValue *y = dy_fold_island(&f, core, act, qop);
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
  if (!f.failed)
    dy_graph_refresh_level(g);
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
