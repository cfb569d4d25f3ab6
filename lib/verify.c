/* The verifier: types, shapes, operand counts and attribute ranges of every
 * op, and the SSA order of the graph. Also the result type inference that
 * the verifier and the passes share. */
#include "dyad/ir.h"
#include "dyad/text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Formats a type into buf as the printer writes it. */
static const char *type_str(const DyType *t, char *buf, size_t n) {
  FILE *f = fmemopen(buf, n, "w");
  if (!f)
    return "?";
  dy_print_type(f, t);
  fclose(f);
  buf[n - 1] = 0;
  return buf;
}

/* --- attribute schema --- */

/* Reports a bad attribute and returns 1. */
#define BAD(...) (dy_error(d, op->loc, __VA_ARGS__), 1)

static int get_ints(const DyOp *op, DyDiag *d, const char *name, int want,
                    int64_t *out, const int64_t *dflt, int64_t min) {
  const DyAttr *a = dy_op_attr(op, name);
  if (!a) {
    for (int i = 0; i < want; i++)
      out[i] = dflt ? dflt[i] : 0;
    return 0;
  }
  if (a->kind != DY_ATTR_INTS)
    return BAD("'%s' attribute '%s' must be a list of integers",
               dy_op_name(op->kind), name);
  if (a->n != want)
    return BAD("'%s' attribute '%s' must have %d values, got %d",
               dy_op_name(op->kind), name, want, a->n);
  for (int i = 0; i < want; i++) {
    if (a->ints[i] < min)
      return BAD("'%s' attribute '%s' must be >= %lld, got %lld",
                 dy_op_name(op->kind), name, (long long)min,
                 (long long)a->ints[i]);
    out[i] = a->ints[i];
  }
  return 0;
}

static int get_int(const DyOp *op, DyDiag *d, const char *name, int64_t dflt,
                   int64_t lo, int64_t hi, int64_t *out) {
  const DyAttr *a = dy_op_attr(op, name);
  *out = dflt;
  if (!a)
    return 0;
  if (a->kind != DY_ATTR_INT)
    return BAD("'%s' attribute '%s' must be an integer", dy_op_name(op->kind),
               name);
  if (a->i < lo || a->i > hi)
    return BAD("'%s' attribute '%s' must be in [%lld, %lld], got %lld",
               dy_op_name(op->kind), name, (long long)lo, (long long)hi,
               (long long)a->i);
  *out = a->i;
  return 0;
}

static int get_float(const DyOp *op, DyDiag *d, const char *name, double dflt,
                     double *out) {
  const DyAttr *a = dy_op_attr(op, name);
  *out = dflt;
  if (!a)
    return 0;
  if (a->kind == DY_ATTR_INT)
    *out = (double)a->i;
  else if (a->kind == DY_ATTR_FLOAT)
    *out = a->f;
  else
    return BAD("'%s' attribute '%s' must be a number", dy_op_name(op->kind),
               name);
  if (isnan(*out))
    return BAD("'%s' attribute '%s' must not be nan", dy_op_name(op->kind),
               name);
  return 0;
}

static int get_enum(const DyOp *op, DyDiag *d, const char *name,
                    const char *const *allowed) {
  const DyAttr *a = dy_op_attr(op, name);
  if (!a)
    return 0;
  if (a->kind != DY_ATTR_STR)
    return BAD("'%s' attribute '%s' must be a string", dy_op_name(op->kind),
               name);
  for (int i = 0; allowed[i]; i++)
    if (strcmp(a->s, allowed[i]) == 0)
      return 0;
  char list[256] = "";
  for (int i = 0; allowed[i]; i++) {
    strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
    strncat(list, allowed[i], sizeof list - strlen(list) - 1);
  }
  return BAD("'%s' attribute '%s' must be one of %s, got \"%s\"",
             dy_op_name(op->kind), name, list, a->s);
}

/* Attributes each op accepts; anything else is reported (typos). */
static const char *const *known_attrs(DyOpKind k) {
  static const char *const none[] = {NULL};
  static const char *const conv[] = {"strides", "dilations", "pads",
                                     "groups",  "input_zp",  NULL};
  static const char *const matmul[] = {"input_zp", NULL};
  static const char *const clip[] = {"min", "max", NULL};
  static const char *const axis[] = {"axis", NULL};
  static const char *const softmax[] = {"axis", "shift", "output_zp", NULL};
  static const char *const maxpool[] = {"kernel",    "strides",   "pads",
                                        "dilations", "ceil_mode", NULL};
  static const char *const avgpool[] = {
      "kernel", "strides", "pads", "ceil_mode", "count_include_pad", NULL};
  static const char *const pad[] = {"pads", "mode", "value", NULL};
  static const char *const perm[] = {"perm", NULL};
  static const char *const bn[] = {"epsilon", NULL};
  static const char *const quant[] = {"rounding", NULL};
  static const char *const requant[] = {"multiplier", "shift",     "axis",
                                        "input_zp",   "output_zp", "rounding",
                                        "clamp",      "scale",     NULL};
  switch (k) {
  case DY_OP_CONV2D:
    return conv;
  case DY_OP_MATMUL:
    return matmul;
  case DY_OP_CLIP:
    return clip;
  case DY_OP_SOFTMAX:
    return softmax;
  case DY_OP_FLATTEN:
  case DY_OP_CONCAT:
    return axis;
  case DY_OP_MAXPOOL:
    return maxpool;
  case DY_OP_AVGPOOL:
    return avgpool;
  case DY_OP_PAD:
    return pad;
  case DY_OP_TRANSPOSE:
    return perm;
  case DY_OP_BATCHNORM:
    return bn;
  case DY_OP_QUANTIZE:
    return quant;
  case DY_OP_REQUANT:
    return requant;
  default:
    return none;
  }
}

/* --- shape inference --- */

static int is_float_tensor(const DyType *t) {
  return t->elem == DY_F32 && !t->quant;
}

/* Normalizes a possibly negative axis into [0, rank); returns 0 if invalid. */
static int norm_axis(int64_t axis, int rank, int *out) {
  if (axis < -rank || axis >= rank)
    return 0;
  *out = (int)(axis < 0 ? axis + rank : axis);
  return 1;
}

/* Output size of a pooling/conv window along one axis; -1 if empty, -2 if
 * the dilated window or the padded input overflows int64. All arguments are
 * >= 0, and k, stride, dil >= 1. */
static int64_t window_out(int64_t in, int64_t k, int64_t stride, int64_t dil,
                          int64_t pb, int64_t pe, int ceil_mode) {
  int64_t eff, front, padded;
  if (k < 1)
    return -1; /* an empty window: no output */
  if (__builtin_mul_overflow(dil, k - 1, &eff) ||
      __builtin_add_overflow(eff, 1, &eff) ||
      __builtin_add_overflow(in, pb, &front) ||
      __builtin_add_overflow(front, pe, &padded))
    return -2;
  int64_t span = padded - eff; /* below INT64_MAX: eff >= 1 */
  if (span < 0)
    return -1;
  int64_t out = span / stride + 1;
  if (ceil_mode && span % stride != 0)
    out++;
  /* ceil mode: the last window must start inside the input or left padding
   * (a start past INT64_MAX is past it too) */
  int64_t last;
  if (ceil_mode &&
      (__builtin_mul_overflow(out - 1, stride, &last) || last >= front))
    out--;
  return out;
}

static int infer_pool(const DyOp *op, DyType *t, DyDiag *d) {
  const DyType *x = &op->operands[0]->type;
  if (x->rank != 4)
    return BAD("'%s' expects an NHWC input of rank 4, got rank %d",
               dy_op_name(op->kind), x->rank);
  int64_t k[2], s[2], dl[2], p[4], ceil_mode, cip;
  static const int64_t ones[2] = {1, 1};
  if (!dy_op_attr(op, "kernel"))
    return BAD("'%s' requires the attribute 'kernel'", dy_op_name(op->kind));
  if (get_ints(op, d, "kernel", 2, k, NULL, 1) ||
      get_ints(op, d, "strides", 2, s, ones, 1) ||
      get_ints(op, d, "dilations", 2, dl, ones, 1) ||
      get_ints(op, d, "pads", 4, p, NULL, 0) ||
      get_int(op, d, "ceil_mode", 0, 0, 1, &ceil_mode) ||
      get_int(op, d, "count_include_pad", 0, 0, 1, &cip))
    return 1;
  *t = *x;
  for (int i = 0; i < 2; i++) {
    int64_t o = window_out(x->dims[1 + i], k[i], s[i], dl[i], p[i], p[2 + i],
                           (int)ceil_mode);
    if (o == -2)
      return BAD("'%s' window or padding is too large", dy_op_name(op->kind));
    if (o < 1)
      return BAD("'%s' window (%lld) is larger than the padded input (%lld)",
                 dy_op_name(op->kind), (long long)(dl[i] * (k[i] - 1) + 1),
                 (long long)(x->dims[1 + i] + p[i] + p[2 + i]));
    t->dims[1 + i] = o;
  }
  return 0;
}

static int infer_conv(const DyOp *op, DyType *t, DyDiag *d) {
  const DyType *x = &op->operands[0]->type, *w = &op->operands[1]->type;
  if (x->rank != 4)
    return BAD("'conv2d' expects an NHWC input of rank 4, got rank %d",
               x->rank);
  if (w->rank != 4)
    return BAD("'conv2d' expects OHWI weights of rank 4, got rank %d", w->rank);
  int64_t s[2], dl[2], p[4], groups;
  static const int64_t ones[2] = {1, 1};
  if (get_ints(op, d, "strides", 2, s, ones, 1) ||
      get_ints(op, d, "dilations", 2, dl, ones, 1) ||
      get_ints(op, d, "pads", 4, p, NULL, 0) ||
      get_int(op, d, "groups", 1, 1, INT32_MAX, &groups))
    return 1;
  int64_t c = x->dims[3], oc = w->dims[0];
  if (c % groups || oc % groups)
    return BAD("'conv2d' groups (%lld) must divide input channels (%lld) and "
               "output channels (%lld)",
               (long long)groups, (long long)c, (long long)oc);
  if (w->dims[3] != c / groups)
    return BAD("'conv2d' weights have %lld input channels, expected %lld "
               "(input channels / groups)",
               (long long)w->dims[3], (long long)(c / groups));
  if (op->noperands == 3) {
    const DyType *b = &op->operands[2]->type;
    if (b->rank != 1 || b->dims[0] != oc)
      return BAD("'conv2d' bias must have shape [%lld]", (long long)oc);
  }
  *t = *x;
  t->dims[3] = oc;
  for (int i = 0; i < 2; i++) {
    if (w->dims[1 + i] < 1)
      return BAD("'conv2d' kernel has no %s", i ? "columns" : "rows");
    int64_t o = window_out(x->dims[1 + i], w->dims[1 + i], s[i], dl[i], p[i],
                           p[2 + i], 0);
    if (o == -2)
      return BAD("'conv2d' dilated kernel or padding is too large");
    if (o < 1)
      return BAD("'conv2d' kernel extent is larger than the padded input");
    t->dims[1 + i] = o;
  }
  return 0;
}

static int infer_broadcast(const DyOp *op, DyType *t, DyDiag *d) {
  const DyType *a = &op->operands[0]->type, *b = &op->operands[1]->type;
  int r = a->rank > b->rank ? a->rank : b->rank;
  *t = *a;
  t->rank = r;
  for (int i = 0; i < r; i++) {
    int ia = i - (r - a->rank), ib = i - (r - b->rank);
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    if (da != db && da != 1 && db != 1)
      return BAD("'%s' operand shapes cannot be broadcast: dimension %d is "
                 "%lld and %lld",
                 dy_op_name(op->kind), i, (long long)da, (long long)db);
    t->dims[i] = da == 1 ? db : da;
  }
  return 0;
}

static void silent(void *ctx, DySeverity sev, DyLoc loc, const char *msg) {}

int dy_op_infer_type(const DyOp *op, DyType *out, DyDiag *d) {
  DyDiag quiet;
  if (!d) {
    dy_diag_init(&quiet);
    quiet.fn = silent;
    d = &quiet;
  }
  DY_ASSERT(op->nresults >= 1);
  const DyType *decl = &op->results[0]->type;
  const DyType *x = op->noperands ? &op->operands[0]->type : decl;
  DyType t = *x;
  int axis;
  int64_t v;
  switch (op->kind) {
  case DY_OP_CONST:
  case DY_OP_RESHAPE:
    t = *decl;
    break;
  case DY_OP_IDENTITY:
  case DY_OP_RELU:
  case DY_OP_HARDSWISH:
  case DY_OP_SIGMOID:
  case DY_OP_TANH:
  case DY_OP_CLIP:
    break;
  case DY_OP_SOFTMAX:
    if (get_int(op, d, "axis", -1, INT32_MIN, INT32_MAX, &v))
      return 1;
    if (!norm_axis(v, x->rank, &axis))
      return BAD("'softmax' axis %lld out of range for rank %d", (long long)v,
                 x->rank);
    break;
  case DY_OP_CONV2D:
    if (infer_conv(op, &t, d))
      return 1;
    break;
  case DY_OP_MATMUL: {
    /* w is KxN, or batched [..., K, N] with x's leading dimensions */
    const DyType *w = &op->operands[1]->type;
    if (x->rank < 1 || w->rank < 2 || (w->rank > 2 && w->rank != x->rank))
      return BAD("'matmul' expects w of rank 2, or of x's rank for a batched "
                 "product; got ranks %d and %d",
                 x->rank, w->rank);
    for (int i = 0; w->rank > 2 && i < w->rank - 2; i++)
      if (w->dims[i] != x->dims[i])
        return BAD("'matmul' batch dimension %d differs: %lld and %lld", i,
                   (long long)x->dims[i], (long long)w->dims[i]);
    int64_t K = w->dims[w->rank - 2], N = w->dims[w->rank - 1];
    if (x->dims[x->rank - 1] != K)
      return BAD("'matmul' reduction sizes differ: x has %lld, w has %lld",
                 (long long)x->dims[x->rank - 1], (long long)K);
    if (op->noperands == 3) {
      const DyType *b = &op->operands[2]->type;
      if (b->rank != 1 || b->dims[0] != N)
        return BAD("'matmul' bias must have shape [%lld]", (long long)N);
    }
    t.dims[t.rank - 1] = N;
    break;
  }
  case DY_OP_ADD:
  case DY_OP_MUL:
    if (infer_broadcast(op, &t, d))
      return 1;
    break;
  case DY_OP_MAXPOOL:
  case DY_OP_AVGPOOL:
    if (infer_pool(op, &t, d))
      return 1;
    break;
  case DY_OP_GLOBAL_AVGPOOL:
    if (x->rank != 4)
      return BAD("'global_avgpool' expects an NHWC input of rank 4, got rank "
                 "%d",
                 x->rank);
    t.dims[1] = t.dims[2] = 1;
    break;
  case DY_OP_PAD: {
    int64_t p[2 * DY_MAX_RANK];
    const DyAttr *a = dy_op_attr(op, "pads");
    if (!a)
      return BAD("'pad' requires the attribute 'pads'");
    if (get_ints(op, d, "pads", 2 * x->rank, p, NULL, 0))
      return 1;
    const char *mode = dy_op_str(op, "mode", "constant");
    for (int i = 0; i < x->rank; i++) {
      if (strcmp(mode, "reflect") == 0 &&
          (p[i] >= x->dims[i] || p[x->rank + i] >= x->dims[i]))
        return BAD("'pad' reflect padding must be smaller than the dimension "
                   "(%lld) on axis %d",
                   (long long)x->dims[i], i);
      if (strcmp(mode, "edge") == 0 && x->dims[i] == 0 &&
          (p[i] || p[x->rank + i]))
        return BAD("'pad' edge padding of an empty axis %d", i);
      if (__builtin_add_overflow(x->dims[i], p[i], &t.dims[i]) ||
          __builtin_add_overflow(t.dims[i], p[x->rank + i], &t.dims[i]))
        return BAD("'pad' result dimension %d is too large", i);
    }
    break;
  }
  case DY_OP_FLATTEN: {
    if (get_int(op, d, "axis", 1, -x->rank, x->rank, &v))
      return 1;
    int ax = (int)(v < 0 ? v + x->rank : v);
    int64_t a = 1, b = 1;
    for (int i = 0; i < x->rank; i++) {
      int64_t *f = i < ax ? &a : &b;
      if (__builtin_mul_overflow(*f, x->dims[i], f))
        return BAD("'flatten' result dimensions are too large");
    }
    t.rank = 2;
    t.dims[0] = a;
    t.dims[1] = b;
    break;
  }
  case DY_OP_TRANSPOSE: {
    int64_t perm[DY_MAX_RANK];
    int seen[DY_MAX_RANK] = {0};
    if (!dy_op_attr(op, "perm"))
      return BAD("'transpose' requires the attribute 'perm'");
    if (get_ints(op, d, "perm", x->rank, perm, NULL, 0))
      return 1;
    for (int i = 0; i < x->rank; i++) {
      if (perm[i] >= x->rank || seen[perm[i]])
        return BAD("'transpose' perm is not a permutation of 0..%d",
                   x->rank - 1);
      seen[perm[i]] = 1;
      t.dims[i] = x->dims[perm[i]];
    }
    break;
  }
  case DY_OP_CONCAT: {
    if (!dy_op_attr(op, "axis"))
      return BAD("'concat' requires the attribute 'axis'");
    if (get_int(op, d, "axis", 0, INT32_MIN, INT32_MAX, &v))
      return 1;
    if (!norm_axis(v, x->rank, &axis))
      return BAD("'concat' axis %lld out of range for rank %d", (long long)v,
                 x->rank);
    for (int k = 1; k < op->noperands; k++) {
      const DyType *y = &op->operands[k]->type;
      if (y->rank != x->rank || y->elem != x->elem ||
          !dy_quant_equal(y->quant, x->quant))
        return BAD("'concat' operand %d differs in rank or element type", k);
      for (int i = 0; i < x->rank; i++)
        if (i != axis && y->dims[i] != x->dims[i])
          return BAD("'concat' operand %d has size %lld on axis %d, expected "
                     "%lld",
                     k, (long long)y->dims[i], i, (long long)x->dims[i]);
      if (__builtin_add_overflow(t.dims[axis], y->dims[axis], &t.dims[axis]))
        return BAD("'concat' result dimension %d is too large", axis);
    }
    break;
  }
  case DY_OP_BATCHNORM: {
    if (x->rank < 1)
      return BAD("'batchnorm' expects an input of rank >= 1");
    int64_t c = x->dims[x->rank - 1];
    for (int k = 1; k < 5; k++) {
      const DyType *y = &op->operands[k]->type;
      if (y->rank != 1 || y->dims[0] != c)
        return BAD("'batchnorm' operand %d must have shape [%lld] (the "
                   "channels)",
                   k, (long long)c);
    }
    break;
  }
  case DY_OP_QUANTIZE:
  case DY_OP_DEQUANTIZE:
  case DY_OP_REQUANT:
  case DY_OP_LOOKUP:
  case DY_OP_DYNAMIC_QUANTIZE:
    t.elem = decl->elem; /* element type is not inferred */
    t.quant = decl->quant;
    break;
  case DY_OP_COUNT:
    DY_ASSERT(0);
  }
  *out = t;
  return 0;
}

/* --- per-op checks beyond shapes --- */

/* Integer conv2d / matmul: integer x and w (quantized or plain), an i32
 * bias, a plain i32 result holding sum((x - zx) * (w - zw)) + bias. The zero
 * point of x is per tensor; that of w per tensor or per output channel
 * (conv2d OHWI axis 0, matmul w's last axis). */
static int check_integer_layer(const DyOp *op, DyDiag *d) {
  const char *name = dy_op_name(op->kind);
  const DyType *r = &op->results[0]->type;
  const DyType *x = &op->operands[0]->type, *w = &op->operands[1]->type;
  if (r->elem != DY_I32 || r->quant)
    return BAD("integer '%s' must give a plain i32 accumulator", name);
  if (x->elem == DY_F32 || w->elem == DY_F32 || x->elem == DY_I32 ||
      w->elem == DY_I32)
    return BAD("integer '%s' takes integer operands of at most 16 bits", name);
  if (x->quant && x->quant->kind != DY_QUANT_PER_TENSOR)
    return BAD("integer '%s' needs a per-tensor zero point on its input", name);
  int oc_axis = op->kind == DY_OP_CONV2D ? 0 : w->rank - 1;
  if (w->quant && w->quant->kind != DY_QUANT_PER_TENSOR &&
      !(w->quant->kind == DY_QUANT_PER_AXIS && w->quant->axis == oc_axis))
    return BAD("integer '%s' weights may be quantized per tensor or per "
               "output channel (axis %d)",
               name, oc_axis);
  if (op->noperands == 3 &&
      (op->operands[2]->type.elem != DY_I32 || op->operands[2]->type.quant))
    return BAD("integer '%s' bias must be plain i32", name);
  int64_t zp, pads[4];
  if (get_int(op, d, "input_zp", 0, INT32_MIN, INT32_MAX, &zp))
    return 1;
  if (op->kind == DY_OP_CONV2D && dy_op_attr(op, "input_zp")) {
    if (get_ints(op, d, "pads", 4, pads, NULL, 0))
      return 1;
    if (pads[0] || pads[1] || pads[2] || pads[3])
      return BAD("integer 'conv2d' with 'input_zp' must not pad: padding "
                 "would stand for x's zero point, pad explicitly");
  }
  return 0;
}

static int is_plain_int(const DyType *t) {
  return t->elem != DY_F32 && !t->quant;
}

/* Integer softmax: x integer (at most 16 bits), an i32 table with an entry
 * for every difference max - x, an integer result. */
static int check_integer_softmax(const DyOp *op, DyDiag *d) {
  const DyType *x = &op->operands[0]->type, *t = &op->operands[1]->type;
  const DyType *r = &op->results[0]->type;
  int64_t lo, hi, v;
  if (x->elem == DY_F32 || x->elem == DY_I32 || r->elem == DY_F32 ||
      r->elem == DY_I32)
    return BAD("integer 'softmax' takes and gives integers of at most 16 "
               "bits");
  dy_elem_range(x->elem, &lo, &hi);
  if (t->elem != DY_I32 || t->quant || t->rank != 1 ||
      t->dims[0] != hi - lo + 1)
    return BAD("integer 'softmax' table must be tensor<%lldxi32>",
               (long long)(hi - lo + 1));
  if (get_int(op, d, "shift", 0, 0, 30, &v) ||
      get_int(op, d, "output_zp", 0, INT32_MIN, INT32_MAX, &v))
    return 1;
  return 0;
}

static int check_elem_types(const DyOp *op, DyDiag *d) {
  const DyType *r = &op->results[0]->type;
  const DyType *x = op->noperands ? &op->operands[0]->type : NULL;
  char b1[256];
  if ((op->kind == DY_OP_CONV2D || op->kind == DY_OP_MATMUL) &&
      r->elem != DY_F32)
    return check_integer_layer(op, d);
  if (op->kind == DY_OP_SOFTMAX && op->noperands == 2)
    return check_integer_softmax(op, d);
  if ((op->kind == DY_OP_CONV2D || op->kind == DY_OP_MATMUL) &&
      dy_op_attr(op, "input_zp"))
    return BAD("'input_zp' is for the integer form of '%s'",
               dy_op_name(op->kind));
  if ((op->kind == DY_OP_ADD || op->kind == DY_OP_MUL ||
       op->kind == DY_OP_AVGPOOL || op->kind == DY_OP_GLOBAL_AVGPOOL) &&
      is_plain_int(r)) {
    /* integer form: plain integers in and out, computed exactly */
    for (int i = 0; i < op->noperands; i++)
      if (!is_plain_int(&op->operands[i]->type))
        return BAD("integer '%s' operand %d must be a plain integer, got %s",
                   dy_op_name(op->kind), i,
                   type_str(&op->operands[i]->type, b1, sizeof b1));
    return 0;
  }
  if (op->kind == DY_OP_SOFTMAX &&
      (dy_op_attr(op, "shift") || dy_op_attr(op, "output_zp")))
    return BAD("'softmax' attributes 'shift' and 'output_zp' are for its "
               "integer form (with a table operand)");
  switch (op->kind) {
  case DY_OP_CONV2D:
  case DY_OP_MATMUL:
  case DY_OP_ADD:
  case DY_OP_MUL:
  case DY_OP_RELU:
  case DY_OP_CLIP:
  case DY_OP_HARDSWISH:
  case DY_OP_SIGMOID:
  case DY_OP_TANH:
  case DY_OP_SOFTMAX:
  case DY_OP_AVGPOOL:
  case DY_OP_GLOBAL_AVGPOOL:
  case DY_OP_BATCHNORM:
    for (int i = 0; i < op->noperands; i++)
      if (!is_float_tensor(&op->operands[i]->type))
        return BAD("'%s' operand %d must be f32, got %s", dy_op_name(op->kind),
                   i, type_str(&op->operands[i]->type, b1, sizeof b1));
    if (!is_float_tensor(r))
      return BAD("'%s' result must be f32", dy_op_name(op->kind));
    return 0;
  case DY_OP_IDENTITY:
  case DY_OP_MAXPOOL:
  case DY_OP_PAD:
  case DY_OP_RESHAPE:
  case DY_OP_FLATTEN:
  case DY_OP_TRANSPOSE:
  case DY_OP_CONCAT:
    if (r->elem != x->elem || !dy_quant_equal(r->quant, x->quant))
      return BAD("'%s' result element type must equal the operand's",
                 dy_op_name(op->kind));
    return 0;
  case DY_OP_QUANTIZE:
    if (!is_float_tensor(x))
      return BAD("'quantize' operand must be f32");
    if (!r->quant)
      return BAD("'quantize' result must have a quantized element type");
    return 0;
  case DY_OP_DEQUANTIZE:
    if (op->noperands > 1) {
      const DyType *sc = &op->operands[1]->type;
      if (x->quant || x->elem == DY_F32)
        return BAD("'dequantize' with run-time parameters takes a plain "
                   "integer operand");
      if (!is_float_tensor(sc) || sc->rank != 0)
        return BAD("'dequantize' scale must be tensor<f32>");
      if (op->noperands == 3 &&
          (op->operands[2]->type.elem != x->elem ||
           op->operands[2]->type.quant || op->operands[2]->type.rank != 0))
        return BAD("'dequantize' zero point must be a rank-0 tensor of the "
                   "operand's element type");
      if (!is_float_tensor(r))
        return BAD("'dequantize' result must be f32");
      return 0;
    }
    if (!x->quant)
      return BAD("'dequantize' operand must have a quantized element type");
    if (!is_float_tensor(r))
      return BAD("'dequantize' result must be f32");
    return 0;
  case DY_OP_REQUANT:
    if (x->elem == DY_F32 || r->elem == DY_F32)
      return BAD("'requant' takes and gives integer tensors");
    return 0;
  case DY_OP_DYNAMIC_QUANTIZE: {
    const DyType *sc = &op->results[1]->type, *zp = &op->results[2]->type;
    if (!is_float_tensor(x))
      return BAD("'dynamic_quantize' operand must be f32");
    if (r->elem != DY_U8 || r->quant)
      return BAD("'dynamic_quantize' result 0 must be plain u8");
    if (sc->elem != DY_F32 || sc->quant || sc->rank != 0 || zp->elem != DY_U8 ||
        zp->quant || zp->rank != 0)
      return BAD("'dynamic_quantize' results 1 and 2 must be tensor<f32> "
                 "and tensor<u8> (the scale and zero point)");
    return 0;
  }
  case DY_OP_LOOKUP: {
    const DyType *tab = &op->operands[1]->type;
    if (x->elem != DY_I8 && x->elem != DY_U8 && x->elem != DY_I16)
      return BAD("'lookup' index must be i8, u8 or i16");
    int64_t tlen = x->elem == DY_I16 ? 65536 : 256;
    if (tab->rank != 1 || tab->dims[0] != tlen)
      return BAD("'lookup' table must have shape [%lld]", (long long)tlen);
    if (r->elem != tab->elem)
      return BAD("'lookup' result element type must equal the table's");
    return 0;
  }
  case DY_OP_CONST:
  case DY_OP_COUNT:
    return 0;
  }
  return 0;
}

/* The calibrated range of a value: `range = [lo, hi]`, finite, lo <= hi.
 * Allowed on every op and graph argument (the calibrate pass writes it). */
static int check_range_attr(const DyAttr *a, DyDiag *d, DyLoc at) {
  double lo = 0, hi = 0;
  int ok = (a->kind == DY_ATTR_FLOATS || a->kind == DY_ATTR_INTS) && a->n == 2;
  if (ok) {
    lo = a->kind == DY_ATTR_FLOATS ? a->floats[0] : (double)a->ints[0];
    hi = a->kind == DY_ATTR_FLOATS ? a->floats[1] : (double)a->ints[1];
    ok = isfinite(lo) && isfinite(hi) && lo <= hi;
  }
  if (!ok) {
    dy_error(d, a->loc.line ? a->loc : at,
             "'range' must be [lo, hi] with finite lo <= hi");
    return 1;
  }
  return 0;
}

static int check_attrs(const DyOp *op, DyDiag *d) {
  const char *const *known = known_attrs(op->kind);
  for (int i = 0; i < op->nattrs; i++) {
    int ok = 0;
    if (strcmp(op->attrs[i].name, "range") == 0) {
      if (check_range_attr(&op->attrs[i], d, op->loc))
        return 1;
      continue;
    }
    for (int k = 0; known[k]; k++)
      ok |= strcmp(known[k], op->attrs[i].name) == 0;
    if (!ok) {
      dy_error(d, op->attrs[i].loc.line ? op->attrs[i].loc : op->loc,
               "unknown attribute '%s' for '%s'", op->attrs[i].name,
               dy_op_name(op->kind));
      return 1;
    }
  }
  double lo, hi;
  int64_t v;
  static const char *const pad_modes[] = {"constant", "reflect", "edge", NULL};
  static const char *const qround[] = {"half_even", "half_away", NULL};
  static const char *const rmodes[] = {"tflite-double", "tflite-single",
                                       "tosa-single",   "tosa-double",
                                       "float",         NULL};
  switch (op->kind) {
  case DY_OP_CLIP:
    if (get_float(op, d, "min", -INFINITY, &lo) ||
        get_float(op, d, "max", INFINITY, &hi))
      return 1;
    if (lo > hi)
      return BAD("'clip' min (%g) is greater than max (%g)", lo, hi);
    return 0;
  case DY_OP_PAD:
    return get_enum(op, d, "mode", pad_modes) ||
           get_float(op, d, "value", 0, &lo);
  case DY_OP_BATCHNORM:
    if (get_float(op, d, "epsilon", 1e-5, &lo))
      return 1;
    if (!(lo >= 0) || isinf(lo))
      return BAD("'batchnorm' epsilon must be finite and >= 0");
    return 0;
  case DY_OP_QUANTIZE:
    return get_enum(op, d, "rounding", qround);
  case DY_OP_REQUANT: {
    const DyType *x = &op->operands[0]->type, *r = &op->results[0]->type;
    if (get_enum(op, d, "rounding", rmodes) ||
        get_int(op, d, "input_zp", 0, INT32_MIN, INT32_MAX, &v) ||
        get_int(op, d, "output_zp", 0, INT32_MIN, INT32_MAX, &v))
      return 1;
    const char *mode = dy_op_str(op, "rounding", "tflite-double");
    const DyAttr *m = dy_op_attr(op, "multiplier"),
                 *s = dy_op_attr(op, "shift"), *sc = dy_op_attr(op, "scale");
    int nch;
    if (strcmp(mode, "float") == 0) {
      /* a real scale: for ONNX's QLinear ops and for comparison */
      if (!sc || sc->kind != DY_ATTR_FLOATS || sc->n < 1)
        return BAD("'requant' rounding \"float\" requires a 'scale' list");
      if (m || s)
        return BAD("'requant' rounding \"float\" takes 'scale', not "
                   "'multiplier' and 'shift'");
      for (int i = 0; i < sc->n; i++)
        if (!(sc->floats[i] > 0) || isinf(sc->floats[i]))
          return BAD("'requant' scale %g must be positive and finite",
                     sc->floats[i]);
      nch = sc->n;
    } else {
      if (!m || !s)
        return BAD(
            "'requant' requires the attributes 'multiplier' and 'shift'");
      if (sc)
        return BAD("'requant' attribute 'scale' needs rounding \"float\"");
      if (m->kind != DY_ATTR_INTS || s->kind != DY_ATTR_INTS || m->n != s->n ||
          m->n < 1)
        return BAD("'requant' multiplier and shift must be integer lists of "
                   "the same length");
      int64_t smin = -31, smax = 31;
      if (strcmp(mode, "tflite-single") == 0)
        smax = 30;
      else if (strncmp(mode, "tosa", 4) == 0)
        smax = 29; /* TOSA right shift 31 - shift must be in [2, 62] */
      for (int i = 0; i < m->n; i++) {
        if (m->ints[i] < 0 || m->ints[i] > INT32_MAX)
          return BAD("'requant' multiplier %lld out of range [0, 2^31)",
                     (long long)m->ints[i]);
        if (s->ints[i] < smin || s->ints[i] > smax)
          return BAD("'requant' shift %lld out of range [%lld, %lld] for "
                     "rounding \"%s\"",
                     (long long)s->ints[i], (long long)smin, (long long)smax,
                     mode);
      }
      nch = m->n;
    }
    if (nch > 1) {
      if (get_int(op, d, "axis", -1, INT32_MIN, INT32_MAX, &v))
        return 1;
      int ax;
      if (!norm_axis(v, x->rank, &ax))
        return BAD("'requant' axis %lld out of range for rank %d", (long long)v,
                   x->rank);
      if (x->dims[ax] != nch)
        return BAD("'requant' has %d multipliers for %lld channels on axis "
                   "%d",
                   nch, (long long)x->dims[ax], ax);
    }
    const DyAttr *c = dy_op_attr(op, "clamp");
    if (c) {
      int64_t rlo, rhi;
      dy_elem_range(r->elem, &rlo, &rhi);
      if (r->quant) {
        rlo = r->quant->qmin;
        rhi = r->quant->qmax;
      }
      if (c->kind != DY_ATTR_INTS || c->n != 2 || c->ints[0] > c->ints[1] ||
          c->ints[0] < rlo || c->ints[1] > rhi)
        return BAD("'requant' clamp must be [lo, hi] within [%lld, %lld]",
                   (long long)rlo, (long long)rhi);
    }
    return 0;
  }
  default:
    return 0;
  }
}

static int check_type(const DyType *t, DyDiag *d, DyLoc loc, const char *what) {
  if (t->rank < 0 || t->rank > DY_MAX_RANK) {
    dy_error(d, loc, "%s has rank %d, the maximum is %d", what, t->rank,
             DY_MAX_RANK);
    return 1;
  }
  for (int i = 0; i < t->rank; i++)
    if (t->dims[i] < 0) {
      dy_error(d, loc, "%s has a negative dimension", what);
      return 1;
    }
  if (dy_type_numel(t) < 0) {
    dy_error(d, loc, "%s has too many elements", what);
    return 1;
  }
  const DyQuant *q = t->quant;
  if (!q)
    return 0;
  if (q->storage != t->elem || q->storage == DY_F32) {
    dy_error(d, loc,
             "%s: quantized storage type must be its integer element "
             "type",
             what);
    return 1;
  }
  int64_t expect = 1;
  if (q->kind == DY_QUANT_PER_AXIS) {
    if (q->axis < 0 || q->axis >= t->rank) {
      dy_error(d, loc, "%s: quantized axis %d out of range", what, q->axis);
      return 1;
    }
    expect = t->dims[q->axis];
  } else if (q->kind == DY_QUANT_BLOCKED) {
    int64_t shape[DY_MAX_RANK];
    for (int i = 0; i < t->rank; i++)
      if (q->block[i] < 0 || (q->block[i] && t->dims[i] % q->block[i])) {
        dy_error(d, loc, "%s: block size %lld does not divide dimension %d",
                 what, (long long)q->block[i], i);
        return 1;
      }
    dy_quant_block_shape(q, t, shape);
    for (int i = 0; i < t->rank; i++)
      expect *= shape[i];
  }
  if (q->nparams != expect) {
    dy_error(d, loc, "%s has %lld quantization parameters, expected %lld", what,
             (long long)q->nparams, (long long)expect);
    return 1;
  }
  int64_t lo, hi;
  dy_elem_range(q->storage, &lo, &hi);
  for (int64_t i = 0; i < q->nparams; i++) {
    if (!(q->scales[i] > 0) || isinf(q->scales[i])) {
      dy_error(d, loc, "%s: scale %g must be positive and finite", what,
               q->scales[i]);
      return 1;
    }
    if (q->zero_points[i] < lo || q->zero_points[i] > hi) {
      dy_error(d, loc, "%s: zero point %lld out of range for %s", what,
               (long long)q->zero_points[i], dy_elem_name(q->storage));
      return 1;
    }
  }
  return 0;
}

static int verify_op(const DyOp *op, DyDiag *d) {
  int mino, maxo, nr;
  dy_op_arity(op->kind, &mino, &maxo, &nr);
  const char *name = dy_op_name(op->kind);
  if (op->nresults != nr)
    return BAD("'%s' must have %d result%s, got %d", name, nr,
               nr == 1 ? "" : "s", op->nresults);
  if (op->noperands < mino || (maxo >= 0 && op->noperands > maxo)) {
    if (maxo < 0)
      return BAD("'%s' takes at least %d operand%s, got %d", name, mino,
                 mino == 1 ? "" : "s", op->noperands);
    if (mino == maxo)
      return BAD("'%s' takes %d operand%s, got %d", name, mino,
                 mino == 1 ? "" : "s", op->noperands);
    return BAD("'%s' takes %d to %d operands, got %d", name, mino, maxo,
               op->noperands);
  }
  for (int i = 0; i < op->nresults; i++)
    if (check_type(&op->results[i]->type, d, op->loc, "result type"))
      return 1;
  if (op->kind == DY_OP_CONST) {
    int ovf;
    size_t n = dy_type_nbytes(&op->results[0]->type, &ovf);
    if (!op->data || ovf || op->data->nbytes != n)
      return BAD("'const' data does not match its type");
    if (op->nattrs) {
      dy_error(d, op->attrs[0].loc.line ? op->attrs[0].loc : op->loc,
               "unknown attribute '%s' for 'const'", op->attrs[0].name);
      return 1;
    }
    return 0;
  }
  if (check_attrs(op, d) || check_elem_types(op, d))
    return 1;
  DyType t;
  if (dy_op_infer_type(op, &t, d))
    return 1;
  const DyType *r = &op->results[0]->type;
  if (op->kind == DY_OP_RESHAPE &&
      dy_type_numel(r) != dy_type_numel(&op->operands[0]->type))
    return BAD("'reshape' changes the number of elements from %lld to %lld",
               (long long)dy_type_numel(&op->operands[0]->type),
               (long long)dy_type_numel(r));
  if (!dy_shape_equal(&t, r)) {
    char b1[256], b2[256];
    return BAD("'%s' result type %s does not match the inferred %s", name,
               type_str(r, b1, sizeof b1), type_str(&t, b2, sizeof b2));
  }
  return 0;
}

int dy_graph_verify(const DyGraph *g, DyDiag *d) {
  int before = d->nerrors;
  DyPtrSet defined;
  dy_ptrset_init(&defined);
  for (int i = 0; i < g->ninputs; i++) {
    const DyValue *in = g->inputs[i];
    check_type(&in->type, d, g->loc, "graph input type");
    for (int k = 0; k < in->nattrs; k++) {
      const DyAttr *a = &in->attrs[k];
      if (strcmp(a->name, "range") != 0)
        dy_error(d, a->loc.line ? a->loc : g->loc,
                 "unknown attribute '%s' for graph argument '%%%s'", a->name,
                 in->name);
      else
        check_range_attr(a, d, g->loc);
    }
    dy_ptrset_add(&defined, in);
  }
  for (const DyOp *op = g->first; op; op = op->next) {
    int bad = 0;
    for (int i = 0; i < op->noperands; i++)
      if (!dy_ptrset_has(&defined, op->operands[i])) {
        dy_error(d, op->loc,
                 "operand '%%%s' of '%s' is used before it is "
                 "defined",
                 op->operands[i]->name, dy_op_name(op->kind));
        bad = 1;
      }
    if (!bad)
      verify_op(op, d);
    for (int i = 0; i < op->nresults; i++)
      dy_ptrset_add(&defined, op->results[i]);
  }
  if (g->noutputs < 1)
    dy_error(d, g->loc, "graph '@%s' has no outputs", g->name);
  for (int i = 0; i < g->noutputs; i++)
    if (!dy_ptrset_has(&defined, g->outputs[i]))
      dy_error(d, g->loc, "graph output '%%%s' is not defined",
               g->outputs[i]->name);
  dy_ptrset_fini(&defined);
  return d->nerrors - before;
}
