/* The interpreter's tensors and diagnostics: allocation, messages at an
 * op, and the shape arithmetic every kernel indexes with. Used by both the
 * integer path and the real domain, it names no real-number type. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dyad/shape.h"
#include "tensor.h"

/* Reports "opname: message" at the op and returns 1. */
int dy_interp_fail(const DyOp *op, DyDiag *d, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  dy_error(d, op->loc, "%s: %s", dy_op_name(op->kind), msg);
  return 1;
}

/* Appends to buf[0..n) at *k, truncating safely. */
static void sappend(char *buf, size_t n, size_t *k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void sappend(char *buf, size_t n, size_t *k, const char *fmt, ...) {
  if (*k >= n)
    return;
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(buf + *k, n - *k, fmt, ap);
  va_end(ap);
  if (w > 0)
    *k += (size_t)w < n - *k ? (size_t)w : n - *k - 1;
}

/* Writes a type as in the text form, e.g. tensor<1x4xf32>; quantization
 * parameters other than per-tensor ones are abbreviated. */
const char *dy_interp_type_str(const DyType *t, char *buf, size_t n) {
  size_t k = 0;
  buf[0] = 0;
  sappend(buf, n, &k, "tensor<");
  for (int i = 0; i < t->rank; i++)
    sappend(buf, n, &k, "%lldx", (long long)t->dims[i]);
  if (t->quant && t->quant->kind == DY_QUANT_PER_TENSOR &&
      t->quant->nparams == 1)
    sappend(buf, n, &k, "!quant.uniform<%s:f32, %.9g:%lld>",
            dy_elem_name(t->elem), t->quant->scales[0],
            (long long)t->quant->zero_points[0]);
  else if (t->quant)
    sappend(buf, n, &k, "!quant.uniform<%s:f32, ...>", dy_elem_name(t->elem));
  else
    sappend(buf, n, &k, "%s", dy_elem_name(t->elem));
  sappend(buf, n, &k, ">");
  return buf;
}

/* --- tensors --- */

int dy_tensor_alloc(DyTensor *t, const DyType *type, DyDiag *d) {
  memset(t, 0, sizeof *t);
  int overflow;
  size_t nbytes = dy_type_nbytes(type, &overflow);
  if (overflow || (size_t)type->elem >= DY_ELEM_COUNT) {
    char buf[256];
    dy_error(d, (DyLoc){0}, "tensor type %s is too large",
             dy_interp_type_str(type, buf, sizeof buf));
    return 1;
  }
  void *data = calloc(nbytes ? nbytes : 1, 1);
  if (!data) {
    dy_error(d, (DyLoc){0}, "out of memory allocating %zu bytes", nbytes);
    return 1;
  }
  t->type = *type;
  t->data = data;
  t->nbytes = nbytes;
  return 0;
}

void dy_tensor_free(DyTensor *t) {
  free(t->data);
  memset(t, 0, sizeof *t);
}

/* --- shapes --- */

int64_t dy_interp_numel(const DyType *t) {
  int64_t n = dy_type_numel(t);
  return n < 0 ? 0 : n;
}

/* Row-major coordinates of flat index i in dims. */
void dy_interp_unravel(int64_t i, int rank, const int64_t *dims, int64_t *c) {
  for (int k = rank - 1; k >= 0; k--) {
    c[k] = dims[k] ? i % dims[k] : 0;
    i = dims[k] ? i / dims[k] : 0;
  }
}

int64_t dy_interp_ravel(const int64_t *c, int rank, const int64_t *dims) {
  int64_t i = 0;
  for (int k = 0; k < rank; k++)
    i = i * dims[k] + c[k];
  return i;
}

/* Product of dims[from..to). */
int64_t dy_interp_dims_prod(const int64_t *dims, int from, int to) {
  int64_t p = 1;
  for (int k = from; k < to; k++)
    p *= dims[k];
  return p;
}

int dy_interp_expect_dims(const DyOp *op, DyDiag *d, int rank,
                          const int64_t *dims) {
  const DyType *ty = &op->results[0]->type;
  int ok = ty->rank == rank;
  for (int k = 0; ok && k < rank; k++)
    ok = ty->dims[k] == dims[k];
  if (ok)
    return 0;
  char want[256], buf[256];
  dy_format_dims(want, sizeof want, rank, dims);
  return dy_interp_fail(op, d, "result type %s does not have the shape %s",
                        dy_interp_type_str(ty, buf, sizeof buf), want);
}
