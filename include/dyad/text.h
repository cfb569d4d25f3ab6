/* The .dy text form: parser and printer (grammar in docs/ir.md). */
#ifndef DYAD_TEXT_H
#define DYAD_TEXT_H

#include <stdio.h>

#include "dyad/ir.h"

typedef struct DyParseOptions {
  /* Largest constant (bytes) the parser will allocate; 0 means the default
   * of 1 GiB. Larger constants are an error, never an allocation. */
  size_t max_const_bytes;
  /* When non-zero, external<...> data is not read (for the fuzzer); the
   * constant is filled with zeros instead. */
  int no_external;
  /* Lines before this text in its file (dyad-opt --split-input-file): added
   * to every reported line. When non-zero the caller registers the whole
   * file's text with the diagnostics sink itself. */
  int line_offset;
} DyParseOptions;

/* Parses one graph from text[0..len). `file` names the source in
 * diagnostics and its directory resolves external data. The text is
 * registered with d for caret display and must outlive d. Returns NULL
 * after reporting errors. */
DyGraph *dy_parse_graph(const char *file, const char *text, size_t len,
                        const DyParseOptions *opt, DyDiag *d);

/* Reads a whole file (or stdin when path is "-") into a NUL-terminated
 * malloc'd buffer. Returns NULL after reporting an error. */
char *dy_read_file(const char *path, size_t *len, DyDiag *d);

/* Reads and parses the graph in `path` ("-" for stdin) and verifies it.
 * *text receives the file's text (which d refers to; free it after d).
 * Returns NULL after reporting errors. */
DyGraph *dy_load_graph(const char *path, const DyParseOptions *opt, char **text,
                       DyDiag *d);

typedef struct DyPrintOptions {
  /* Constants larger than this many bytes that are not already external are
   * written to `external_path` (a side file) when it is set; 0 = never. */
  size_t external_threshold;
  const char *external_path; /* path written into the text */
  FILE *external_file;       /* where the side data goes */
  uint64_t external_offset;  /* running offset in the side file */
  /* Write DENSE constants above this many elements as hex blobs; 0 = keep
   * every constant in the form it came in. */
  size_t hex_threshold;
  /* Print external constants inline (as hex blobs) instead of referring to
   * their side file. */
  int inline_external;
} DyPrintOptions;

/* Prints g in canonical form. Returns 0, or 1 on a write error. */
int dy_print_graph(FILE *out, const DyGraph *g, DyPrintOptions *opt);
/* Prints g into a malloc'd string (the caller frees it) of *len bytes;
 * NULL when it cannot be printed (out of memory, or a side file that
 * cannot be written). */
char *dy_print_graph_to_string(const DyGraph *g, DyPrintOptions *opt,
                               size_t *len);
/* Prints a type as it appears in the text: tensor<1x4xf32>. */
void dy_print_type(FILE *out, const DyType *t);
/* Shortest decimal that reads back as the same float / double. */
void dy_format_f32(char *buf, size_t n, float v);
void dy_format_f64(char *buf, size_t n, double v);

#endif
