/* Shared between the files of the ONNX importer (lib/onnx/): the importer's
 * state, its values and host tensors, and the helpers every converter uses.
 * Not a public header.
 *
 * Every function taking an Imp may fail: it reports through
 * dy_onnx_invalid or dy_onnx_unsupported (lib/onnx/import.c), which
 * longjmp to the entry point's setjmp and never return. */
#ifndef DYAD_ONNX_IMPORT_INTERNAL_H
#define DYAD_ONNX_IMPORT_INTERNAL_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include "dyad/onnx.h"
#include "onnx.pb-c.h"

#define DY_ONNX_DEFAULT_MAX ((size_t)2 << 30)

enum {
  T_FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
  T_UINT8 = ONNX__TENSOR_PROTO__DATA_TYPE__UINT8,
  T_INT8 = ONNX__TENSOR_PROTO__DATA_TYPE__INT8,
  T_INT16 = ONNX__TENSOR_PROTO__DATA_TYPE__INT16,
  T_INT32 = ONNX__TENSOR_PROTO__DATA_TYPE__INT32,
  T_INT64 = ONNX__TENSOR_PROTO__DATA_TYPE__INT64,
  T_BOOL = ONNX__TENSOR_PROTO__DATA_TYPE__BOOL,
  T_DOUBLE = ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE,
};

/* A tensor known at import time (initializer, Constant, folded). */
typedef struct Host {
  int dtype;
  int rank;
  int64_t dims[DY_MAX_RANK];
  void *data; /* importer arena */
  size_t nbytes;
} Host;

/* An ONNX value as imported. */
typedef struct Val {
  const char *name; /* ONNX name */
  int dtype;        /* ONNX element type */
  int rank;         /* logical (ONNX) shape */
  int64_t dims[DY_MAX_RANK];
  Host *k;      /* known value, or NULL */
  DyValue *v;   /* IR value (NULL until needed, for constants) */
  int nhwc;     /* v holds this rank-4 value in NHWC order */
  DyValue *alt; /* cached other layout of v */
  /* A graph input whose value was given at import (test data): nodes that
   * need a constant read it; any other use makes it a real graph input. */
  Host *given;
  int input_index; /* position among the ONNX graph inputs */
} Val;

typedef struct Imp {
  const char *file;
  const char *base_dir;
  DyDiag *d;
  DyGraph *g;
  DyArena *scratch;
  const DyOnnxOptions *opt;
  size_t budget; /* tensor bytes still allowed */
  jmp_buf fail;
  DyOnnxStatus status;
  int opset;
  /* the node being imported, for messages */
  const Onnx__NodeProto *node;
  size_t node_index;
  Val **tab; /* open addressing by name */
  size_t cap, count;
} Imp;

/* --- errors (import.c): report at the current node, then longjmp --- */

/* Something dyad does not handle; the message says "unsupported: " unless
 * it already says so. */
void dy_onnx_unsupported(Imp *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* A malformed model or node. */
void dy_onnx_invalid(Imp *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* --- host tensors (tensor.c) --- */

/* Element count of a shape already checked by dy_onnx_check_shape. */
int64_t dy_onnx_numel(int rank, const int64_t *dims);
/* Checks a shape and returns its element count. */
int64_t dy_onnx_check_shape(Imp *m, const char *what, size_t rank,
                            const int64_t *dims);
/* Takes nbytes from the tensor budget, in the scratch arena. */
void *dy_onnx_take_budget(Imp *m, size_t nbytes, const char *what);
/* Decodes a TensorProto (raw, typed or external data). */
Host *dy_onnx_host_from_proto(Imp *m, const Onnx__TensorProto *t,
                              const char *what);
/* Element i as an integer, or (any dtype) as a double. */
int64_t dy_onnx_host_int(const Host *h, int64_t i);
double dy_onnx_host_f(const Host *h, int64_t i);
int64_t dy_onnx_host_numel(const Host *h);
/* A new host tensor of that shape, its data taken from the budget. */
Host *dy_onnx_new_host(Imp *m, int dtype, int rank, const int64_t *dims);

/* --- IR types, names and layout (layout.c) --- */

/* ONNX axis a of a rank-4 value is IR axis dy_onnx_nchw_to_nhwc_axis[a]
 * when the value is held in NHWC. */
extern const int dy_onnx_nchw_to_nhwc_axis[4];
/* The IR element type of an ONNX dtype; 0 when there is none. */
int dy_onnx_elem_of(Imp *m, int dtype, DyElemType *e);
const char *dy_onnx_ir_name(Imp *m, const char *name);
/* The IR type of x, in NHWC when nhwc is set. */
DyType dy_onnx_ir_type(Imp *m, const Val *x, int nhwc);
void *dy_onnx_nchw_to_nhwc(Imp *m, const Host *h);
DyValue *dy_onnx_transpose(Imp *m, DyValue *x, const int64_t *perm,
                           const char *name);
void dy_onnx_make_input(Imp *m, Val *x);
/* The IR value of x in its logical (ONNX) layout, or (rank 4) in NHWC. */
DyValue *dy_onnx_logical(Imp *m, Val *x);
DyValue *dy_onnx_nhwc(Imp *m, Val *x);
/* A one-operand op named after the node's first output. */
DyValue *dy_onnx_op1(Imp *m, DyOpKind k, DyValue *x, DyType t);
DyValue *dy_onnx_f32_const(Imp *m, const char *base, int rank,
                           const int64_t *dims, const float *data);

/* --- values, node inputs, outputs and attributes (node.c) --- */

Val *dy_onnx_lookup(Imp *m, const char *name);
Val *dy_onnx_new_val(Imp *m, const char *name);
int dy_onnx_nin(const Onnx__NodeProto *n);
/* Input i (NULL when absent), a required input, a new output. */
Val *dy_onnx_in(Imp *m, int i);
Val *dy_onnx_req(Imp *m, int i);
Val *dy_onnx_out_val(Imp *m, int i);
Val *dy_onnx_def(Imp *m, int i, DyValue *v, int is_nhwc, int dtype, int rank,
                 const int64_t *dims);
Val *dy_onnx_def_host(Imp *m, int i, Host *h);
const Onnx__AttributeProto *dy_onnx_attr(Imp *m, const char *name);
void dy_onnx_check_attrs(Imp *m, const char *const *known);
int64_t dy_onnx_attr_i(Imp *m, const char *name, int64_t dflt);
float dy_onnx_attr_f(Imp *m, const char *name, float dflt);
int dy_onnx_attr_ints(Imp *m, const char *name, int64_t *out, int max);
int dy_onnx_attr_s(Imp *m, const char *name, char *buf, size_t n);
Host *dy_onnx_const_in(Imp *m, int i, const char *what);
int dy_onnx_norm_axis(Imp *m, int64_t axis, int rank);

/* --- window geometry and broadcasting (ops_float.c), also used by the
 * integer convolutions --- */

int64_t dy_onnx_conv_out(Imp *m, int64_t in, int64_t k, int64_t s, int64_t dl,
                         int64_t pb, int64_t pe);
void dy_onnx_window_pads(Imp *m, const Val *x, const int64_t *k,
                         const int64_t *s, const int64_t *dl, int64_t *out);
void dy_onnx_ints2(Imp *m, const char *name, int64_t *out, int64_t dflt);
void dy_onnx_check_conv_shapes(Imp *m, const Val *x, const Val *w, int64_t g,
                               const Val *b);
void dy_onnx_set_window_attrs(Imp *m, DyOp *op, const int64_t *s,
                              const int64_t *dl, const int64_t *p, int64_t g);
int dy_onnx_bcast(Imp *m, const Val *a, const Val *b, int64_t *out);

/* Elementwise arithmetic on two constants, evaluated at import
 * (ops_shape.c); returns 0 when the node is not that. */
int dy_onnx_fold_arith(Imp *m);

/* --- the converters, one per ONNX operator (import.c's table) --- */

/* ops_float.c */
void imp_conv(Imp *m);
void imp_pool(Imp *m);
void imp_global_avgpool(Imp *m);
void imp_unary(Imp *m);
void imp_binary(Imp *m);
void imp_softmax(Imp *m);
void imp_batchnorm(Imp *m);
void imp_gemm(Imp *m);
void imp_matmul(Imp *m);
/* ops_layout.c */
void imp_identity(Imp *m);
void imp_reshape(Imp *m);
void imp_flatten(Imp *m);
void imp_squeeze(Imp *m);
void imp_transpose(Imp *m);
void imp_concat(Imp *m);
void imp_pad(Imp *m);
/* ops_shape.c */
void imp_constant(Imp *m);
void imp_shape(Imp *m);
void imp_gather(Imp *m);
void imp_cast(Imp *m);
void imp_constant_of_shape(Imp *m);
/* ops_quant.c */
void imp_quantize(Imp *m);
void imp_dequantize(Imp *m);
void imp_qlinear_conv(Imp *m);
void imp_conv_integer(Imp *m);
void imp_matmul_integer(Imp *m);
void imp_qlinear_matmul(Imp *m);
void imp_dynamic_quantize(Imp *m);

/* Infers op's result type as the verifier will (dy_op_infer_type), or
 * fails the node with the verifier's message. */
void dy_onnx_infer(Imp *m, const DyOp *op, DyType *t);

#endif
