/* Shared between the interpreter's real path (lib/interp.c) and its
 * integer path (lib/interp_int.c). Not a public header. */
#ifndef DYAD_INTERP_INTERNAL_H
#define DYAD_INTERP_INTERNAL_H

#include <stdint.h>

#include "dyad/interp.h"
#include "dyad/shape.h"

/* Reports "opname: msg" at the op; returns 1. */
int dy_interp_fail(const DyOp *op, DyDiag *d, const char *msg);

/* The integer path (lib/interp_int.c): integer conv2d, matmul, add, mul,
 * avgpool, global_avgpool, maxpool and relu on stored integers, the
 * integer softmax and lookup. Returns -1 when op is not one of its forms
 * (the caller then takes the real path), else 0 or 1 (error). `clip_lo`,
 * `clip_hi` bound a clip on plain integers (ignored otherwise). */
int dy_interp_int_eval(const DyOp *op, const DyTensor *operands, DyTensor *out,
                       int64_t clip_lo, int64_t clip_hi, DyDiag *d);

#endif
