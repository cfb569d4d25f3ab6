/* The backend's shared state and helpers (codegen/ only). */
#ifndef DYAD_CG_INTERNAL_H
#define DYAD_CG_INTERNAL_H

#include <llvm-c/Core.h>
#include <llvm-c/Target.h>

#include "dyad/codegen.h"

typedef struct Cg {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMTargetDataRef dl;
  LLVMTypeRef i8, i32, i64, ptr;
  const DyGraph *g;
  const DyTarget *t;
  LLVMValueRef in, ws;    /* the current function's inputs array, workspace */
  const DyOp **const_ops; /* the graph's const ops, and the globals */
  LLVMValueRef *consts;   /* holding their data (NULL until used) */
  int nconsts;
  int jit;                /* also build dyad_run_graph (dy_jit_create) */
  unsigned char *nibbles; /* per const: 4-bit data stored two to a byte */
} Cg;

/* The address of byte `off` of the workspace in the current function. */
LLVMValueRef dy_cg_workspace(Cg *cg, int64_t off);

/* A kernel argument: a pointer (p, NULL for a null pointer), an integer or
 * a floating-point number, converted to the parameter's type. */
typedef struct CgArg {
  LLVMValueRef p;
  int64_t i;
  double f;
} CgArg;
#define CG_P(x) ((CgArg){(x), 0, 0})
#define CG_I(x) ((CgArg){NULL, (int64_t)(x), 0})
#define CG_F(x) ((CgArg){NULL, 0, (double)(x)})

void dy_cg_call(Cg *cg, const char *name, int n, const CgArg *args);
LLVMValueRef dy_cg_value(Cg *cg, const DyValue *v);
/* The element type code a kernel reads v with: v's DyElemType, or the
 * kernels' I4P/U4P for a 4-bit constant stored two to a byte. */
int dy_cg_elem(const Cg *cg, const DyValue *v);
int dy_cg_is_impl(const DyOp *op, const char *impl);
void dy_cg_set_target_attrs(Cg *cg, LLVMValueRef f);

LLVMValueRef dy_cg_bytes(Cg *cg, const void *data, size_t n);
LLVMValueRef dy_cg_i64s(Cg *cg, const int64_t *v, size_t n);
LLVMValueRef dy_cg_i32s(Cg *cg, const int64_t *v, size_t n);
LLVMValueRef dy_cg_f32s(Cg *cg, const double *v, size_t n);
LLVMValueRef dy_cg_f64s(Cg *cg, const double *v, size_t n);

/* codegen/ops.c: one op's kernel call */
int dy_cg_emit_op(Cg *cg, const DyOp *op, DyDiag *d);
int dy_cg_emit_quantize(Cg *cg, const DyOp *op, LLVMValueRef x, LLVMValueRef y,
                        DyDiag *d);
int dy_cg_emit_dequantize(Cg *cg, const DyOp *op, LLVMValueRef x,
                          LLVMValueRef y, DyDiag *d);

/* The text of model.h (malloc'd, *len bytes), or NULL after an error. */
char *dy_cg_header_text(const DyGraph *g, const DyTarget *t, const char *prefix,
                        size_t *len, DyDiag *d);

/* The i-th embedded kernel bitcode file for an architecture (built by
 * CMake from codegen/kernels/); NULL past the last. */
const unsigned char *dy_cg_kernel_bitcode(DyArch a, int i, size_t *len);

#endif
