/* Result type inference (dy_op_infer_type): the type of an op's first result
 * from its operands and attributes, shared by the verifier and the passes. */
#include <stdint.h>
#include <string.h>

#include "dyad/ir.h"
#include "dyad/shape.h"
#include "dyad/text.h"
#include "verify_internal.h"

static int infer_conv(const DyOp *op, DyType *t, DyDiag *d) {
  DyConvGeom g;
  if (dy_conv_geom(op, &g, d))
    return 1;
  *t = op->operands[0]->type;
  t->dims[1] = g.OH;
  t->dims[2] = g.OW;
  t->dims[3] = g.OC;
  return 0;
}

static int infer_pool(const DyOp *op, DyType *t, DyDiag *d) {
  DyPoolGeom g;
  if (dy_pool_geom(op, &g, d))
    return 1;
  *t = op->operands[0]->type;
  t->dims[1] = g.OH;
  t->dims[2] = g.OW;
  return 0;
}

static int infer_broadcast(const DyOp *op, DyType *t, DyDiag *d) {
  DyBcastGeom g;
  if (dy_bcast_geom(op, &g, d))
    return 1;
  *t = op->operands[0]->type;
  t->rank = g.rank;
  memcpy(t->dims, g.dy, sizeof t->dims);
  return 0;
}

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
    if (dy_attr_read_int(op, "axis", -1, INT32_MIN, INT32_MAX, &v, d))
      return 1;
    if (dy_axis_normalize(v, x->rank, &axis))
      return BAD("'softmax' axis %lld out of range for rank %d", (long long)v,
                 x->rank);
    break;
  case DY_OP_CONV2D:
    if (infer_conv(op, &t, d))
      return 1;
    break;
  case DY_OP_MATMUL: {
    DyMatmulGeom g;
    if (dy_matmul_geom(op, &g, d))
      return 1;
    t.dims[t.rank - 1] = g.N;
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
    if (dy_attr_read_ints(op, "pads", 2 * x->rank, NULL, 0, p, d))
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
    if (dy_attr_read_int(op, "axis", 1, -x->rank, x->rank, &v, d))
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
    if (dy_attr_read_ints(op, "perm", x->rank, NULL, 0, perm, d))
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
    if (dy_attr_read_int(op, "axis", 0, INT32_MIN, INT32_MAX, &v, d))
      return 1;
    if (dy_axis_normalize(v, x->rank, &axis))
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
