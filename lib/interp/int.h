/* The interpreter's integer path (lib/interp/int.c), for the runner. It
 * names no real-number type. Not a public header. */
#ifndef DYAD_INTERP_INT_H
#define DYAD_INTERP_INT_H

#include <stdint.h>

#include "dyad/interp.h"

/* The integer path: integer conv2d, matmul, add, mul, avgpool,
 * global_avgpool, maxpool and relu on stored integers, the integer softmax
 * and lookup. Returns -1 when op is not one of its forms (the caller then
 * takes the real path), else 0 or 1 (error). `clip_lo`, `clip_hi` bound a
 * clip on plain integers (ignored otherwise). */
int dy_interp_int_eval(const DyOp *op, const DyTensor *operands, DyTensor *out,
                       int64_t clip_lo, int64_t clip_hi, DyDiag *d);

#endif
