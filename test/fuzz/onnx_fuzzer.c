/* libFuzzer target for the ONNX importer.
 *
 * Every input is imported as an .onnx model (no external data, tensor data
 * capped at 64 MiB). The importer must either report an error or return a
 * graph; it verifies what it builds itself, so its "internal error" report
 * (a graph that does not verify) is a bug. A returned graph must verify,
 * equal its clone, print, and survive print -> parse unchanged
 * (dy_graph_equal), and printing the reparsed graph must give the same
 * text: anything else stops the fuzzer.
 *
 * Build with -DDYAD_FUZZ=ON and clang; see test/fuzz/run.sh.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dyad/ir.h"
#include "dyad/onnx.h"
#include "dyad/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The messages of one input, kept to show when an invariant breaks. */
typedef struct Log {
  char text[8192];
  size_t len;
  int internal; /* a message began with "internal error" */
} Log;

static void collect(void *ctx, DySeverity sev, DyLoc loc, const char *msg) {
  Log *log = ctx;
  if (strncmp(msg, "internal error", 14) == 0)
    log->internal = 1;
  if (log->len < sizeof log->text - 1) {
    int n = snprintf(log->text + log->len, sizeof log->text - log->len, "%s\n",
                     msg);
    if (n > 0)
      log->len += (size_t)n;
    if (log->len > sizeof log->text - 1)
      log->len = sizeof log->text - 1;
  }
}

/* Prints g; NULL on a print error. Out of memory is not a finding. */
static char *print_to_buffer(const DyGraph *g, size_t *len) {
  return dy_print_graph_to_string(g, NULL, len);
}

/* Shows what broke, the messages and the texts involved, then stops. */
static void broken(const char *what, const Log *log, const char *printed,
                   const char *reprinted) __attribute__((noreturn));
static void broken(const char *what, const Log *log, const char *printed,
                   const char *reprinted) {
  fprintf(stderr, "onnx_fuzzer: %s\n", what);
  if (log && log->len)
    fprintf(stderr, "--- messages ---\n%.*s", (int)log->len, log->text);
  if (printed)
    fprintf(stderr, "--- printed ---\n%s", printed);
  if (reprinted)
    fprintf(stderr, "--- printed again ---\n%s", reprinted);
  __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  DyOnnxOptions opt;
  memset(&opt, 0, sizeof opt);
  opt.max_bytes = (size_t)64 << 20;

  static Log log;
  memset(&log, 0, sizeof log);
  DyDiag d;
  dy_diag_init(&d);
  d.fn = collect;
  d.ctx = &log;
  DyOnnxStatus status = DY_ONNX_OK;
  DyGraph *g =
      dy_onnx_import_buffer("fuzz.onnx", data, size, NULL, &opt, &status, &d);
  if (log.internal)
    broken("the importer reported an internal error", &log, NULL, NULL);
  if (!g) {
    if (status == DY_ONNX_OK || d.nerrors == 0)
      broken("the import failed without an error", &log, NULL, NULL);
    dy_diag_fini(&d);
    return 0;
  }
  if (status != DY_ONNX_OK || d.nerrors != 0)
    broken("a graph came back with errors", &log, NULL, NULL);
  if (dy_graph_verify(g, &d) != 0)
    broken("the imported graph does not verify", &log, NULL, NULL);

  DyGraph *c = dy_graph_clone(g);
  if (!dy_graph_equal(g, c))
    broken("the clone differs from the graph", &log, NULL, NULL);
  dy_graph_destroy(c);

  size_t len;
  char *printed = print_to_buffer(g, &len);
  if (!printed)
    broken("the imported graph does not print", &log, NULL, NULL);

  DyParseOptions popt;
  memset(&popt, 0, sizeof popt);
  popt.max_const_bytes = (size_t)256 << 20;
  popt.no_external = 1;
  DyGraph *h = dy_parse_graph("printed.dy", printed, len, &popt, &d);
  if (!h)
    broken("the printed graph does not parse", &log, printed, NULL);
  if (dy_graph_verify(h, &d) != 0)
    broken("the reparsed graph does not verify", &log, printed, NULL);
  if (!dy_graph_equal(g, h))
    broken("print -> parse gives a different graph", &log, printed, NULL);
  size_t len2;
  char *reprinted = print_to_buffer(h, &len2);
  if (!reprinted || len2 != len || memcmp(printed, reprinted, len) != 0)
    broken("printing the reparsed graph gives other text", &log, printed,
           reprinted);

  free(reprinted);
  free(printed);
  dy_graph_destroy(h);
  dy_graph_destroy(g);
  dy_diag_fini(&d);
  return 0;
}
