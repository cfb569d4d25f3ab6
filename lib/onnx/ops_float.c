/* ONNX float operators into IR ops: Conv, pooling, the unary and binary
 * elementwise ops, Softmax, BatchNormalization, Gemm and MatMul. */
#include <math.h>
#include <string.h>

#include "dyad/shape.h"
#include "import_internal.h"

/* Output size of a convolution along one axis (floor mode); fails when the
 * kernel is empty or larger than the padded input, or the sizes overflow.
 * Strides and dilations are >= 1, pads >= 0. */
/* Output length of a window axis (lib/shape.c), or the node's error. */
int64_t dy_onnx_conv_out(Imp *m, int64_t in, int64_t k, int64_t s, int64_t dl,
                         int64_t pb, int64_t pe) {
  int64_t out = 0;
  if (k < 1)
    dy_onnx_invalid(m, "the kernel has an empty dimension");
  switch (dy_window_out(in, k, s, dl, pb, pe, 0, &out)) {
  case DY_WINDOW_OVERFLOW:
    dy_onnx_invalid(m, "the dilated kernel or the padding is too large");
    break;
  case DY_WINDOW_EMPTY:
    dy_onnx_invalid(m, "the kernel is larger than the padded input");
    break;
  case DY_WINDOW_OK:
    break;
  }
  return out;
}

/* Pads for a window op from pads / auto_pad: out[0..4) = top, left, bottom,
 * right. */
void dy_onnx_window_pads(Imp *m, const Val *x, const int64_t *k,
                         const int64_t *s, const int64_t *dl, int64_t *out) {
  char ap[32] = "NOTSET";
  dy_onnx_attr_s(m, "auto_pad", ap, sizeof ap);
  int64_t p[4] = {0, 0, 0, 0};
  int np = dy_onnx_attr_ints(m, "pads", p, 4);
  if (np >= 0 && np != 4)
    dy_onnx_invalid(m, "pads must have 4 values for a 2-D window, got %d", np);
  if (strcmp(ap, "NOTSET") == 0) {
  } else if (strcmp(ap, "VALID") == 0) {
    memset(p, 0, sizeof p);
  } else if (strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0) {
    for (int i = 0; i < 2; i++) {
      int64_t in_ = x->dims[2 + i];
      int64_t outsz = in_ / s[i] + (in_ % s[i] != 0), kd, total;
      if (__builtin_mul_overflow(k[i] - 1, dl[i], &kd) ||
          __builtin_add_overflow((outsz - 1) * s[i] + 1 - in_, kd, &total))
        dy_onnx_invalid(m, "the dilated window is too large");
      if (total < 0)
        total = 0;
      int64_t small = total / 2, big = total - small;
      p[i] = ap[5] == 'U' ? small : big;
      p[2 + i] = ap[5] == 'U' ? big : small;
    }
  } else {
    dy_onnx_unsupported(m, "auto_pad '%s'", ap);
  }
  for (int i = 0; i < 4; i++)
    if (p[i] < 0)
      dy_onnx_unsupported(m, "negative pads");
  memcpy(out, p, sizeof p);
}

void dy_onnx_ints2(Imp *m, const char *name, int64_t *out, int64_t dflt) {
  out[0] = out[1] = dflt;
  int n = dy_onnx_attr_ints(m, name, out, 2);
  if (n >= 0 && n != 2)
    dy_onnx_unsupported(m, "'%s' must have 2 values (2-D only), got %d", name,
                        n);
  for (int i = 0; i < 2; i++) /* strides, dilations: divisors below */
    if (out[i] < 1)
      dy_onnx_invalid(m, "'%s' must be positive, got %lld", name,
                      (long long)out[i]);
}

/* Fails unless weights w (OIHW), group g and bias b (may be NULL) fit x. */
void dy_onnx_check_conv_shapes(Imp *m, const Val *x, const Val *w, int64_t g,
                               const Val *b) {
  int64_t c = x->dims[1];
  if (g < 1 || g > c || c % g || c / g != w->dims[1] || w->dims[0] % g)
    dy_onnx_invalid(
        m,
        "weights of shape [%lld, %lld, %lld, %lld] and group %lld do not "
        "fit an input of %lld channels",
        (long long)w->dims[0], (long long)w->dims[1], (long long)w->dims[2],
        (long long)w->dims[3], (long long)g, (long long)c);
  if (b && (b->rank != 1 || b->dims[0] != w->dims[0]))
    dy_onnx_invalid(m, "the bias must be a vector of %lld values",
                    (long long)w->dims[0]);
}

/* Sets a conv2d's strides, dilations, pads and groups, leaving out the
 * defaults (1, 1, 0, 1) so the text stays short. */
void dy_onnx_set_window_attrs(Imp *m, DyOp *op, const int64_t *s,
                              const int64_t *dl, const int64_t *p, int64_t g) {
  if (s[0] != 1 || s[1] != 1)
    dy_op_set_ints(m->g, op, "strides", 2, s);
  if (dl[0] != 1 || dl[1] != 1)
    dy_op_set_ints(m->g, op, "dilations", 2, dl);
  if (p[0] || p[1] || p[2] || p[3])
    dy_op_set_ints(m->g, op, "pads", 4, p);
  if (g != 1)
    dy_op_set_int(m->g, op, "groups", g);
}

void imp_conv(Imp *m) {
  static const char *const ok[] = {
      "auto_pad", "dilations", "group", "kernel_shape",
      "pads",     "strides",   NULL};
  dy_onnx_check_attrs(m, ok);
  Val *x = dy_onnx_req(m, 0), *w = dy_onnx_req(m, 1), *b = dy_onnx_in(m, 2);
  if (x->rank != 4 || w->rank != 4)
    dy_onnx_unsupported(m, "only 2-D convolution (rank-4 input and weights)");
  if (x->dtype != T_FLOAT || w->dtype != T_FLOAT)
    dy_onnx_unsupported(m, "Conv on %s data", dy_onnx_dtype_name(x->dtype));
  int64_t s[2], dl[2], p[4];
  dy_onnx_ints2(m, "strides", s, 1);
  dy_onnx_ints2(m, "dilations", dl, 1);
  int64_t g = dy_onnx_attr_i(m, "group", 1);
  dy_onnx_check_conv_shapes(m, x, w, g, b);
  if (b && b->dtype != T_FLOAT)
    dy_onnx_unsupported(m, "Conv with a bias of %s data",
                        dy_onnx_dtype_name(b->dtype));
  int64_t k[2] = {w->dims[2], w->dims[3]};
  int64_t ks[2];
  if (dy_onnx_attr_ints(m, "kernel_shape", ks, 2) == 2 &&
      (ks[0] != k[0] || ks[1] != k[1]))
    dy_onnx_invalid(m, "kernel_shape does not match the weights");
  dy_onnx_window_pads(m, x, k, s, dl, p);
  /* weights OIHW -> OHWI */
  DyValue *ops[3] = {dy_onnx_nhwc(m, x), NULL, NULL};
  if (w->k) {
    int64_t wd[4] = {w->dims[0], w->dims[2], w->dims[3], w->dims[1]};
    void *wt = dy_onnx_nchw_to_nhwc(m, w->k); /* OIHW -> OHWI */
    DyType wtype = dy_type_make(DY_F32, 4, wd);
    ops[1] = dy_build_const(m->g, NULL, dy_onnx_ir_name(m, w->name), wtype, wt,
                            DY_FORM_HEX);
  } else {
    static const int64_t to_ohwi[4] = {0, 2, 3, 1};
    ops[1] = dy_onnx_transpose(m, dy_onnx_logical(m, w), to_ohwi,
                               dy_onnx_ir_name(m, w->name));
  }
  if (b)
    ops[2] = dy_onnx_logical(m, b);
  int64_t od[4] = {x->dims[0], w->dims[0], 0, 0};
  for (int i = 0; i < 2; i++)
    od[2 + i] =
        dy_onnx_conv_out(m, x->dims[2 + i], k[i], s[i], dl[i], p[i], p[2 + i]);
  Val tmp = {.dtype = T_FLOAT, .rank = 4};
  memcpy(tmp.dims, od, sizeof od);
  DyValue *y = dy_build_op(m->g, NULL, DY_OP_CONV2D, b ? 3 : 2, ops,
                           dy_onnx_ir_type(m, &tmp, 1),
                           dy_onnx_ir_name(m, m->node->output[0]));
  dy_onnx_set_window_attrs(m, y->def, s, dl, p, g);
  dy_onnx_def(m, 0, y, 1, T_FLOAT, 4, od);
}

void imp_pool(Imp *m) {
  int is_max = strcmp(m->node->op_type, "MaxPool") == 0;
  static const char *const okmax[] = {"auto_pad",      "ceil_mode", "dilations",
                                      "kernel_shape",  "pads",      "strides",
                                      "storage_order", NULL};
  static const char *const okavg[] = {
      "auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads",
      "strides",  NULL};
  dy_onnx_check_attrs(m, is_max ? okmax : okavg);
  Val *x = dy_onnx_req(m, 0);
  if (x->rank != 4 || x->dtype != T_FLOAT)
    dy_onnx_unsupported(m, "only 2-D pooling of float data");
  if (m->node->n_output > 1 && m->node->output[1][0])
    dy_onnx_unsupported(m, "the Indices output is not supported");
  if (dy_onnx_attr_i(m, "storage_order", 0) != 0)
    dy_onnx_unsupported(m, "storage_order 1");
  int64_t k[2], s[2], dl[2], p[4];
  if (dy_onnx_attr_ints(m, "kernel_shape", k, 2) != 2)
    dy_onnx_unsupported(m, "kernel_shape must have 2 values (2-D only)");
  if (k[0] < 1 || k[1] < 1)
    dy_onnx_invalid(m, "kernel_shape must be positive");
  dy_onnx_ints2(m, "strides", s, 1);
  dy_onnx_ints2(m, "dilations", dl, 1);
  dy_onnx_window_pads(m, x, k, s, dl, p);
  int64_t ceil_mode = dy_onnx_attr_i(m, "ceil_mode", 0);
  int64_t cip = dy_onnx_attr_i(m, "count_include_pad", 0);
  DyValue *xv = dy_onnx_nhwc(m, x);
  /* the output shape comes from the IR's own inference */
  DyValue *y =
      dy_onnx_op1(m, is_max ? DY_OP_MAXPOOL : DY_OP_AVGPOOL, xv, xv->type);
  dy_op_set_ints(m->g, y->def, "kernel", 2, k);
  if (s[0] != 1 || s[1] != 1)
    dy_op_set_ints(m->g, y->def, "strides", 2, s);
  if (p[0] || p[1] || p[2] || p[3])
    dy_op_set_ints(m->g, y->def, "pads", 4, p);
  if (dl[0] != 1 || dl[1] != 1)
    dy_op_set_ints(m->g, y->def, "dilations", 2, dl);
  if (ceil_mode)
    dy_op_set_int(m->g, y->def, "ceil_mode", 1);
  if (cip)
    dy_op_set_int(m->g, y->def, "count_include_pad", 1);
  DyType t;
  dy_onnx_infer(m, y->def, &t);
  y->type = t;
  int64_t od[4] = {t.dims[0], t.dims[3], t.dims[1], t.dims[2]};
  dy_onnx_def(m, 0, y, 1, T_FLOAT, 4, od);
}

void imp_global_avgpool(Imp *m) {
  static const char *const ok[] = {NULL};
  dy_onnx_check_attrs(m, ok);
  Val *x = dy_onnx_req(m, 0);
  if (x->rank != 4 || x->dtype != T_FLOAT)
    dy_onnx_unsupported(m, "only rank-4 float input");
  DyValue *xv = dy_onnx_nhwc(m, x);
  DyType t = xv->type;
  t.dims[1] = t.dims[2] = 1;
  DyValue *y = dy_onnx_op1(m, DY_OP_GLOBAL_AVGPOOL, xv, t);
  int64_t od[4] = {x->dims[0], x->dims[1], 1, 1};
  dy_onnx_def(m, 0, y, 1, T_FLOAT, 4, od);
}

/* Unary elementwise: keeps the input's layout. */
void imp_unary(Imp *m) {
  const char *op = m->node->op_type;
  static const char *const none[] = {NULL};
  static const char *const clip_attrs[] = {"min", "max", NULL};
  static const char *const hs_attrs[] = {"alpha", "beta", NULL};
  Val *x = dy_onnx_req(m, 0);
  if (x->dtype != T_FLOAT)
    dy_onnx_unsupported(m, "%s on %s data", op, dy_onnx_dtype_name(x->dtype));
  DyValue *xv = x->v && x->nhwc ? x->v : dy_onnx_logical(m, x);
  int lay = x->v == xv && x->nhwc;
  DyValue *y;
  if (strcmp(op, "Relu") == 0) {
    dy_onnx_check_attrs(m, none);
    y = dy_onnx_op1(m, DY_OP_RELU, xv, xv->type);
  } else if (strcmp(op, "Sigmoid") == 0) {
    dy_onnx_check_attrs(m, none);
    y = dy_onnx_op1(m, DY_OP_SIGMOID, xv, xv->type);
  } else if (strcmp(op, "Tanh") == 0) {
    dy_onnx_check_attrs(m, none);
    y = dy_onnx_op1(m, DY_OP_TANH, xv, xv->type);
  } else if (strcmp(op, "HardSwish") == 0) {
    dy_onnx_check_attrs(m, none);
    y = dy_onnx_op1(m, DY_OP_HARDSWISH, xv, xv->type);
  } else if (strcmp(op, "Clip") == 0) {
    dy_onnx_check_attrs(m, clip_attrs);
    double lo = -INFINITY, hi = INFINITY;
    if (m->opset < 11) {
      lo = dy_onnx_attr_f(m, "min", -INFINITY);
      hi = dy_onnx_attr_f(m, "max", INFINITY);
    } else {
      if (dy_onnx_in(m, 1)) {
        Host *h = dy_onnx_const_in(m, 1, "min");
        if (dy_onnx_host_numel(h) != 1)
          dy_onnx_invalid(m, "min must be a scalar");
        lo = dy_onnx_host_f(h, 0);
      }
      if (dy_onnx_in(m, 2)) {
        Host *h = dy_onnx_const_in(m, 2, "max");
        if (dy_onnx_host_numel(h) != 1)
          dy_onnx_invalid(m, "max must be a scalar");
        hi = dy_onnx_host_f(h, 0);
      }
    }
    if (isnan(lo) || isnan(hi))
      dy_onnx_unsupported(m, "a NaN min or max");
    if (lo > hi)
      dy_onnx_unsupported(m, "min greater than max");
    y = dy_onnx_op1(m, DY_OP_CLIP, xv, xv->type);
    if (lo != -INFINITY)
      dy_op_set_float(m->g, y->def, "min", lo);
    if (hi != INFINITY)
      dy_op_set_float(m->g, y->def, "max", hi);
  } else { /* HardSigmoid: clip(alpha * x + beta, 0, 1) */
    dy_onnx_check_attrs(m, hs_attrs);
    float alpha = dy_onnx_attr_f(m, "alpha", 0.2f),
          beta = dy_onnx_attr_f(m, "beta", 0.5f);
    const char *base = dy_onnx_ir_name(m, m->node->output[0]);
    DyValue *a = dy_onnx_f32_const(m, "alpha", 0, NULL, &alpha);
    DyValue *b = dy_onnx_f32_const(m, "beta", 0, NULL, &beta);
    DyValue *ops[2] = {xv, a};
    DyValue *t1 = dy_build_op(m->g, NULL, DY_OP_MUL, 2, ops, xv->type, base);
    ops[0] = t1;
    ops[1] = b;
    DyValue *t2 = dy_build_op(m->g, NULL, DY_OP_ADD, 2, ops, xv->type, base);
    y = dy_build_op(m->g, NULL, DY_OP_CLIP, 1, &t2, xv->type, base);
    dy_op_set_float(m->g, y->def, "min", 0.0);
    dy_op_set_float(m->g, y->def, "max", 1.0);
  }
  dy_onnx_def(m, 0, y, lay, x->dtype, x->rank, x->dims);
}

/* Broadcast shape of two logical shapes. */
int dy_onnx_bcast(Imp *m, const Val *a, const Val *b, int64_t *out) {
  int r = a->rank > b->rank ? a->rank : b->rank;
  for (int i = 0; i < r; i++) {
    int ia = i - (r - a->rank), ib = i - (r - b->rank);
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    if (da != db && da != 1 && db != 1)
      dy_onnx_invalid(m, "shapes of '%s' and '%s' cannot be broadcast", a->name,
                      b->name);
    out[i] = da == 1 ? db : da;
  }
  return r;
}

/* An operand of a binary op in NHWC, when the other operand is rank-4
 * NHWC: lower-rank operands are first viewed as rank 4 (leading 1s). */
static DyValue *nhwc_operand(Imp *m, Val *b) {
  if (b->rank == 4)
    return dy_onnx_nhwc(m, b);
  Val v4 = *b;
  v4.rank = 4;
  for (int i = 0; i < 4; i++)
    v4.dims[i] = i < 4 - b->rank ? 1 : b->dims[i - (4 - b->rank)];
  if (b->k) {
    Host h4 = *b->k;
    h4.rank = 4;
    memcpy(h4.dims, v4.dims, sizeof v4.dims);
    DyType t = dy_onnx_ir_type(m, &v4, 1);
    return dy_build_const(m->g, NULL, dy_onnx_ir_name(m, b->name), t,
                          dy_onnx_nchw_to_nhwc(m, &h4), DY_FORM_HEX);
  }
  DyValue *r = dy_build_op(
      m->g, NULL, DY_OP_RESHAPE, 1, (DyValue *[]){dy_onnx_logical(m, b)},
      dy_onnx_ir_type(m, &v4, 0), dy_onnx_ir_name(m, b->name));
  static const int64_t to_nhwc[4] = {0, 2, 3, 1};
  return dy_onnx_transpose(m, r, to_nhwc, dy_onnx_ir_name(m, b->name));
}

/* Add, Mul, and Sub with a constant second operand (x - c = x + (-c),
 * exact in IEEE arithmetic). */
void imp_binary(Imp *m) {
  static const char *const none[] = {NULL};
  dy_onnx_check_attrs(m, none);
  Val *a = dy_onnx_req(m, 0), *b = dy_onnx_req(m, 1);
  const char *op = m->node->op_type;
  if (a->dtype != T_FLOAT || b->dtype != T_FLOAT)
    dy_onnx_unsupported(m, "%s on %s data", op, dy_onnx_dtype_name(a->dtype));
  if (strcmp(op, "Sub") == 0) {
    if (!b->k)
      dy_onnx_unsupported(m, "Sub with a non-constant second operand");
    Host *neg = dy_onnx_new_host(m, T_FLOAT, b->k->rank, b->k->dims);
    for (int64_t i = 0; i < dy_onnx_host_numel(b->k); i++)
      ((float *)neg->data)[i] = -((const float *)b->k->data)[i];
    Val *nb = dy_arena_alloc(m->scratch, sizeof *nb);
    *nb = *b;
    nb->k = neg;
    nb->v = nb->alt = NULL;
    b = nb;
  }
  int64_t od[DY_MAX_RANK];
  int r = dy_onnx_bcast(m, a, b, od);
  int lay = (a->v && a->nhwc) || (b->v && b->nhwc);
  lay = lay && r == 4;
  DyValue *ops[2];
  if (lay) {
    ops[0] = nhwc_operand(m, a);
    ops[1] = nhwc_operand(m, b);
  } else {
    ops[0] = dy_onnx_logical(m, a);
    ops[1] = dy_onnx_logical(m, b);
  }
  Val tmp = {.dtype = T_FLOAT, .rank = r};
  memcpy(tmp.dims, od, sizeof od);
  DyValue *y = dy_build_op(
      m->g, NULL, strcmp(op, "Mul") == 0 ? DY_OP_MUL : DY_OP_ADD, 2, ops,
      dy_onnx_ir_type(m, &tmp, lay), dy_onnx_ir_name(m, m->node->output[0]));
  dy_onnx_def(m, 0, y, lay, T_FLOAT, r, od);
}

void imp_softmax(Imp *m) {
  static const char *const ok[] = {"axis", NULL};
  dy_onnx_check_attrs(m, ok);
  Val *x = dy_onnx_req(m, 0);
  if (x->dtype != T_FLOAT)
    dy_onnx_unsupported(m, "Softmax on %s data", dy_onnx_dtype_name(x->dtype));
  int axis = dy_onnx_norm_axis(
      m, dy_onnx_attr_i(m, "axis", m->opset < 13 ? 1 : -1), x->rank);
  if (m->opset < 13 && axis != x->rank - 1) {
    /* Before opset 13 the input is coerced to 2-D at axis: softmax over
     * the flattened trailing dims, done as reshape, softmax, reshape. */
    int64_t d2[2] = {1, 1};
    for (int i = 0; i < x->rank; i++)
      d2[i < axis ? 0 : 1] *= x->dims[i];
    DyValue *xv = dy_onnx_logical(m, x);
    const char *base = dy_onnx_ir_name(m, m->node->output[0]);
    DyType t2 = dy_type_make(DY_F32, 2, d2);
    DyValue *r = dy_build_op(m->g, NULL, DY_OP_RESHAPE, 1, &xv, t2, base);
    DyValue *s = dy_build_op(m->g, NULL, DY_OP_SOFTMAX, 1, &r, t2, base);
    DyValue *y = dy_build_op(m->g, NULL, DY_OP_RESHAPE, 1, &s, xv->type, base);
    dy_onnx_def(m, 0, y, 0, T_FLOAT, x->rank, x->dims);
    return;
  }
  int lay = x->v && x->nhwc;
  DyValue *xv = lay ? x->v : dy_onnx_logical(m, x);
  DyValue *y = dy_onnx_op1(m, DY_OP_SOFTMAX, xv, xv->type);
  dy_op_set_int(m->g, y->def, "axis",
                lay ? dy_onnx_nchw_to_nhwc_axis[axis] : axis);
  dy_onnx_def(m, 0, y, lay, T_FLOAT, x->rank, x->dims);
}

void imp_batchnorm(Imp *m) {
  static const char *const ok[] = {"epsilon", "momentum", "spatial",
                                   "training_mode", NULL};
  dy_onnx_check_attrs(m, ok);
  if (dy_onnx_attr_i(m, "training_mode", 0) != 0)
    dy_onnx_unsupported(m, "training_mode 1");
  if (dy_onnx_attr_i(m, "spatial", 1) != 1)
    dy_onnx_unsupported(m, "spatial 0");
  for (size_t i = 1; i < m->node->n_output; i++)
    if (m->node->output[i][0])
      dy_onnx_unsupported(m, "training outputs (running mean and variance)");
  Val *x = dy_onnx_req(m, 0);
  if (x->dtype != T_FLOAT || x->rank < 2)
    dy_onnx_unsupported(m, "BatchNormalization of rank-%d %s data", x->rank,
                        dy_onnx_dtype_name(x->dtype));
  DyValue *ops[5];
  int lay = x->rank == 4;
  if (x->rank != 4 && x->rank != 2)
    dy_onnx_unsupported(m, "BatchNormalization of rank %d (2 or 4 supported)",
                        x->rank);
  ops[0] = lay ? dy_onnx_nhwc(m, x) : dy_onnx_logical(m, x);
  for (int i = 1; i < 5; i++) {
    Val *p = dy_onnx_req(m, i);
    if (p->rank != 1 || p->dims[0] != x->dims[1] || p->dtype != T_FLOAT)
      dy_onnx_invalid(m, "parameter %d must be a float vector of %lld channels",
                      i, (long long)x->dims[1]);
    ops[i] = dy_onnx_logical(m, p);
  }
  DyValue *y = dy_build_op(m->g, NULL, DY_OP_BATCHNORM, 5, ops, ops[0]->type,
                           dy_onnx_ir_name(m, m->node->output[0]));
  float eps = dy_onnx_attr_f(m, "epsilon", 1e-5f);
  if (!(eps >= 0) || isinf(eps))
    dy_onnx_invalid(m, "epsilon must be finite and >= 0");
  dy_op_set_float(m->g, y->def, "epsilon", eps);
  dy_onnx_def(m, 0, y, lay, T_FLOAT, x->rank, x->dims);
}

void imp_gemm(Imp *m) {
  static const char *const ok[] = {"alpha", "beta", "transA", "transB", NULL};
  dy_onnx_check_attrs(m, ok);
  Val *a = dy_onnx_req(m, 0), *b = dy_onnx_req(m, 1), *c = dy_onnx_in(m, 2);
  float alpha = dy_onnx_attr_f(m, "alpha", 1.0f),
        beta = dy_onnx_attr_f(m, "beta", 1.0f);
  int ta = (int)dy_onnx_attr_i(m, "transA", 0),
      tb = (int)dy_onnx_attr_i(m, "transB", 0);
  if (a->rank != 2 || b->rank != 2 || a->dtype != T_FLOAT ||
      b->dtype != T_FLOAT)
    dy_onnx_unsupported(m, "Gemm of non-2-D or non-float operands");
  int64_t M = ta ? a->dims[1] : a->dims[0], K = ta ? a->dims[0] : a->dims[1];
  int64_t KB = tb ? b->dims[1] : b->dims[0], N = tb ? b->dims[0] : b->dims[1];
  if (K != KB)
    dy_onnx_invalid(m, "inner dimensions differ (%lld and %lld)", (long long)K,
                    (long long)KB);
  const char *base = dy_onnx_ir_name(m, m->node->output[0]);
  DyValue *av = dy_onnx_logical(m, a);
  if (ta) {
    static const int64_t swap[2] = {1, 0};
    av = dy_onnx_transpose(m, av, swap, base);
  }
  /* B as KxN, times alpha (exact only when alpha is 1: otherwise scaling the
   * weights rounds differently from scaling the product, so use a mul). */
  int64_t kn[2] = {K, N};
  DyValue *bv;
  if (b->k && !b->v) {
    float *w = dy_onnx_take_budget(m, (size_t)(K * N) * 4, "B");
    const float *src = b->k->data;
    for (int64_t i = 0; N && i < K; i++)
      for (int64_t j = 0; j < N; j++)
        w[i * N + j] = tb ? src[j * K + i] : src[i * N + j];
    bv = dy_build_const(m->g, NULL, dy_onnx_ir_name(m, b->name),
                        dy_type_make(DY_F32, 2, kn), w, DY_FORM_HEX);
  } else {
    static const int64_t swap[2] = {1, 0};
    bv = dy_onnx_logical(m, b); /* e.g. weights from a DequantizeLinear */
    if (tb)
      bv = dy_onnx_transpose(m, bv, swap, dy_onnx_ir_name(m, b->name));
  }
  DyValue *ops[3] = {av, bv, NULL};
  int64_t mn[2] = {M, N};
  DyType t = dy_type_make(DY_F32, 2, mn);
  int nops = 2;
  if (c && alpha == 1.0f && beta == 1.0f && c->dtype == T_FLOAT &&
      c->rank == 1 && c->dims[0] == N) {
    ops[2] = dy_onnx_logical(m, c);
    nops = 3;
  } else if (c && alpha == 1.0f && beta == 1.0f && c->k && !c->v &&
             c->dtype == T_FLOAT && c->rank == 2 && c->dims[0] == 1 &&
             c->dims[1] == N) {
    ops[2] =
        dy_onnx_f32_const(m, dy_onnx_ir_name(m, c->name), 1, &N, c->k->data);
    nops = 3;
  }
  DyValue *y = dy_build_op(m->g, NULL, DY_OP_MATMUL, nops, ops, t, base);
  if (alpha != 1.0f) {
    DyValue *mo[2] = {y, dy_onnx_f32_const(m, "alpha", 0, NULL, &alpha)};
    y = dy_build_op(m->g, NULL, DY_OP_MUL, 2, mo, t, base);
  }
  if (c && nops == 2) {
    if (c->dtype != T_FLOAT)
      dy_onnx_unsupported(m, "C of %s data", dy_onnx_dtype_name(c->dtype));
    Val mv = {.name = "y", .dtype = T_FLOAT, .rank = 2, .dims = {M, N}};
    int64_t od[DY_MAX_RANK];
    if (dy_onnx_bcast(m, &mv, c, od) != 2 || od[0] != M || od[1] != N)
      dy_onnx_invalid(m, "C does not broadcast to %lldx%lld", (long long)M,
                      (long long)N);
    DyValue *cv = dy_onnx_logical(m, c);
    if (beta != 1.0f) {
      DyValue *bo[2] = {cv, dy_onnx_f32_const(m, "beta", 0, NULL, &beta)};
      cv = dy_build_op(m->g, NULL, DY_OP_MUL, 2, bo, cv->type, base);
    }
    DyValue *ao[2] = {y, cv};
    y = dy_build_op(m->g, NULL, DY_OP_ADD, 2, ao, t, base);
  }
  dy_onnx_def(m, 0, y, 0, T_FLOAT, 2, mn);
}

void imp_matmul(Imp *m) {
  static const char *const none[] = {NULL};
  dy_onnx_check_attrs(m, none);
  Val *a = dy_onnx_req(m, 0), *b = dy_onnx_req(m, 1);
  if (a->dtype != T_FLOAT || b->dtype != T_FLOAT)
    dy_onnx_unsupported(m, "MatMul of %s data", dy_onnx_dtype_name(a->dtype));
  int br = b->rank;
  if (br < 2 || a->rank < 1 || (br > 2 && br != a->rank))
    dy_onnx_unsupported(m,
                        "MatMul of ranks %d and %d (B must be 2-D, or batched "
                        "with A's rank)",
                        a->rank, br);
  for (int i = 0; br > 2 && i < br - 2; i++)
    if (a->dims[i] != b->dims[i])
      dy_onnx_unsupported(m, "MatMul with broadcast batch dimensions");
  if (a->dims[a->rank - 1] != b->dims[br - 2])
    dy_onnx_invalid(m, "inner dimensions differ");
  DyValue *ops[2] = {dy_onnx_logical(m, a), dy_onnx_logical(m, b)};
  int64_t od[DY_MAX_RANK];
  memcpy(od, a->dims, sizeof od);
  od[a->rank - 1] = b->dims[br - 1];
  DyType t = dy_type_make(DY_F32, a->rank, od);
  DyValue *y = dy_build_op(m->g, NULL, DY_OP_MATMUL, 2, ops, t,
                           dy_onnx_ir_name(m, m->node->output[0]));
  dy_onnx_def(m, 0, y, 0, T_FLOAT, a->rank, od);
}
