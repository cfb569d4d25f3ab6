/* The interpreter's real domain, for its own files and the runner:
 * quantization parameters (quant.c), the numeric kernels on double buffers
 * (real.c) and data movement (move.c). Not a public header. */
#ifndef DYAD_INTERP_REAL_H
#define DYAD_INTERP_REAL_H

#include "tensor.h"

/* Whether t's values are real numbers: f32, or quantized. */
static inline int dy_interp_is_real(const DyType *t) {
  return t->quant || t->elem == DY_F32;
}

/* --- quantization parameters (quant.c) --- */

/* Maps a flat element index of a quantized tensor to its (scale, zero
 * point) pair. */
typedef struct QMap {
  const DyQuant *q; /* NULL: the tensor is not quantized */
  int rank;
  int64_t dims[DY_MAX_RANK];
  int axis;                   /* per axis: the axis, normalized */
  int64_t inner;              /* per axis: elements per step along axis */
  int64_t bsize[DY_MAX_RANK]; /* blocked: block size along each axis */
  int64_t bdims[DY_MAX_RANK]; /* blocked: shape of the scale tensor */
} QMap;

/* Checks t's quantization against its shape and prepares the map. */
int dy_interp_qmap_init(QMap *m, const DyType *t, const DyOp *op, DyDiag *d);
/* Element i of a real or integer tensor as a double. */
double dy_interp_load_value(const DyType *t, const QMap *m, const void *data,
                            int64_t i);
/* Stores v as element i of y (type t, map m); fails when it cannot. */
int dy_interp_store_value(const DyOp *op, DyDiag *d, const DyType *t,
                          const QMap *m, void *y, int64_t i, double v);

/* The quantization ops; out receives fresh tensors of the result types. */
int dy_interp_eval_quantize(const DyOp *op, const DyTensor *operands,
                            DyTensor *out, DyDiag *d);
int dy_interp_eval_dequantize(const DyOp *op, const DyTensor *operands,
                              DyTensor *out, DyDiag *d);
int dy_interp_eval_requant(const DyOp *op, const DyTensor *operands,
                           DyTensor *out, DyDiag *d);
int dy_interp_eval_dynamic_quantize(const DyOp *op, const DyTensor *operands,
                                    DyTensor *out, DyDiag *d);

/* --- numeric kernels on double buffers (real.c) --- */

/* A real-domain kernel: in[i] holds operand i (shape
 * op->operands[i]->type), out the result (shape op->results[0]->type).
 * Kernels check every shape they index with. */
typedef int (*Kernel)(const DyOp *op, double *const *in, double *out,
                      DyDiag *d);

int dy_kernel_conv2d(const DyOp *op, double *const *in, double *out, DyDiag *d);
int dy_kernel_matmul(const DyOp *op, double *const *in, double *out, DyDiag *d);
int dy_kernel_binary(const DyOp *op, double *const *in, double *out, DyDiag *d);
int dy_kernel_unary(const DyOp *op, double *const *in, double *out, DyDiag *d);
int dy_kernel_softmax(const DyOp *op, double *const *in, double *out,
                      DyDiag *d);
int dy_kernel_pool(const DyOp *op, double *const *in, double *out, DyDiag *d);
int dy_kernel_global_avgpool(const DyOp *op, double *const *in, double *out,
                             DyDiag *d);
int dy_kernel_batchnorm(const DyOp *op, double *const *in, double *out,
                        DyDiag *d);

/* Runs a kernel in the real domain, for an op the integer path did not
 * take: every operand and the result must be real (f32 or quantized); an
 * integer result is reported as an integer form that does not exist when
 * int_ok (the op has integer forms), else as an unsupported type. */
int dy_interp_eval_real(const DyOp *op, const DyTensor *operands, DyTensor *out,
                        DyDiag *d, Kernel kernel, int int_ok);

/* --- data movement (move.c) --- */

/* A movement op's map: for each result element, the operand it comes from
 * (-1: the fill value) and the flat index in it. */
typedef int (*MoveMap)(const DyOp *op, int *src_op, int64_t *src_idx,
                       DyDiag *d);

int dy_move_identity(const DyOp *op, int *src_op, int64_t *src_idx, DyDiag *d);
int dy_move_flatten(const DyOp *op, int *src_op, int64_t *src_idx, DyDiag *d);
int dy_move_transpose(const DyOp *op, int *src_op, int64_t *src_idx, DyDiag *d);
int dy_move_concat(const DyOp *op, int *src_op, int64_t *src_idx, DyDiag *d);
int dy_move_pad(const DyOp *op, int *src_op, int64_t *src_idx, DyDiag *d);

/* Runs a movement op by its map. */
int dy_interp_eval_move(const DyOp *op, const DyTensor *operands, DyTensor *out,
                        DyDiag *d, MoveMap map);

#endif
