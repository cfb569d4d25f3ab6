/* Output files: written whole or not at all, and never by replacing a path
 * that is not a regular file of ours (a device, a FIFO, a symbolic link). */
#ifndef DYAD_FILEIO_H
#define DYAD_FILEIO_H

#include <stddef.h>

#include "dyad/diag.h"

/* One piece of a file's contents. */
typedef struct DyWriteBuf {
  const void *data;
  size_t len;
} DyWriteBuf;

/* Writes the parts, in order, to path:
 *  - "-", /dev/stdout, /dev/stderr, /dev/fd/N and /proc/self/fd/N are
 *    written through the process's own descriptor;
 *  - a symbolic link is followed and its final target written, so the link
 *    stays a link;
 *  - an existing device, FIFO or other non-regular file is opened and
 *    written in place;
 *  - a regular file or a new path is written through a temporary file in
 *    the same directory, renamed over the target only when complete; an
 *    existing file keeps its permissions, a new one gets 0666 less the
 *    umask.
 * Returns 0, or 1 after reporting an error (the temporary file is removed
 * and the target left as it was). */
int dy_write_file_parts(const char *path, const DyWriteBuf *parts, int nparts,
                        DyDiag *d);
/* dy_write_file_parts with a single part. */
int dy_write_file(const char *path, const void *data, size_t len, DyDiag *d);

/* Creates a directory and its parents (like mkdir -p). Returns 0 or 1
 * after reporting an error. */
int dy_mkdir_p(const char *path, DyDiag *d);

#endif
