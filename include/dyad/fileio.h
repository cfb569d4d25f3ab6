/* Files: atomic writes, so that a failure never leaves half an output. */
#ifndef DYAD_FILEIO_H
#define DYAD_FILEIO_H

#include <stddef.h>

#include "dyad/diag.h"

/* Writes data to path through a temporary file in the same directory that
 * is renamed over path only when complete ("-" writes to stdout). Returns
 * 0, or 1 after reporting an error (the temporary file is removed). */
int dy_write_file_atomic(const char *path, const void *data, size_t len,
                         DyDiag *d);

/* Creates a directory and its parents (like mkdir -p). Returns 0 or 1
 * after reporting an error. */
int dy_mkdir_p(const char *path, DyDiag *d);

#endif
