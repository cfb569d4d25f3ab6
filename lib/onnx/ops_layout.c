/* ONNX data movement into IR ops: Identity (and Dropout), Reshape,
 * Flatten, Squeeze, Unsqueeze, Transpose, Concat and Pad. */
#include <math.h>
#include <string.h>

#include "import_internal.h"

void imp_identity(Imp *m) {
  static const char *const ok[] = {"seed", "ratio", NULL}; /* Dropout */
  dy_onnx_check_attrs(m, ok);
  Val *x = dy_onnx_req(m, 0);
  if (strcmp(m->node->op_type, "Dropout") == 0) {
    if (dy_onnx_nin(m->node) > 2) {
      Host *t = dy_onnx_const_in(m, 2, "training_mode");
      if (dy_onnx_host_numel(t) != 1 || dy_onnx_host_int(t, 0) != 0)
        dy_onnx_unsupported(m, "training_mode must be false");
    }
    if (m->node->n_output > 1 && m->node->output[1][0])
      dy_onnx_unsupported(m, "the mask output is not supported");
  }
  if (!x->v && !x->k && x->given)
    dy_onnx_make_input(m, x); /* the copy must not make a second input */
  Val *o = dy_onnx_out_val(m, 0);
  Val keep = *o;
  *o = *x;
  o->name = keep.name;
}

/* Reshape to a logical shape (element order unchanged). */
static void reshape_to(Imp *m, Val *x, int rank, const int64_t *dims) {
  int64_t n = dy_onnx_check_shape(m, "target shape", (size_t)rank, dims);
  if (n != dy_onnx_numel(x->rank, x->dims))
    dy_onnx_invalid(m, "cannot reshape %lld elements into %lld",
                    (long long)dy_onnx_numel(x->rank, x->dims), (long long)n);
  if (x->k && !x->v) { /* a constant stays a known constant */
    Host *h = dy_arena_alloc(m->scratch, sizeof *h);
    *h = *x->k;
    h->rank = rank;
    memcpy(h->dims, dims, (size_t)rank * sizeof *dims);
    dy_onnx_def_host(m, 0, h);
    return;
  }
  DyValue *xv = dy_onnx_logical(m, x);
  Val tmp = {.dtype = x->dtype, .rank = rank};
  memcpy(tmp.dims, dims, (size_t)rank * sizeof *dims);
  DyType t = dy_onnx_ir_type(m, &tmp, 0);
  t.quant = xv->type.quant; /* a layout op keeps its operand's quant type */
  if (t.quant && t.quant->kind != DY_QUANT_PER_TENSOR)
    dy_onnx_unsupported(m,
                        "reshaping '%s', which has per-axis quantization "
                        "parameters",
                        x->name);
  DyValue *y = dy_onnx_op1(m, DY_OP_RESHAPE, xv, t);
  dy_onnx_def(m, 0, y, 0, x->dtype, rank, dims);
}

void imp_reshape(Imp *m) {
  static const char *const ok[] = {"allowzero", "shape", NULL};
  dy_onnx_check_attrs(m, ok);
  Val *x = dy_onnx_req(m, 0);
  int64_t shape[DY_MAX_RANK];
  int rank;
  if (m->opset < 5) {
    rank = dy_onnx_attr_ints(m, "shape", shape, DY_MAX_RANK);
    if (rank < 0)
      dy_onnx_invalid(m, "missing attribute 'shape'");
  } else {
    Host *h = dy_onnx_const_in(m, 1, "shape");
    if (h->rank != 1 || h->dims[0] > DY_MAX_RANK)
      dy_onnx_unsupported(m, "shape must be a vector of at most %d values",
                          DY_MAX_RANK);
    rank = (int)h->dims[0];
    for (int i = 0; i < rank; i++)
      shape[i] = dy_onnx_host_int(h, i);
  }
  int allowzero = (int)dy_onnx_attr_i(m, "allowzero", 0);
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < rank; i++) {
    if (shape[i] == 0 && !allowzero) {
      if (i >= x->rank)
        dy_onnx_invalid(m, "shape copies dimension %d of a rank-%d input", i,
                        x->rank);
      shape[i] = x->dims[i];
    }
    if (shape[i] == -1) {
      if (infer >= 0)
        dy_onnx_invalid(m, "more than one -1 in the shape");
      infer = i;
    } else if (shape[i] < 0) {
      dy_onnx_invalid(m, "negative dimension in the shape");
    } else {
      if (__builtin_mul_overflow(known, shape[i] ? shape[i] : 1, &known))
        dy_onnx_invalid(m, "target shape is too large");
    }
  }
  if (infer >= 0) {
    int64_t n = dy_onnx_numel(x->rank, x->dims);
    if (known == 0 || n % known)
      dy_onnx_invalid(m, "cannot infer the -1 dimension");
    shape[infer] = n / known;
  }
  reshape_to(m, x, rank, shape);
}

void imp_flatten(Imp *m) {
  static const char *const ok[] = {"axis", NULL};
  dy_onnx_check_attrs(m, ok);
  Val *x = dy_onnx_req(m, 0);
  int64_t axis = dy_onnx_attr_i(m, "axis", 1);
  if (axis < -x->rank || axis > x->rank)
    dy_onnx_invalid(m, "axis %lld out of range", (long long)axis);
  if (axis < 0)
    axis += x->rank;
  int64_t d[2] = {1, 1};
  for (int i = 0; i < x->rank; i++)
    d[i < axis ? 0 : 1] *= x->dims[i];
  reshape_to(m, x, 2, d);
}

void imp_squeeze(Imp *m) {
  int un = strcmp(m->node->op_type, "Unsqueeze") == 0;
  static const char *const ok[] = {"axes", NULL};
  dy_onnx_check_attrs(m, ok);
  Val *x = dy_onnx_req(m, 0);
  int64_t axes[DY_MAX_RANK];
  int na;
  if (m->opset < 13) {
    na = dy_onnx_attr_ints(m, "axes", axes, DY_MAX_RANK);
  } else if (dy_onnx_in(m, 1)) {
    Host *h = dy_onnx_const_in(m, 1, "axes");
    if (dy_onnx_host_numel(h) > DY_MAX_RANK)
      dy_onnx_invalid(m, "too many axes");
    na = (int)dy_onnx_host_numel(h);
    for (int i = 0; i < na; i++)
      axes[i] = dy_onnx_host_int(h, i);
  } else {
    na = -1;
  }
  int64_t d[DY_MAX_RANK];
  int r = 0;
  if (un) {
    if (na < 0)
      dy_onnx_invalid(m, "missing axes");
    int rank = x->rank + na;
    if (rank > DY_MAX_RANK)
      dy_onnx_unsupported(m, "result rank %d", rank);
    int mark[DY_MAX_RANK] = {0};
    for (int i = 0; i < na; i++) {
      int a = dy_onnx_norm_axis(m, axes[i], rank);
      if (mark[a])
        dy_onnx_invalid(m, "repeated axis");
      mark[a] = 1;
    }
    int k = 0;
    for (int i = 0; i < rank; i++)
      d[r++] = mark[i] ? 1 : x->dims[k++];
  } else {
    int mark[DY_MAX_RANK] = {0};
    for (int i = 0; i < na; i++) {
      int a = dy_onnx_norm_axis(m, axes[i], x->rank);
      if (x->dims[a] != 1)
        dy_onnx_invalid(m, "cannot squeeze axis %d of size %lld", a,
                        (long long)x->dims[a]);
      mark[a] = 1;
    }
    for (int i = 0; i < x->rank; i++)
      if (!(na < 0 ? x->dims[i] == 1 : mark[i]))
        d[r++] = x->dims[i];
  }
  reshape_to(m, x, r, d);
}

void imp_transpose(Imp *m) {
  static const char *const ok[] = {"perm", NULL};
  dy_onnx_check_attrs(m, ok);
  Val *x = dy_onnx_req(m, 0);
  int64_t perm[DY_MAX_RANK];
  int n = dy_onnx_attr_ints(m, "perm", perm, DY_MAX_RANK);
  if (n < 0) {
    n = x->rank;
    for (int i = 0; i < n; i++)
      perm[i] = n - 1 - i;
  }
  if (n != x->rank)
    dy_onnx_invalid(m, "perm has %d values for rank %d", n, x->rank);
  int seen[DY_MAX_RANK] = {0};
  int64_t od[DY_MAX_RANK];
  for (int i = 0; i < n; i++) {
    if (perm[i] < 0 || perm[i] >= n || seen[perm[i]]++)
      dy_onnx_invalid(m, "perm is not a permutation");
    od[i] = x->dims[perm[i]];
  }
  DyValue *y = dy_onnx_transpose(m, dy_onnx_logical(m, x), perm,
                                 dy_onnx_ir_name(m, m->node->output[0]));
  dy_onnx_def(m, 0, y, 0, x->dtype, n, od);
}

void imp_concat(Imp *m) {
  static const char *const ok[] = {"axis", NULL};
  dy_onnx_check_attrs(m, ok);
  int n = dy_onnx_nin(m->node);
  if (n < 1)
    dy_onnx_invalid(m, "no inputs");
  Val *x0 = dy_onnx_req(m, 0);
  if (m->opset < 4 && !dy_onnx_attr(m, "axis"))
    dy_onnx_unsupported(m, "Concat without axis before opset 4");
  int axis = dy_onnx_norm_axis(m, dy_onnx_attr_i(m, "axis", 0), x0->rank);
  int all_known = 1, all_nhwc = x0->rank == 4;
  int64_t od[DY_MAX_RANK];
  memcpy(od, x0->dims, sizeof od);
  od[axis] = 0;
  for (int i = 0; i < n; i++) {
    Val *x = dy_onnx_req(m, i);
    if (x->rank != x0->rank || x->dtype != x0->dtype)
      dy_onnx_invalid(m, "inputs differ in rank or type");
    for (int k = 0; k < x->rank; k++)
      if (k != axis && x->dims[k] != x0->dims[k])
        dy_onnx_invalid(m, "inputs differ in dimension %d", k);
    od[axis] += x->dims[axis];
    all_known &= x->k != NULL && x->v == NULL;
    all_nhwc &= (x->v && x->nhwc) || x->k;
  }
  if (all_known) { /* shape arithmetic: evaluate here */
    Host *h = dy_onnx_new_host(m, x0->dtype, x0->rank, od);
    size_t esz = dy_onnx_dtype_size(x0->dtype);
    int64_t outer = 1, inner = 1;
    for (int k = 0; k < axis; k++)
      outer *= od[k];
    for (int k = axis + 1; k < x0->rank; k++)
      inner *= od[k];
    char *dst = h->data;
    for (int64_t o = 0; h->nbytes && o < outer; o++)
      for (int i = 0; i < n; i++) {
        Val *x = dy_onnx_req(m, i);
        size_t chunk = (size_t)(x->dims[axis] * inner) * esz;
        memcpy(dst, (const char *)x->k->data + (size_t)o * chunk, chunk);
        dst += chunk;
      }
    dy_onnx_def_host(m, 0, h);
    return;
  }
  DyValue **ops = dy_arena_alloc(m->scratch, (size_t)n * sizeof *ops);
  for (int i = 0; i < n; i++)
    ops[i] = all_nhwc ? dy_onnx_nhwc(m, dy_onnx_req(m, i))
                      : dy_onnx_logical(m, dy_onnx_req(m, i));
  Val tmp = {.dtype = x0->dtype, .rank = x0->rank};
  memcpy(tmp.dims, od, sizeof od);
  DyType t = dy_onnx_ir_type(m, &tmp, all_nhwc);
  int ir_axis = all_nhwc ? dy_onnx_nchw_to_nhwc_axis[axis] : axis;
  t.quant = ops[0]->type.quant; /* a layout op keeps its operands' quant */
  for (int i = 1; i < n; i++)
    if (!dy_quant_equal(ops[i]->type.quant, t.quant))
      dy_onnx_unsupported(m, "inputs with different quantization parameters");
  if (t.quant && t.quant->kind == DY_QUANT_PER_AXIS && t.quant->axis == ir_axis)
    dy_onnx_unsupported(m,
                        "concatenation along the axis of per-axis quantization "
                        "parameters");
  DyValue *y = dy_build_op(m->g, NULL, DY_OP_CONCAT, n, ops, t,
                           dy_onnx_ir_name(m, m->node->output[0]));
  dy_op_set_int(m->g, y->def, "axis", ir_axis);
  dy_onnx_def(m, 0, y, all_nhwc, x0->dtype, x0->rank, od);
}

void imp_pad(Imp *m) {
  static const char *const ok[] = {"mode", "pads", "value", NULL};
  dy_onnx_check_attrs(m, ok);
  Val *x = dy_onnx_req(m, 0);
  char mode[32] = "constant";
  dy_onnx_attr_s(m, "mode", mode, sizeof mode);
  if (strcmp(mode, "constant") && strcmp(mode, "reflect") &&
      strcmp(mode, "edge"))
    dy_onnx_unsupported(m, "mode '%s'", mode);
  int64_t p[2 * DY_MAX_RANK];
  double value = 0;
  int np;
  if (m->opset < 11) {
    np = dy_onnx_attr_ints(m, "pads", p, 2 * DY_MAX_RANK);
    value = dy_onnx_attr_f(m, "value", 0.0f);
  } else {
    Host *h = dy_onnx_const_in(m, 1, "pads");
    if (dy_onnx_host_numel(h) > 2 * DY_MAX_RANK)
      dy_onnx_invalid(m, "too many pads");
    np = (int)dy_onnx_host_numel(h);
    for (int i = 0; i < np; i++)
      p[i] = dy_onnx_host_int(h, i);
    if (dy_onnx_in(m, 2)) {
      Host *v = dy_onnx_const_in(m, 2, "constant_value");
      if (dy_onnx_host_numel(v) != 1)
        dy_onnx_invalid(m, "constant_value must be a scalar");
      value = dy_onnx_host_f(v, 0);
    }
    if (dy_onnx_in(m, 3))
      dy_onnx_unsupported(m, "the axes input");
  }
  if (np != 2 * x->rank)
    dy_onnx_invalid(m, "pads has %d values for rank %d", np, x->rank);
  for (int i = 0; i < np; i++)
    if (p[i] < 0)
      dy_onnx_unsupported(m, "negative pads (cropping)");
  int lay = x->v && x->nhwc;
  DyValue *xv = lay ? x->v : dy_onnx_logical(m, x);
  int64_t ip[2 * DY_MAX_RANK], od[DY_MAX_RANK];
  DyType t = xv->type;
  for (int i = 0; i < x->rank; i++) {
    int j = lay ? dy_onnx_nchw_to_nhwc_axis[i] : i;
    ip[j] = p[i];
    ip[x->rank + j] = p[x->rank + i];
    if (__builtin_add_overflow(x->dims[i], p[i], &od[i]) ||
        __builtin_add_overflow(od[i], p[x->rank + i], &od[i]))
      dy_onnx_invalid(m, "pads are too large");
    t.dims[j] = od[i];
  }
  const DyQuant *q = t.quant;
  if (q && q->kind == DY_QUANT_PER_AXIS &&
      (ip[q->axis] || ip[x->rank + q->axis]))
    dy_onnx_unsupported(m, "padding along the axis of per-axis quantization "
                           "parameters");
  DyValue *y = dy_onnx_op1(m, DY_OP_PAD, xv, t);
  dy_op_set_ints(m->g, y->def, "pads", 2 * x->rank, ip);
  if (strcmp(mode, "constant"))
    dy_op_set_str(m->g, y->def, "mode", mode);
  if (isnan(value)) /* the .dy text keeps a NaN's sign, not its payload */
    value = copysign(NAN, value);
  if (value != 0)
    dy_op_set_float(m->g, y->def, "value", value);
  dy_onnx_def(m, 0, y, lay, x->dtype, x->rank, od);
}
