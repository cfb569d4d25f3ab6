/* Shared between the interpreter's real path (lib/interp.c) and its
 * integer path (lib/interp_int.c): the geometry of the structured ops,
 * validated once in interp.c. Not a public header. */
#ifndef DYAD_INTERP_INTERNAL_H
#define DYAD_INTERP_INTERNAL_H

#include <stdint.h>

#include "dyad/interp.h"

typedef struct DyConvGeom {
  int64_t N, H, W, C, OC, KH, KW, CG, OH, OW, groups;
  int64_t strides[2], dil[2], pads[4];
} DyConvGeom;

typedef struct DyMatmulGeom {
  int64_t M, K, N, rows; /* rows: rows of x per weight matrix */
  int batched;
} DyMatmulGeom;

typedef struct DyBcastGeom {
  int rank;
  int64_t da[DY_MAX_RANK], db[DY_MAX_RANK], dy[DY_MAX_RANK];
} DyBcastGeom;

/* Window parameters shared by maxpool and avgpool. */
typedef struct DyPoolGeom {
  int64_t kernel[2], strides[2], pads[4], dil[2];
  int64_t ceil_mode;
  int64_t N, H, W, C, OH, OW;
} DyPoolGeom;

/* Each checks the op's shapes and attributes against its result type;
 * returns 1 after reporting. */
int dy_interp_conv_geom(const DyOp *op, DyDiag *d, DyConvGeom *g);
int dy_interp_matmul_geom(const DyOp *op, DyDiag *d, DyMatmulGeom *g);
int dy_interp_bcast_geom(const DyOp *op, DyDiag *d, DyBcastGeom *g);
void dy_interp_bcast_index(const DyBcastGeom *g, int64_t i, int64_t *ia,
                           int64_t *ib);
int dy_interp_pool_geom(const DyOp *op, DyDiag *d, DyPoolGeom *g);
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
