/* The interpreter's data movement (identity, reshape, flatten, transpose,
 * concat, pad): each op is a map from result elements to the operand
 * elements they copy, converted through their values when the types
 * differ. */
#include <stdlib.h>
#include <string.h>

#include "real.h"

int dy_move_identity(const DyOp *op, int *src_op, int64_t *src_idx, DyDiag *d) {
  const DyType *tx = &op->operands[0]->type, *ty = &op->results[0]->type;
  if (op->kind == DY_OP_IDENTITY &&
      dy_interp_expect_dims(op, d, tx->rank, tx->dims))
    return 1;
  if (dy_interp_numel(tx) != dy_interp_numel(ty))
    return dy_interp_fail(op, d, "result has %lld elements, the input %lld",
                          (long long)dy_interp_numel(ty),
                          (long long)dy_interp_numel(tx));
  for (int64_t i = 0; i < dy_interp_numel(ty); i++) {
    src_op[i] = 0;
    src_idx[i] = i;
  }
  return 0;
}

int dy_move_flatten(const DyOp *op, int *src_op, int64_t *src_idx, DyDiag *d) {
  const DyType *tx = &op->operands[0]->type;
  int64_t axis;
  if (dy_attr_read_int(op, "axis", 1, INT64_MIN, INT64_MAX, &axis, d))
    return 1;
  if (axis < -tx->rank || axis > tx->rank)
    return dy_interp_fail(op, d, "axis %lld is out of range for rank %d",
                          (long long)axis, tx->rank);
  int a = (int)(axis < 0 ? axis + tx->rank : axis);
  int64_t ydims[2] = {dy_interp_dims_prod(tx->dims, 0, a),
                      dy_interp_dims_prod(tx->dims, a, tx->rank)};
  if (dy_interp_expect_dims(op, d, 2, ydims))
    return 1;
  return dy_move_identity(op, src_op, src_idx, d);
}

int dy_move_transpose(const DyOp *op, int *src_op, int64_t *src_idx,
                      DyDiag *d) {
  const DyType *tx = &op->operands[0]->type;
  int r = tx->rank;
  int64_t perm[DY_MAX_RANK] = {0}, ydims[DY_MAX_RANK] = {0};
  if (dy_attr_read_ints(op, "perm", r, NULL, 0, perm, d))
    return 1;
  int seen[DY_MAX_RANK] = {0};
  for (int k = 0; k < r; k++) {
    if (perm[k] >= r || seen[perm[k]]++)
      return dy_interp_fail(op, d, "perm is not a permutation");
    ydims[k] = tx->dims[perm[k]];
  }
  if (dy_interp_expect_dims(op, d, r, ydims))
    return 1;
  int64_t n = dy_interp_numel(tx), cy[DY_MAX_RANK], cx[DY_MAX_RANK];
  for (int64_t i = 0; i < n; i++) {
    dy_interp_unravel(i, r, ydims, cy);
    for (int k = 0; k < r; k++)
      cx[perm[k]] = cy[k]; /* y[..., c_k, ...] = x[..., c at perm[k], ...] */
    src_op[i] = 0;
    src_idx[i] = dy_interp_ravel(cx, r, tx->dims);
  }
  return 0;
}

int dy_move_concat(const DyOp *op, int *src_op, int64_t *src_idx, DyDiag *d) {
  const DyType *t0 = &op->operands[0]->type;
  int r = t0->rank, axis;
  int64_t axis_attr;
  if (!dy_op_attr(op, "axis"))
    return dy_interp_fail(op, d, "missing attribute 'axis'");
  if (dy_attr_read_int(op, "axis", 0, INT64_MIN, INT64_MAX, &axis_attr, d))
    return 1;
  if (dy_axis_normalize(axis_attr, r, &axis))
    return dy_interp_fail(op, d, "axis %lld is out of range for rank %d",
                          (long long)axis_attr, r);
  int64_t ydims[DY_MAX_RANK];
  memcpy(ydims, t0->dims, sizeof ydims);
  ydims[axis] = 0;
  for (int i = 0; i < op->noperands; i++) {
    const DyType *t = &op->operands[i]->type;
    if (t->rank != r)
      return dy_interp_fail(op, d, "operand %d has rank %d, not %d", i, t->rank,
                            r);
    for (int k = 0; k < r; k++)
      if (k != axis && t->dims[k] != t0->dims[k])
        return dy_interp_fail(op, d, "operand %d differs in size along axis %d",
                              i, k);
    ydims[axis] += t->dims[axis];
  }
  if (dy_interp_expect_dims(op, d, r, ydims))
    return 1;
  int64_t n = dy_interp_dims_prod(ydims, 0, r), c[DY_MAX_RANK];
  for (int64_t i = 0; i < n; i++) {
    dy_interp_unravel(i, r, ydims, c);
    int k = 0;
    while (c[axis] >= op->operands[k]->type.dims[axis]) {
      c[axis] -= op->operands[k]->type.dims[axis];
      k++;
    }
    src_op[i] = k;
    src_idx[i] = dy_interp_ravel(c, r, op->operands[k]->type.dims);
  }
  return 0;
}

/* Where index i (outside [0, n)) reads from under reflect (mirror without
 * repeating the edge, as numpy.pad and ONNX Pad) or edge (clamp). */
static int64_t pad_source(int64_t i, int64_t n, int reflect) {
  if (!reflect || n == 1)
    return i < 0 ? 0 : n - 1;
  int64_t period = 2 * (n - 1);
  int64_t j = i % period;
  if (j < 0)
    j += period;
  return j < n ? j : period - j;
}

int dy_move_pad(const DyOp *op, int *src_op, int64_t *src_idx, DyDiag *d) {
  const DyType *tx = &op->operands[0]->type;
  int r = tx->rank;
  int64_t pads[2 * DY_MAX_RANK] = {0}, ydims[DY_MAX_RANK] = {0};
  const char *mode;
  static const char *const modes[] = {"constant", "reflect", "edge", NULL};
  if (dy_attr_read_ints(op, "pads", 2 * r, NULL, 0, pads, d) ||
      dy_attr_read_enum(op, "mode", modes, "constant", &mode, d))
    return 1;
  int constant = strcmp(mode, "constant") == 0;
  int reflect = strcmp(mode, "reflect") == 0;
  if (!constant && !reflect && strcmp(mode, "edge") != 0)
    return dy_interp_fail(op, d, "unknown mode \"%s\"", mode);
  for (int k = 0; k < r; k++) {
    ydims[k] = tx->dims[k] + pads[k] + pads[r + k];
    if (ydims[k] < 0)
      return dy_interp_fail(op, d, "pads remove more than axis %d holds", k);
    if (!constant && tx->dims[k] == 0 && ydims[k] > 0)
      return dy_interp_fail(op, d, "cannot %s-pad the empty axis %d", mode, k);
  }
  if (dy_interp_expect_dims(op, d, r, ydims))
    return 1;
  int64_t n = dy_interp_dims_prod(ydims, 0, r), c[DY_MAX_RANK];
  for (int64_t i = 0; i < n; i++) {
    dy_interp_unravel(i, r, ydims, c);
    int fill = 0;
    for (int k = 0; k < r; k++) {
      c[k] -= pads[k];
      if (c[k] >= 0 && c[k] < tx->dims[k])
        continue;
      if (constant)
        fill = 1;
      else
        c[k] = pad_source(c[k], tx->dims[k], reflect);
    }
    src_op[i] = fill ? -1 : 0;
    src_idx[i] = fill ? 0 : dy_interp_ravel(c, r, tx->dims);
  }
  return 0;
}

/* Runs a movement op: the map says where each element comes from; elements
 * are copied when the operand has the result's type, else converted
 * through their values. */
int dy_interp_eval_move(const DyOp *op, const DyTensor *operands, DyTensor *out,
                        DyDiag *d, MoveMap map) {
  const DyType *ty = &op->results[0]->type;
  for (int i = 0; i < op->noperands; i++)
    if (dy_interp_is_real(&op->operands[i]->type) != dy_interp_is_real(ty))
      return dy_interp_fail(
          op, d, "mixed integer and real element types (%s, %s)",
          dy_elem_name(op->operands[i]->type.elem), dy_elem_name(ty->elem));
  int64_t n = dy_interp_numel(ty);
  int *src_op = malloc((size_t)(n ? n : 1) * sizeof *src_op);
  int64_t *src_idx = malloc((size_t)(n ? n : 1) * sizeof *src_idx);
  int rc = 1;
  if (!src_op || !src_idx) {
    dy_interp_fail(op, d, "out of memory");
    goto done;
  }
  if (map(op, src_op, src_idx, d))
    goto done;
  double value = 0;
  if (op->kind == DY_OP_PAD && dy_attr_read_float(op, "value", 0.0, &value, d))
    goto done;
  QMap my;
  if (dy_interp_qmap_init(&my, ty, op, d) || dy_tensor_alloc(&out[0], ty, d))
    goto done;
  size_t esize = dy_elem_size(ty->elem);
  for (int64_t i = 0; i < n; i++) {
    int k = src_op[i];
    if (k < 0) {
      if (dy_interp_store_value(op, d, ty, &my, out[0].data, i, value))
        goto fail;
      continue;
    }
    const DyType *tx = &op->operands[k]->type;
    const void *x = operands[k].data;
    if (tx->elem == ty->elem &&
        (tx->quant == ty->quant ||
         (tx->quant && ty->quant && dy_quant_equal(tx->quant, ty->quant)))) {
      memcpy((unsigned char *)out[0].data + (size_t)i * esize,
             (const unsigned char *)x + (size_t)src_idx[i] * esize, esize);
      continue;
    }
    QMap mx;
    if (dy_interp_qmap_init(&mx, tx, op, d))
      goto fail;
    if (dy_interp_store_value(op, d, ty, &my, out[0].data, i,
                              dy_interp_load_value(tx, &mx, x, src_idx[i])))
      goto fail;
  }
  rc = 0;
  goto done;
fail:
  dy_tensor_free(&out[0]);
done:
  free(src_op);
  free(src_idx);
  return rc;
}

int dy_interp_move_map(const DyOp *op, int *src_op, int64_t *src_idx,
                       DyDiag *d) {
  switch (op->kind) {
  case DY_OP_IDENTITY:
  case DY_OP_RESHAPE:
    return dy_move_identity(op, src_op, src_idx, d);
  case DY_OP_FLATTEN:
    return dy_move_flatten(op, src_op, src_idx, d);
  case DY_OP_TRANSPOSE:
    return dy_move_transpose(op, src_op, src_idx, d);
  case DY_OP_CONCAT:
    return dy_move_concat(op, src_op, src_idx, d);
  case DY_OP_PAD:
    return dy_move_pad(op, src_op, src_idx, d);
  default:
    return dy_interp_fail(op, d, "not a data movement op");
  }
}
