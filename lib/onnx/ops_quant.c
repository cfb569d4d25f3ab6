/* ONNX quantized operators into IR ops: QuantizeLinear, DequantizeLinear,
 * QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger and
 * DynamicQuantizeLinear. */
#include <math.h>
#include <string.h>

#include "import_internal.h"

/* --- quantization --- */

/* Builds a quant type for x from scale and zero-point constants. */
static const DyQuant *quant_of(Imp *m, const Val *x, int is_nhwc, Host *scale,
                               Host *zp, int64_t axis, DyElemType storage) {
  DyQuant q;
  memset(&q, 0, sizeof q);
  q.storage = storage;
  dy_elem_range(storage, &q.qmin, &q.qmax);
  int64_t n = dy_onnx_host_numel(scale);
  if (zp && dy_onnx_host_numel(zp) != n)
    dy_onnx_invalid(m, "scale and zero point differ in size");
  if (scale->dtype != T_FLOAT)
    dy_onnx_unsupported(m, "scale of type %s",
                        dy_onnx_dtype_name(scale->dtype));
  if (scale->rank == 0 || (scale->rank == 1 && n == 1 && x->rank == 0)) {
    q.kind = DY_QUANT_PER_TENSOR;
  } else if (scale->rank == 1) {
    int a = dy_onnx_norm_axis(m, axis, x->rank);
    if (n != x->dims[a])
      dy_onnx_invalid(m, "%lld scales for %lld channels on axis %d",
                      (long long)n, (long long)x->dims[a], a);
    q.kind = DY_QUANT_PER_AXIS;
    q.axis = is_nhwc ? dy_onnx_nchw_to_nhwc_axis[a] : a;
  } else {
    dy_onnx_unsupported(m, "blocked quantization parameters");
  }
  if (n == 1 && scale->rank == 1)
    q.kind = DY_QUANT_PER_TENSOR;
  double *s = dy_arena_alloc(m->g->arena, (size_t)n * sizeof *s);
  int64_t *z = dy_arena_alloc(m->g->arena, (size_t)n * sizeof *z);
  for (int64_t i = 0; i < n; i++) {
    s[i] = dy_onnx_host_f(scale, i);
    z[i] = zp ? dy_onnx_host_int(zp, i) : 0;
    if (!(s[i] > 0) || isinf(s[i]))
      dy_onnx_unsupported(m, "scale %g (must be positive and finite)", s[i]);
    if (z[i] < q.qmin || z[i] > q.qmax)
      dy_onnx_invalid(m, "zero point %lld out of range", (long long)z[i]);
  }
  q.nparams = n;
  q.scales = s;
  q.zero_points = z;
  return dy_quant_create(m->g, &q);
}

static DyElemType storage_of(Imp *m, const Host *zp) {
  if (!zp)
    return DY_U8; /* ONNX's default */
  if (zp->dtype == T_UINT8)
    return DY_U8;
  if (zp->dtype == T_INT8)
    return DY_I8;
  dy_onnx_unsupported(m, "zero point of type %s",
                      dy_onnx_dtype_name(zp->dtype));
}

void imp_quantize(Imp *m) {
  static const char *const ok[] = {"axis", "saturate", NULL};
  dy_onnx_check_attrs(m, ok);
  Val *x = dy_onnx_req(m, 0);
  Host *scale = dy_onnx_const_in(m, 1, "y_scale");
  Host *zp = dy_onnx_in(m, 2) ? dy_onnx_const_in(m, 2, "y_zero_point") : NULL;
  if (x->dtype != T_FLOAT)
    dy_onnx_unsupported(m, "QuantizeLinear of %s data",
                        dy_onnx_dtype_name(x->dtype));
  int lay = x->v && x->nhwc;
  DyValue *xv = lay ? x->v : dy_onnx_logical(m, x);
  DyType t = xv->type;
  t.elem = storage_of(m, zp);
  t.quant =
      quant_of(m, x, lay, scale, zp, dy_onnx_attr_i(m, "axis", 1), t.elem);
  DyValue *y = dy_onnx_op1(m, DY_OP_QUANTIZE, xv, t);
  dy_onnx_def(m, 0, y, lay, zp ? zp->dtype : T_UINT8, x->rank, x->dims);
}

void imp_dequantize(Imp *m) {
  static const char *const ok[] = {"axis", NULL};
  dy_onnx_check_attrs(m, ok);
  Val *x = dy_onnx_req(m, 0);
  Host *scale = dy_onnx_const_in(m, 1, "x_scale");
  Host *zp = dy_onnx_in(m, 2) ? dy_onnx_const_in(m, 2, "x_zero_point") : NULL;
  if (x->dtype != T_UINT8 && x->dtype != T_INT8 && x->dtype != T_INT32)
    dy_onnx_unsupported(m, "DequantizeLinear of %s data",
                        dy_onnx_dtype_name(x->dtype));
  if (zp && zp->dtype != x->dtype)
    dy_onnx_invalid(m, "zero point type differs from the input's");
  DyElemType st = DY_I8;
  dy_onnx_elem_of(m, x->dtype, &st);
  int lay = x->v && x->nhwc;
  const DyQuant *q =
      quant_of(m, x, lay, scale, zp, dy_onnx_attr_i(m, "axis", 1), st);
  DyValue *xv;
  if (!x->v && x->k) {
    /* a quantized constant (weights): its type carries the parameters */
    DyType t = dy_onnx_ir_type(m, x, 0);
    t.quant = q;
    xv = dy_build_const(m->g, NULL, dy_onnx_ir_name(m, x->name), t, x->k->data,
                        DY_FORM_HEX);
  } else {
    xv = lay ? x->v : dy_onnx_logical(m, x);
    if (!xv->type.quant) {
      if (xv->def)
        dy_onnx_unsupported(
            m, "DequantizeLinear of a value that is not quantized");
      xv->type.quant = q; /* a graph input: it takes these parameters */
    } else if (!dy_quant_equal(xv->type.quant, q)) {
      dy_onnx_unsupported(m,
                          "DequantizeLinear parameters differ from those of "
                          "the QuantizeLinear that made '%s'",
                          x->name);
    }
  }
  DyType t = xv->type;
  t.elem = DY_F32;
  t.quant = NULL;
  DyValue *y = dy_onnx_op1(m, DY_OP_DEQUANTIZE, xv, t);
  dy_onnx_def(m, 0, y, lay, T_FLOAT, x->rank, x->dims);
}

/* --- integer and QLinear ops --- */

/* Quantization parameters from optional scale and zero point hosts: scale
 * NULL means 1 (a zero point alone, as in MatMulInteger); a vector applies
 * along `axis` of the IR value (in its IR layout). */
static const DyQuant *zq(Imp *m, Host *scale, Host *zp, DyElemType storage,
                         int axis, int64_t channels, const char *what) {
  int64_t ns = scale ? dy_onnx_host_numel(scale) : 1,
          nz = zp ? dy_onnx_host_numel(zp) : 1;
  int64_t n = ns > nz ? ns : nz;
  if ((ns != 1 && ns != n) || (nz != 1 && nz != n) || (n != 1 && n != channels))
    dy_onnx_unsupported(m, "%s: %lld quantization parameters for %lld channels",
                        what, (long long)n, (long long)channels);
  if (scale && scale->dtype != T_FLOAT)
    dy_onnx_invalid(m, "%s: scale must be float", what);
  DyQuant q;
  memset(&q, 0, sizeof q);
  q.kind = n == 1 ? DY_QUANT_PER_TENSOR : DY_QUANT_PER_AXIS;
  q.axis = axis;
  q.storage = storage;
  dy_elem_range(storage, &q.qmin, &q.qmax);
  double *sv = dy_arena_alloc(m->g->arena, (size_t)n * sizeof *sv);
  int64_t *zv = dy_arena_alloc(m->g->arena, (size_t)n * sizeof *zv);
  for (int64_t i = 0; i < n; i++) {
    sv[i] = scale ? dy_onnx_host_f(scale, ns == 1 ? 0 : i) : 1.0;
    zv[i] = zp ? dy_onnx_host_int(zp, nz == 1 ? 0 : i) : 0;
    if (!(sv[i] > 0) || isinf(sv[i]))
      dy_onnx_unsupported(m, "%s: scale %g (must be positive and finite)", what,
                          sv[i]);
    if (zv[i] < q.qmin || zv[i] > q.qmax)
      dy_onnx_invalid(m, "%s: zero point %lld out of range", what,
                      (long long)zv[i]);
  }
  q.nparams = n;
  q.scales = sv;
  q.zero_points = zv;
  return dy_quant_create(m->g, &q);
}

/* Gives an IR value the quant type q: a graph input (possibly behind the
 * layout transpose) takes it; a value that already has it is kept. */
static DyValue *with_quant(Imp *m, DyValue *v, const DyQuant *q,
                           const char *what) {
  if (v->type.quant && dy_quant_equal(v->type.quant, q))
    return v;
  int trivial = q->kind == DY_QUANT_PER_TENSOR && q->zero_points[0] == 0 &&
                q->scales[0] == 1.0;
  if (!v->type.quant && trivial)
    return v; /* plain integers: zero point 0 */
  if (v->type.quant)
    dy_onnx_unsupported(m,
                        "%s: quantization parameters differ from those of the "
                        "QuantizeLinear that made '%s'",
                        what, v->name);
  DyValue *in = v;
  if (v->def && v->def->kind == DY_OP_TRANSPOSE && !v->def->operands[0]->def)
    in = v->def->operands[0];
  if (in->def)
    dy_onnx_unsupported(m, "%s: '%s' has no zero point known at compile time",
                        what, v->name);
  if (q->kind == DY_QUANT_PER_AXIS)
    dy_onnx_unsupported(m, "%s: per-axis parameters on an input", what);
  in->type.quant = q;
  v->type.quant = q;
  return v;
}

static DyElemType int_elem(Imp *m, const Val *x, const char *what) {
  if (x->dtype == T_UINT8)
    return DY_U8;
  if (x->dtype == T_INT8)
    return DY_I8;
  dy_onnx_unsupported(m, "%s of type %s", what, dy_onnx_dtype_name(x->dtype));
}

static Host *opt_const(Imp *m, int i, const char *what) {
  return dy_onnx_in(m, i) ? dy_onnx_const_in(m, i, what) : NULL;
}

/* The weights of an integer conv as an OHWI IR value with quant q (built
 * along axis 0 of OIHW = axis 0 of OHWI). */
static DyValue *int_conv_weights(Imp *m, Val *w, Host *scale, Host *zp,
                                 DyElemType st) {
  const DyQuant *q = zq(m, scale, zp, st, 0, w->dims[0], "weights");
  Host *wk = w->v ? NULL : w->k ? w->k : w->given;
  if (!wk)
    dy_onnx_unsupported(m, "integer convolution with non-constant weights");
  int64_t wd[4] = {w->dims[0], w->dims[2], w->dims[3], w->dims[1]};
  DyType t = dy_type_make(st, 4, wd);
  t.quant = q;
  return dy_build_const(m->g, NULL, dy_onnx_ir_name(m, w->name), t,
                        dy_onnx_nchw_to_nhwc(m, wk) /* OIHW -> OHWI */,
                        DY_FORM_HEX);
}

/* Builds an integer conv2d from the node's Conv attributes; x already in
 * NHWC with its quant type, weights OHWI. Returns the i32 accumulator. */
static DyValue *int_conv(Imp *m, Val *x, Val *w, DyValue *xv, DyValue *wv,
                         DyValue *bias, int64_t *od, const char *name) {
  static const char *const ok[] = {
      "auto_pad", "dilations", "group", "kernel_shape",
      "pads",     "strides",   NULL};
  dy_onnx_check_attrs(m, ok);
  if (x->rank != 4 || w->rank != 4)
    dy_onnx_unsupported(m, "only 2-D convolution");
  int64_t s[2], dl[2], p[4], k[2] = {w->dims[2], w->dims[3]};
  dy_onnx_ints2(m, "strides", s, 1);
  dy_onnx_ints2(m, "dilations", dl, 1);
  dy_onnx_window_pads(m, x, k, s, dl, p);
  int64_t g = dy_onnx_attr_i(m, "group", 1);
  dy_onnx_check_conv_shapes(m, x, w, g, NULL);
  if (bias && (bias->type.rank != 1 || bias->type.dims[0] != w->dims[0]))
    dy_onnx_invalid(m, "the bias must be a vector of %lld values",
                    (long long)w->dims[0]);
  od[0] = x->dims[0];
  od[1] = w->dims[0];
  for (int i = 0; i < 2; i++)
    od[2 + i] =
        dy_onnx_conv_out(m, x->dims[2 + i], k[i], s[i], dl[i], p[i], p[2 + i]);
  int64_t nd[4] = {od[0], od[2], od[3], od[1]};
  DyValue *ops[3] = {xv, wv, bias};
  DyValue *y = dy_build_op(m->g, NULL, DY_OP_CONV2D, bias ? 3 : 2, ops,
                           dy_type_make(DY_I32, 4, nd), name);
  dy_onnx_set_window_attrs(m, y->def, s, dl, p, g);
  return y;
}

/* The IR value of x with quant parameters (scale may be NULL: 1). */
static DyValue *quant_input(Imp *m, Val *x, Host *scale, Host *zp, int lay,
                            const char *what) {
  DyElemType st = int_elem(m, x, what);
  const DyQuant *q = zq(m, scale, zp, st, 0, 1, what);
  if (x->k && !x->v) {
    DyType t = dy_onnx_ir_type(m, x, lay);
    t.quant = q;
    return dy_build_const(m->g, NULL, dy_onnx_ir_name(m, x->name), t,
                          lay ? dy_onnx_nchw_to_nhwc(m, x->k) : x->k->data,
                          DY_FORM_HEX);
  }
  return with_quant(m, lay ? dy_onnx_nhwc(m, x) : dy_onnx_logical(m, x), q,
                    what);
}

/* requant with rounding "float": y = round(acc * scale_c) + zp, the scale
 * f32(f32(sx * sw_c) / sy) as ONNX's reference computes it. */
static DyValue *float_requant(Imp *m, DyValue *acc, Host *sx, Host *sw,
                              Host *sy, Host *zy, int axis, DyType yt) {
  int64_t nw = dy_onnx_host_numel(sw);
  if (dy_onnx_host_numel(sx) != 1 || dy_onnx_host_numel(sy) != 1 ||
      (zy && dy_onnx_host_numel(zy) != 1))
    dy_onnx_unsupported(m, "per-axis input or output quantization parameters");
  double *sc = dy_arena_alloc(m->scratch, (size_t)nw * sizeof *sc);
  for (int64_t c = 0; c < nw; c++) {
    float a = (float)dy_onnx_host_f(sx, 0) * (float)dy_onnx_host_f(sw, c);
    sc[c] = (double)(a / (float)dy_onnx_host_f(sy, 0));
    if (!(sc[c] > 0) || isinf(sc[c]))
      dy_onnx_unsupported(m,
                          "the requantization scale %g (x_scale * w_scale / "
                          "y_scale in float) is zero or infinite",
                          sc[c]);
  }
  DyValue *y = dy_onnx_op1(m, DY_OP_REQUANT, acc, yt);
  dy_op_set_str(m->g, y->def, "rounding", "float");
  dy_op_set_floats(m->g, y->def, "scale", (int)nw, sc);
  if (nw > 1)
    dy_op_set_int(m->g, y->def, "axis", axis);
  int64_t z = zy ? dy_onnx_host_int(zy, 0) : 0;
  if (z)
    dy_op_set_int(m->g, y->def, "output_zp", z);
  return y;
}

void imp_qlinear_conv(Imp *m) {
  Val *x = dy_onnx_req(m, 0), *w = dy_onnx_req(m, 3), *b = dy_onnx_in(m, 8);
  Host *sx = dy_onnx_const_in(m, 1, "x_scale"),
       *zx = dy_onnx_const_in(m, 2, "x_zero_point");
  Host *sw = dy_onnx_const_in(m, 4, "w_scale"),
       *zw = dy_onnx_const_in(m, 5, "w_zero_point");
  Host *sy = dy_onnx_const_in(m, 6, "y_scale"),
       *zy = dy_onnx_const_in(m, 7, "y_zero_point");
  DyValue *xv = quant_input(m, x, sx, zx, 1, "x");
  DyValue *wv = int_conv_weights(m, w, sw, zw, int_elem(m, w, "w"));
  DyValue *bv = NULL;
  if (b) {
    if (b->dtype != T_INT32)
      dy_onnx_invalid(m, "bias must be int32");
    bv = dy_onnx_logical(m, b);
  }
  int64_t od[4];
  DyValue *acc =
      int_conv(m, x, w, xv, wv, bv, od, dy_onnx_ir_name(m, m->node->output[0]));
  DyElemType st = int_elem(m, (Val[]){{.dtype = zy->dtype}}, "y_zero_point");
  DyType yt = acc->type;
  yt.elem = st;
  yt.quant = zq(m, sy, zy, st, 0, 1, "y");
  DyValue *y = float_requant(m, acc, sx, sw, sy, zy, 3, yt);
  dy_onnx_def(m, 0, y, 1, zy->dtype, 4, od);
}

void imp_conv_integer(Imp *m) {
  Val *x = dy_onnx_req(m, 0), *w = dy_onnx_req(m, 1);
  Host *zx = opt_const(m, 2, "x_zero_point"),
       *zw = opt_const(m, 3, "w_zero_point");
  DyValue *xv = quant_input(m, x, NULL, zx, 1, "x");
  DyValue *wv = int_conv_weights(m, w, NULL, zw, int_elem(m, w, "w"));
  int64_t od[4];
  DyValue *y = int_conv(m, x, w, xv, wv, NULL, od,
                        dy_onnx_ir_name(m, m->node->output[0]));
  dy_onnx_def(m, 0, y, 1, T_INT32, 4, od);
}

/* Integer matmul of a [..., M, K] by b [K, N]; returns the i32 result. */
static DyValue *int_matmul(Imp *m, Val *a, Val *b, Host *sa, Host *za, Host *sb,
                           Host *zb, int64_t *od) {
  static const char *const none[] = {NULL};
  dy_onnx_check_attrs(m, none);
  int br = b->rank;
  if (br < 2 || a->rank < 1 || (br > 2 && br != a->rank) ||
      a->dims[a->rank - 1] != b->dims[br - 2])
    dy_onnx_unsupported(m,
                        "integer MatMul needs [..., K] x [K, N] or a batched "
                        "product of equal ranks");
  for (int i = 0; br > 2 && i < br - 2; i++)
    if (a->dims[i] != b->dims[i])
      dy_onnx_unsupported(m, "MatMul with broadcast batch dimensions");
  DyValue *av = quant_input(m, a, sa, za, 0, "a");
  DyElemType st = int_elem(m, b, "b");
  const DyQuant *qb = zq(m, sb, zb, st, br - 1, b->dims[br - 1], "b");
  DyValue *bv;
  if (b->k && !b->v) {
    DyType t = dy_onnx_ir_type(m, b, 0);
    t.quant = qb;
    bv = dy_build_const(m->g, NULL, dy_onnx_ir_name(m, b->name), t, b->k->data,
                        DY_FORM_HEX);
  } else {
    bv = with_quant(m, dy_onnx_logical(m, b), qb, "b");
  }
  memcpy(od, a->dims, (size_t)a->rank * sizeof *od);
  od[a->rank - 1] = b->dims[br - 1];
  DyValue *ops[2] = {av, bv};
  return dy_build_op(m->g, NULL, DY_OP_MATMUL, 2, ops,
                     dy_type_make(DY_I32, a->rank, od),
                     dy_onnx_ir_name(m, m->node->output[0]));
}

void imp_matmul_integer(Imp *m) {
  int64_t od[DY_MAX_RANK];
  Val *a = dy_onnx_req(m, 0);
  DyValue *y =
      int_matmul(m, a, dy_onnx_req(m, 1), NULL, opt_const(m, 2, "a_zero_point"),
                 NULL, opt_const(m, 3, "b_zero_point"), od);
  dy_onnx_def(m, 0, y, 0, T_INT32, a->rank, od);
}

void imp_qlinear_matmul(Imp *m) {
  int64_t od[DY_MAX_RANK];
  Val *a = dy_onnx_req(m, 0);
  Host *sa = dy_onnx_const_in(m, 1, "a_scale"),
       *za = dy_onnx_const_in(m, 2, "a_zero_point");
  Host *sb = dy_onnx_const_in(m, 4, "b_scale"),
       *zb = dy_onnx_const_in(m, 5, "b_zero_point");
  Host *sy = dy_onnx_const_in(m, 6, "y_scale"),
       *zy = dy_onnx_const_in(m, 7, "y_zero_point");
  DyValue *acc = int_matmul(m, a, dy_onnx_req(m, 3), sa, za, sb, zb, od);
  DyElemType st = int_elem(m, (Val[]){{.dtype = zy->dtype}}, "y_zero_point");
  DyType yt = acc->type;
  yt.elem = st;
  yt.quant = zq(m, sy, zy, st, 0, 1, "y");
  DyValue *y = float_requant(m, acc, sa, sb, sy, zy, a->rank - 1, yt);
  dy_onnx_def(m, 0, y, 0, zy->dtype, a->rank, od);
}

void imp_dynamic_quantize(Imp *m) {
  static const char *const none[] = {NULL};
  dy_onnx_check_attrs(m, none);
  Val *x = dy_onnx_req(m, 0);
  if (x->dtype != T_FLOAT)
    dy_onnx_unsupported(m, "DynamicQuantizeLinear of %s data",
                        dy_onnx_dtype_name(x->dtype));
  int lay = x->v && x->nhwc;
  DyValue *xv = lay ? x->v : dy_onnx_logical(m, x);
  DyType types[3] = {xv->type, dy_type_make(DY_F32, 0, NULL),
                     dy_type_make(DY_U8, 0, NULL)};
  types[0].elem = DY_U8;
  const char *names[3];
  for (int i = 0; i < 3; i++) {
    if (i >= (int)m->node->n_output || !m->node->output[i][0])
      dy_onnx_unsupported(m, "all three outputs must be named");
    names[i] = dy_onnx_ir_name(m, m->node->output[i]);
  }
  DyOp *op =
      dy_op_create(m->g, DY_OP_DYNAMIC_QUANTIZE, 1, &xv, 3, types, names);
  dy_graph_insert(m->g, op, NULL);
  dy_onnx_def(m, 0, op->results[0], lay, T_UINT8, x->rank, x->dims);
  dy_onnx_def(m, 1, op->results[1], 0, T_FLOAT, 0, NULL);
  dy_onnx_def(m, 2, op->results[2], 0, T_UINT8, 0, NULL);
}
