/* The interpreter's base (lib/interp/tensor.c): messages at an op, types as
 * text, and shape arithmetic. Shared by the integer path and the real
 * domain; like them it names no real-number type. Not a public header. */
#ifndef DYAD_INTERP_TENSOR_H
#define DYAD_INTERP_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "dyad/interp.h"
#include "dyad/shape.h"

/* Reports "opname: message" at the op; returns 1. */
int dy_interp_fail(const DyOp *op, DyDiag *d, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Writes a type as in the text form into buf[0..n); returns buf. */
const char *dy_interp_type_str(const DyType *t, char *buf, size_t n);

/* Element count of t (0 for an invalid type). */
int64_t dy_interp_numel(const DyType *t);
/* Row-major coordinates c of flat index i in dims, and back. */
void dy_interp_unravel(int64_t i, int rank, const int64_t *dims, int64_t *c);
int64_t dy_interp_ravel(const int64_t *c, int rank, const int64_t *dims);
/* Product of dims[from..to). */
int64_t dy_interp_dims_prod(const int64_t *dims, int from, int to);
/* Fails (returning 1) unless the op's result has shape dims[0..rank). */
int dy_interp_expect_dims(const DyOp *op, DyDiag *d, int rank,
                          const int64_t *dims);

#endif
