/* The reference interpreter: plain loops, the oracle for every level. */
#ifndef DYAD_INTERP_H
#define DYAD_INTERP_H

#include "dyad/ir.h"

/* A tensor value at run time: a type and malloc'd storage. A quantized
 * type's parameters (type.quant) belong to the graph's arena: they are valid
 * only while the graph that produced the tensor lives. */
typedef struct DyTensor {
  DyType type;
  void *data;
  size_t nbytes;
} DyTensor;

/* Allocates zeroed storage for `type`; returns 1 (reporting through d) on
 * overflow or when memory cannot be had. */
int dy_tensor_alloc(DyTensor *t, const DyType *type, DyDiag *d);
void dy_tensor_free(DyTensor *t);

/* Runs g on inputs[0..g->ninputs) (types must match the graph's inputs,
 * else an error). On success fills outputs[0..g->noutputs) with fresh
 * tensors owned by the caller and returns 0; on failure reports and returns
 * 1, leaving outputs empty. */
int dy_interp_run(const DyGraph *g, const DyTensor *inputs, DyTensor *outputs,
                  DyDiag *d);

/* Called with every graph input and every op result as soon as it is
 * computed (t is borrowed). A non-zero return stops the run, which then
 * fails (the observer reports its own error). */
typedef int (*DyObserveFn)(void *user, const DyValue *v, const DyTensor *t);
int dy_interp_run_observed(const DyGraph *g, const DyTensor *inputs,
                           DyTensor *outputs, DyObserveFn observe, void *user,
                           DyDiag *d);

/* Evaluates one op on operand tensors; out (one per result) receives fresh
 * tensors with the op's declared result types. Const ops copy their data.
 * Used by the interpreter and by constant folding. */
int dy_interp_eval_op(const DyOp *op, const DyTensor *operands, DyTensor *out,
                      DyDiag *d);

/* For a data movement op (identity, reshape, flatten, transpose, concat,
 * pad): where each result element comes from, src_op[i] the operand
 * (-1: pad's fill value) and src_idx[i] its flat index; both arrays hold
 * the result's element count. The backend compiles the same map the
 * interpreter runs. Returns 0, or 1 after an error at the op. */
int dy_interp_move_map(const DyOp *op, int *src_op, int64_t *src_idx,
                       DyDiag *d);

#endif
