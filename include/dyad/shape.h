/* Geometry of the structured ops: window lengths, conv2d, pooling, matmul
 * and broadcasting, computed from operand types and attributes in one
 * place for the verifier, the interpreter, the importers, the passes and
 * the backend. */
#ifndef DYAD_SHAPE_H
#define DYAD_SHAPE_H

#include <stddef.h>
#include <stdint.h>

#include "dyad/ir.h"

/* Writes dims as "[1, 8]" into buf (n bytes, truncated if short). */
void dy_format_dims(char *buf, size_t n, int rank, const int64_t *dims);

/* Normalizes a possibly negative axis into [0, rank). Returns 0, or 1 when
 * it is out of range (nothing reported). */
int dy_axis_normalize(int64_t axis, int rank, int *out);

typedef enum DyWindowStatus {
  DY_WINDOW_OK,
  DY_WINDOW_EMPTY,   /* the dilated window is larger than the padded input */
  DY_WINDOW_OVERFLOW /* the dilated window or the padded input overflows */
} DyWindowStatus;

/* Length of one sliding-window axis (docs/ir.md):
 *   out = (in + pb + pe - dil * (k - 1) - 1) / stride + 1,
 * rounded up under ceil_mode, where a last window that would start past the
 * input and its leading pad is dropped, as in PyTorch and ONNX. Example:
 * in = 5, k = 2, stride = 2, no pads: floor mode (5 - 2) / 2 + 1 = 2;
 * ceil mode 3, the third window starting at 4 < 5. Takes k, stride,
 * dil >= 1 and pads >= 0. On DY_WINDOW_OK every index a window reaches,
 * o * stride - pb + j * dil, fits int64. */
DyWindowStatus dy_window_out(int64_t in, int64_t k, int64_t stride, int64_t dil,
                             int64_t pb, int64_t pe, int ceil_mode,
                             int64_t *out);

/* conv2d: NHWC input, OHWI weights (CG input channels per group). */
typedef struct DyConvGeom {
  int64_t N, H, W, C;     /* input */
  int64_t OC, KH, KW, CG; /* weights */
  int64_t OH, OW;         /* output rows and columns */
  int64_t groups;         /* C / CG */
  int64_t strides[2], dil[2];
  int64_t pads[4]; /* top, left, bottom, right */
} DyConvGeom;

/* matmul: x [..., M', K] times w [K, N] or batched [..., K, N]. */
typedef struct DyMatmulGeom {
  int64_t M, K, N; /* M: every row of x */
  int64_t rows;    /* rows of x per weight matrix (M unless batched) */
  int batched;     /* w has x's rank: one KxN matrix per leading index */
} DyMatmulGeom;

/* maxpool and avgpool windows. */
typedef struct DyPoolGeom {
  int64_t kernel[2], strides[2], pads[4], dil[2];
  int64_t ceil_mode, count_include_pad;
  int64_t N, H, W, C, OH, OW;
} DyPoolGeom;

/* One axis of the pool window at output index o: the window's cells are
 * start + k * dil for k in [0, kernel); those with k in [lo, hi) fall inside
 * the input, and the first `padded` inside the input and its explicit pads
 * (avgpool's divisor with count_include_pad; cells reached past the pads
 * under ceil_mode never count). Example: in = 5, kernel 3, stride 2, pads
 * 1 and 1, o = 0: start = -1, k = 1, 2 inside (lo 1, hi 3), padded 3. */
typedef struct DyWindowAxis {
  int64_t start, lo, hi, padded;
} DyWindowAxis;
/* The window at output (oh, ow): its rows and columns, the number of input
 * cells it covers, and the count_include_pad divisor. */
typedef struct DyPoolWindow {
  DyWindowAxis h, w;
  int64_t cells, padded;
} DyPoolWindow;
void dy_pool_window(const DyPoolGeom *g, int64_t oh, int64_t ow,
                    DyPoolWindow *out);

/* Numpy broadcasting of two operands, aligned at the last axis. */
typedef struct DyBcastGeom {
  int rank;
  int64_t da[DY_MAX_RANK], db[DY_MAX_RANK], dy[DY_MAX_RANK];
} DyBcastGeom;

/* Each reads op's operand types and attributes, checks them (ranks,
 * channel counts, attribute kinds and ranges, windows that fit) and fills
 * the geometry; returns 0, or 1 after reporting the first problem at the
 * op through d. They do not look at the declared result type. */
int dy_conv_geom(const DyOp *op, DyConvGeom *g, DyDiag *d);
int dy_pool_geom(const DyOp *op, DyPoolGeom *g, DyDiag *d);
int dy_matmul_geom(const DyOp *op, DyMatmulGeom *g, DyDiag *d);
int dy_bcast_geom(const DyOp *op, DyBcastGeom *g, DyDiag *d);
/* Flat indices into a and b of flat result index i. */
void dy_bcast_index(const DyBcastGeom *g, int64_t i, int64_t *ia, int64_t *ib);

#endif
