/* ONNX constants and shape computations, evaluated at import: Constant,
 * Shape, Gather, Cast, ConstantOfShape and arithmetic on constants.
 *
 * Shape computations (Shape, Gather, Unsqueeze, Concat, Cast, arithmetic on
 * int64 constants, ...) are evaluated here, so their results reach the IR
 * only as the constants they are. */
#include <string.h>

#include "import_internal.h"

void imp_constant(Imp *m) {
  const Onnx__NodeProto *n = m->node;
  if (n->n_attribute != 1)
    dy_onnx_unsupported(m, "Constant needs exactly one attribute");
  const Onnx__AttributeProto *a = n->attribute[0];
  const char *an = a->name ? a->name : "";
  Host *h;
  if (strcmp(an, "value") == 0 && a->t) {
    h = dy_onnx_host_from_proto(m, a->t, "Constant value");
  } else if (strcmp(an, "value_float") == 0) {
    h = dy_onnx_new_host(m, T_FLOAT, 0, NULL);
    *(float *)h->data = a->f;
  } else if (strcmp(an, "value_int") == 0) {
    h = dy_onnx_new_host(m, T_INT64, 0, NULL);
    *(int64_t *)h->data = a->i;
  } else if (strcmp(an, "value_floats") == 0 || strcmp(an, "value_ints") == 0) {
    int isf = an[6] == 'f';
    int64_t cnt = isf ? (int64_t)a->n_floats : (int64_t)a->n_ints;
    h = dy_onnx_new_host(m, isf ? T_FLOAT : T_INT64, 1, &cnt);
    if (cnt)
      memcpy(h->data, isf ? (void *)a->floats : (void *)a->ints, h->nbytes);
  } else {
    dy_onnx_unsupported(m, "unsupported attribute '%s'", an);
  }
  dy_onnx_def_host(m, 0, h);
}

void imp_shape(Imp *m) {
  static const char *const ok[] = {"start", "end", NULL};
  dy_onnx_check_attrs(m, ok);
  Val *x = dy_onnx_req(m, 0);
  int64_t start = dy_onnx_attr_i(m, "start", 0),
          end = dy_onnx_attr_i(m, "end", x->rank);
  if (start < 0)
    start += x->rank;
  if (end < 0)
    end += x->rank;
  start = start < 0 ? 0 : start > x->rank ? x->rank : start;
  end = end < start ? start : end > x->rank ? x->rank : end;
  int64_t n = end - start;
  Host *h = dy_onnx_new_host(m, T_INT64, 1, &n);
  for (int64_t i = 0; i < n; i++)
    ((int64_t *)h->data)[i] = x->dims[start + i];
  dy_onnx_def_host(m, 0, h);
}

void imp_gather(Imp *m) {
  static const char *const ok[] = {"axis", NULL};
  dy_onnx_check_attrs(m, ok);
  Val *x = dy_onnx_req(m, 0);
  Host *idx = dy_onnx_const_in(m, 1, "indices");
  if (!x->k)
    dy_onnx_unsupported(m, "Gather of a non-constant tensor");
  int axis = dy_onnx_norm_axis(m, dy_onnx_attr_i(m, "axis", 0), x->rank);
  int64_t od[DY_MAX_RANK];
  int r = 0;
  if (x->rank - 1 + idx->rank > DY_MAX_RANK) /* before filling od */
    dy_onnx_unsupported(m, "result rank %d", x->rank - 1 + idx->rank);
  for (int i = 0; i < axis; i++)
    od[r++] = x->dims[i];
  for (int i = 0; i < idx->rank; i++)
    od[r++] = idx->dims[i];
  for (int i = axis + 1; i < x->rank; i++)
    od[r++] = x->dims[i];
  Host *h = dy_onnx_new_host(m, x->dtype, r, od);
  size_t esz = dy_onnx_dtype_size(x->dtype);
  int64_t outer = 1, inner = 1, ni = dy_onnx_host_numel(idx);
  for (int i = 0; i < axis; i++)
    outer *= x->dims[i];
  for (int i = axis + 1; i < x->rank; i++)
    inner *= x->dims[i];
  for (int64_t j = 0; j < ni; j++) {
    int64_t k = dy_onnx_host_int(idx, j);
    if (k < -x->dims[axis] || k >= x->dims[axis])
      dy_onnx_invalid(m, "index %lld out of range", (long long)k);
  }
  char *dst = h->data;
  for (int64_t o = 0; h->nbytes && o < outer; o++)
    for (int64_t j = 0; j < ni; j++) {
      int64_t k = dy_onnx_host_int(idx, j);
      if (k < 0)
        k += x->dims[axis];
      memcpy(dst,
             (const char *)x->k->data +
                 (size_t)((o * x->dims[axis] + k) * inner) * esz,
             (size_t)inner * esz);
      dst += (size_t)inner * esz;
    }
  dy_onnx_def_host(m, 0, h);
}

void imp_cast(Imp *m) {
  static const char *const ok[] = {"to", "saturate", NULL};
  dy_onnx_check_attrs(m, ok);
  Val *x = dy_onnx_req(m, 0);
  int to = (int)dy_onnx_attr_i(m, "to", 0);
  if (!x->k) {
    if (to == x->dtype) { /* a no-op cast */
      if (!x->v && x->given)
        dy_onnx_make_input(m, x);
      Val *o = dy_onnx_out_val(m, 0);
      Val keep = *o;
      *o = *x;
      o->name = keep.name;
      return;
    }
    dy_onnx_unsupported(m, "Cast of a non-constant tensor to %s",
                        dy_onnx_dtype_name(to));
  }
  if (to != T_INT64 && to != T_FLOAT && to != T_INT32 && to != T_INT16 &&
      to != T_INT8 && to != T_UINT8)
    dy_onnx_unsupported(m, "Cast to %s", dy_onnx_dtype_name(to));
  if (x->dtype == T_FLOAT && to != T_FLOAT)
    dy_onnx_unsupported(m, "Cast of float to %s", dy_onnx_dtype_name(to));
  Host *h = dy_onnx_new_host(m, to, x->rank, x->dims);
  for (int64_t i = 0; i < dy_onnx_host_numel(x->k); i++) {
    int64_t v = to == T_FLOAT ? 0 : dy_onnx_host_int(x->k, i);
    switch (to) { /* integer casts wrap, as C and numpy do */
    case T_FLOAT:
      ((float *)h->data)[i] = (float)dy_onnx_host_f(x->k, i);
      break;
    case T_INT64:
      ((int64_t *)h->data)[i] = v;
      break;
    case T_INT32:
      ((int32_t *)h->data)[i] = (int32_t)(uint32_t)v;
      break;
    case T_INT16:
      ((int16_t *)h->data)[i] = (int16_t)(uint16_t)v;
      break;
    case T_INT8:
      ((int8_t *)h->data)[i] = (int8_t)(uint8_t)v;
      break;
    default:
      ((uint8_t *)h->data)[i] = (uint8_t)v;
      break;
    }
  }
  dy_onnx_def_host(m, 0, h);
}

void imp_constant_of_shape(Imp *m) {
  static const char *const ok[] = {"value", NULL};
  dy_onnx_check_attrs(m, ok);
  Host *shape = dy_onnx_const_in(m, 0, "shape");
  if (shape->rank != 1 || shape->dims[0] > DY_MAX_RANK)
    dy_onnx_unsupported(m, "shape must be a vector of at most %d values",
                        DY_MAX_RANK);
  int64_t dims[DY_MAX_RANK];
  for (int i = 0; i < (int)shape->dims[0]; i++)
    dims[i] = dy_onnx_host_int(shape, i);
  const Onnx__AttributeProto *a = dy_onnx_attr(m, "value");
  Host *v = NULL;
  if (a) {
    if (!a->t)
      dy_onnx_invalid(m, "attribute 'value' must be a tensor");
    v = dy_onnx_host_from_proto(m, a->t, "value");
    if (dy_onnx_host_numel(v) != 1)
      dy_onnx_invalid(m, "'value' must hold one element");
  }
  Host *h =
      dy_onnx_new_host(m, v ? v->dtype : T_FLOAT, (int)shape->dims[0], dims);
  size_t esz = dy_onnx_dtype_size(h->dtype);
  for (size_t off = 0; off < h->nbytes; off += esz)
    if (v)
      memcpy((char *)h->data + off, v->data, esz);
    else
      memset((char *)h->data + off, 0, esz);
  dy_onnx_def_host(m, 0, h);
}

/* Elementwise arithmetic on two constants (numpy broadcasting). */
int dy_onnx_fold_arith(Imp *m) {
  const char *op = m->node->op_type;
  int kind = strcmp(op, "Add") == 0   ? 0
             : strcmp(op, "Sub") == 0 ? 1
             : strcmp(op, "Mul") == 0 ? 2
             : strcmp(op, "Div") == 0 ? 3
                                      : -1;
  if (kind < 0 || dy_onnx_nin(m->node) != 2)
    return 0;
  Val *a = dy_onnx_req(m, 0), *b = dy_onnx_req(m, 1);
  if (!a->k || !b->k || a->v || b->v || a->dtype != b->dtype ||
      (a->dtype != T_INT64 && a->dtype != T_FLOAT && a->dtype != T_INT32))
    return 0;
  int64_t od[DY_MAX_RANK];
  int r = dy_onnx_bcast(m, a, b, od);
  Host *h = dy_onnx_new_host(m, a->dtype, r, od);
  int64_t n = dy_onnx_numel(r, od);
  for (int64_t i = 0; i < n; i++) {
    int64_t ia = 0, ib = 0, sa = 1, sb = 1, rem = i;
    for (int d = r - 1; d >= 0; d--) {
      int64_t c = rem % od[d];
      rem /= od[d];
      int da = d - (r - a->rank), db = d - (r - b->rank);
      if (da >= 0) {
        ia += (a->dims[da] == 1 ? 0 : c) * sa;
        sa *= a->dims[da];
      }
      if (db >= 0) {
        ib += (b->dims[db] == 1 ? 0 : c) * sb;
        sb *= b->dims[db];
      }
    }
    if (a->dtype == T_FLOAT) {
      float x = ((const float *)a->k->data)[ia],
            y = ((const float *)b->k->data)[ib];
      ((float *)h->data)[i] = kind == 0   ? x + y
                              : kind == 1 ? x - y
                              : kind == 2 ? x * y
                                          : x / y;
    } else {
      int64_t x = dy_onnx_host_int(a->k, ia), y = dy_onnx_host_int(b->k, ib), v;
      if (kind == 3 && y == 0)
        dy_onnx_invalid(m, "integer division by zero");
      if (kind == 0   ? __builtin_add_overflow(x, y, &v)
          : kind == 1 ? __builtin_sub_overflow(x, y, &v)
          : kind == 2 ? __builtin_mul_overflow(x, y, &v)
                      : (x == INT64_MIN && y == -1))
        dy_onnx_invalid(m, "integer overflow in shape arithmetic");
      if (kind == 3) /* numpy floor division, as ONNX's reference */
        v = x / y - ((x % y != 0) && ((x < 0) != (y < 0)));
      if (a->dtype == T_INT64)
        ((int64_t *)h->data)[i] = v;
      else
        ((int32_t *)h->data)[i] = (int32_t)v;
    }
  }
  dy_onnx_def_host(m, 0, h);
  return 1;
}
