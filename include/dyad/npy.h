/* numpy .npy files: versions 1.0, 2.0 and 3.0, little-endian, C order. */
#ifndef DYAD_NPY_H
#define DYAD_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "dyad/diag.h"

typedef enum DyNpyDtype {
  DY_NPY_F32, /* '<f4' */
  DY_NPY_F64, /* '<f8' */
  DY_NPY_I8,  /* '|i1' */
  DY_NPY_U8,  /* '|u1' */
  DY_NPY_I16, /* '<i2' */
  DY_NPY_I32, /* '<i4' */
  DY_NPY_I64, /* '<i8' */
  DY_NPY_BOOL /* '|b1' */
} DyNpyDtype;

#define DY_NPY_MAX_RANK 32

typedef struct DyNpy {
  DyNpyDtype dtype;
  int rank;
  int64_t dims[DY_NPY_MAX_RANK];
  void *data; /* malloc'd, C order */
  size_t nbytes;
} DyNpy;

const char *dy_npy_dtype_name(DyNpyDtype t); /* "float32", ... */
size_t dy_npy_dtype_size(DyNpyDtype t);

/* Reads path into *out (caller frees with dy_npy_free). Fortran-order
 * arrays are transposed to C order. Big-endian data, unknown dtypes,
 * truncated files and sizes that overflow are errors reported through d. */
int dy_npy_read(const char *path, DyNpy *out, DyDiag *d);
int dy_npy_parse(const char *name, const void *buf, size_t len, DyNpy *out,
                 DyDiag *d);
/* Writes version 1.0 (2.0 if the header needs it) atomically: the data goes
 * to a temporary file renamed over path only when complete. */
int dy_npy_write(const char *path, const DyNpy *a, DyDiag *d);
void dy_npy_free(DyNpy *a);

#endif
