/* The ONNX frontend: .onnx models into the graph IR (docs/onnx.md). */
#ifndef DYAD_ONNX_H
#define DYAD_ONNX_H

#include "dyad/interp.h"
#include "dyad/ir.h"

typedef enum DyOnnxStatus {
  DY_ONNX_OK = 0,
  DY_ONNX_INVALID = 1,    /* malformed file or graph: reported as an error */
  DY_ONNX_UNSUPPORTED = 2 /* an op, attribute or type dyad does not handle */
} DyOnnxStatus;

typedef struct DyOnnxOptions {
  /* Keep rank-4 graph inputs and outputs in NHWC (--layout=nhwc) instead
   * of the model's NCHW. */
  int nhwc_io;
  /* Largest total of tensor data (bytes) accepted; 0 = 2 GiB. */
  size_t max_bytes;
  /* Values for graph inputs that then become constants (shape inputs of
   * Reshape, Pad, ... must be known statically); matched by name. */
  int nconst_inputs;
  const struct DyOnnxTensor *const_inputs;
} DyOnnxOptions;

/* Imports the model in `path`. Returns the graph, or NULL after reporting
 * (each error names the model file and, for a node, its name, op type and
 * index); *status (may be NULL) says whether the model was malformed or
 * merely uses something unsupported. */
DyGraph *dy_onnx_import(const char *path, const DyOnnxOptions *opt,
                        DyOnnxStatus *status, DyDiag *d);
/* The same from a buffer; base_dir resolves external data (NULL: none). */
DyGraph *dy_onnx_import_buffer(const char *name, const void *buf, size_t len,
                               const char *base_dir, const DyOnnxOptions *opt,
                               DyOnnxStatus *status, DyDiag *d);

/* A TensorProto read from a .pb file (ONNX test data): its name, ONNX
 * dtype, shape and C-order little-endian data (malloc'd). */
typedef struct DyOnnxTensor {
  char *name;
  int dtype;
  int rank;
  int64_t dims[DY_MAX_RANK];
  void *data;
  size_t nbytes;
} DyOnnxTensor;

int dy_onnx_read_tensor(const char *path, DyOnnxTensor *out, DyDiag *d);
void dy_onnx_tensor_free(DyOnnxTensor *t);
/* Bytes of one element of an ONNX dtype, 0 if unsupported. */
size_t dy_onnx_dtype_size(int dtype);
const char *dy_onnx_dtype_name(int dtype);

/* Whether path names an ONNX model (by its extension). */
int dy_is_onnx_path(const char *path);

#endif
